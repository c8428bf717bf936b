package room

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/internal/subs"
	"github.com/task-messenger/task-messenger/wasm/internal/yield"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/seal"
	"golang.org/x/sync/errgroup"
)

// Errors of the messenger.
var (
	ErrUnknownTask = errors.New("room: unknown task")
	ErrRefused     = errors.New("room: join refused")
	ErrClosed      = errors.New("room: messenger closed")
	// ErrNotInvited: a join from a peer that is not a member, without a
	// live invite of the member it asks (none, unknown, revoked, expired).
	ErrNotInvited = errors.New("room: not invited")
	// ErrTooManyMembers: a member (with the members it introduced)
	// announced more than MaxIntroduced, or this profile admitted as many
	// by its invites already.
	ErrTooManyMembers = errors.New("room: too many members announced")
	// ErrBadEvidence: a copy that does not prove what it claims
	// (equivocation.go).
	ErrBadEvidence = errors.New("room: bad evidence")
)

// Config configures a Messenger.
type Config struct {
	// DB is the profile's journal.
	DB *journal.DB
	// Dial returns a port to a peer, waiting while it is offline, until
	// ctx ends (peerio.IO.At). Ports it returns, and ports peers open, are
	// handed to Messenger.Accept.
	Dial func(ctx context.Context, peer identity.ID) (port.Port, error)
	// Now is the wall clock for meta.date; time.Now if nil.
	Now func() time.Time
	// Logger; logs.Default() if nil.
	Logger logs.Logger
	// Sync is the base configuration of the replication session each port
	// runs (its OnEvent sees the protocol, for devtools).
	Sync replication.Config
	// Retry is the pause before dialling a member again after a failure
	// (default 1s).
	Retry time.Duration
	// Observe, if set, sees the protocol run, for devtools: every
	// replication message, port change and room message. Its methods run on
	// the messenger's goroutines and must not block.
	Observe Observer
	// StrangerIdle is how long a port from a peer that shares no task with
	// this profile stays open without being admitted (default 10s).
	StrangerIdle time.Duration
	// Mirrors are the peer ids of the mirrors this profile pins its books
	// to and reads its members' books from while they are offline
	// (mirrors.go).
	Mirrors []identity.ID
	// Restore: the profile was just restored from its seed alone (a
	// recovery code) and has no tasks: it asks its peers for its books
	// and writes nothing until they answered (restore.go).
	Restore bool
	// ReceiptEvery is the least time between two receipt pages this
	// profile writes in a task (receiptpage.go; default
	// DefaultReceiptEvery).
	ReceiptEvery time.Duration
	// ReceiptGap is the least time between two receipts this profile
	// sends an author in a task (receipt.go; default DefaultReceiptGap).
	ReceiptGap time.Duration
	// Device is this profile's device of its person (devices.go); nil: a
	// first device, whose key is the identity's.
	Device *Self
	// Link is what a newly linked device was given (devices.go): its
	// tasks, members and secrets, recorded at the first open (a profile
	// that has tasks already ignores it).
	Link *LinkBundle
	// PendingFor is how long a message shown pending may wait to be
	// stored before it is withdrawn (preview.go; default
	// DefaultPendingFor).
	PendingFor time.Duration
}

// An Observer sees a messenger's protocol (report.Reporter is one).
type Observer interface {
	Sync(ev replication.Event, peer identity.ID)
	Port(peer identity.ID, open bool, transport string)
	App(peer identity.ID, send bool, typ string, size int)
	Error(err error)
}

// A Messenger is one profile's task rooms: it keeps the tasks in the
// profile's books, runs the join handshake and replication on every port
// to a member, writes messages into the profile's books and reads the
// timeline from all of a task's books.
type Messenger struct {
	// Immutable after Open.
	cfg      Config
	db       *journal.DB
	self     identity.ID
	log      logs.Logger
	tasksLog *journal.Book
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	unhook   func()
	unshow   func() // ends the DB's Verified hook (preview.go)
	wake     chan struct{}
	wakeShow chan struct{} // the previewer's (preview.go)
	previews previews      // orders pending events before stored ones; its own lock (preview.go)
	proveSem chan struct{} // proveWorkers slots for copies being made
	private  secrets       // the secret of private books, epoch 0 (sealing.go)
	person   identity.ID   // this device's person (devices.go)
	me       *device.Cert  // this device's certificate
	idKey    *identity.Key // the identity key, on a device that holds it
	keys     keyCache      // derived page keys (sealing.go)
	files    fileState     // blob books (files.go)
	// admitHook, if set (by a test, before any port), runs as a join by
	// invite is taken, before the admission.
	admitHook func()
	// proveHook, if set (by a test, before any port), runs as a prove is
	// answered.
	proveHook func()
	ui        uiStore // the page's UI state (uistate.go)
	// revoking orders this device's own revocations against its last
	// words (revokedevice.go); taken before mu, held over a record's write.
	revoking sync.Mutex
	// claiming orders a member's removal read before its author is known
	// to be allowed against the creator's "allow" (remove.go): taken
	// after a task's wmu and before mu, held over a record's write.
	claiming sync.Mutex

	// mu guards every field below, and the fields of tasks and members
	// that say so. It is never held while a book is read or written (a
	// book's lock is held while the DB's hooks run, and onDBEvent takes mu).
	mu      sync.Mutex
	tasks   map[TaskID]*task
	order   []TaskID                 // tasks in the order they were made or joined
	replica map[identity.ID]bookRef  // a member's book to this profile, by key
	conns   map[identity.ID]*conn    // the live port to each peer
	served  map[port.Port]*conn      // every port served and not yet closed
	dialing map[identity.ID]bool     // members with a dial loop running
	pending map[pendingKey]chan wire // joins waiting for their answer
	subs    subs.List[Event]
	queue   []journal.Event                    // stored pages of members' books, for the worker
	shown   []journal.Event                    // verified pages of members' books being stored, for the previewer (preview.go)
	shownOK map[identity.ID]bool               // members' books received read pages of: preview may show theirs
	decoded map[shownKey]shownPage             // pages preview decoded, for received (preview.go)
	proving map[proveKey]time.Time             // copies asked for, and when (equivocation.go)
	healing map[identity.ID]bool               // forked books of this profile being continued (successor.go)
	mirrors map[identity.ID]*mirrorState       // each mirror's session and health (mirrors.go)
	rooting map[identity.ID]chan wire          // askroots waiting for their answer, by book
	restore *restoreState                      // restore.go
	recall  *recallState                       // recall.go
	history map[identity.ID]bool               // siblings' books to other persons, read since a recall (recall.go)
	names   map[identity.ID]nameState          // persons' names (names.go)
	certs   map[identity.ID]*device.Cert       // verified certificates of devices, by device (devices.go)
	revoked map[identity.ID]*device.Revocation // revoked devices (devices.go)
	// certSnap is a copy of certs, for DeviceOf (devices.go).
	certSnap atomic.Pointer[map[identity.ID]*device.Cert]
	// presence: when each peer's port last opened or closed; refusals:
	// members' refusals to pair, by task (health.go).
	presence map[identity.ID]presence
	refusals map[pendingKey]string
	closed   bool
	// taken: each member's book's pages below it were read by the worker
	// (taken.go); takenDirty: the cursors moved since they were written.
	taken      map[identity.ID]uint64
	takenDirty map[identity.ID]bool
	// unreadLog is the unread book (unread.go): the worker's and the
	// read marks' writer's, and Close's once they ended.
	unreadLog unreadLog
	// later: what an opening task leaves to the background (lazy.go).
	later laterQueue
}

type bookRef struct {
	task TaskID
	peer identity.ID
	gen  int // 0: the member's first book; g: its successor g
}

type pendingKey struct {
	peer identity.ID
	task TaskID
}

// task is the in-memory state of a task. Its fields are guarded by
// Messenger.mu, but for id (immutable) and wmu.
type task struct {
	id         TaskID
	title      string
	titleKey   Key
	parent     *TaskID
	host       identity.ID
	created    int64
	log        *journal.Book
	members    map[identity.ID]*member
	clock      uint64                                   // the highest clock seen in the task
	clocks     map[identity.ID]uint64                   // the highest clock accepted from each author, this profile included
	invites    map[inviteHash]*inviteState              // invites this profile issued for the task
	introduced map[identity.ID]int                      // members each member announced
	refused    map[identity.ID]map[uint64]string        // members' messages shown invalid, by mid: why
	equiv      map[identity.ID]map[uint64]*Equivocation // evidence against members, by mid
	held       map[identity.ID]*heldDigests             // digests of members' messages received lately
	receipts   map[identity.ID]*receiptState            // what this profile holds and read of each author's messages
	pages      receiptPages                             // this profile's receipt pages (receiptpage.go)
	secrets    secrets                                  // the task's secrets by epoch (secret.go); copied on write
	epoch      uint32                                   // the epoch of the secret pages are sealed with now
	creator    identity.ID                              // who made the task (remove.go); zero: its host
	removed    map[identity.ID]*member                  // members removed (remove.go): their past books only
	removedBy  identity.ID                              // who removed this profile from the task; zero: not removed
	removers   map[identity.ID]bool                     // members the creator allowed to remove (remove.go)
	claims     map[identity.ID][]identity.ID            // removals read before their authors were allowed: author → removed (remove.go); nil: none
	edits      map[Ref]*edited                          // messages edited or deleted (edits.go)
	left       map[identity.ID]bool                     // members who left (leave.go); nil: none
	departed   map[identity.ID]identity.ID              // members who left before this profile joined: the key of their book it reads (departed.go); nil: none
	wmu        sync.Mutex                               // serialises writes to this profile's books of the task
	leaving    bool                                     // guarded by wmu: Leave began (leave.go): no new pairings
	leaveMid   uint64                                   // guarded by wmu: the mid of this profile's leave message, 0 before it (leave.go)
	// lazy: known from the tasks book at open, its books not opened yet;
	// ready: its books are open (lazy.go).
	lazy, ready bool
	lmu         sync.Mutex  // serialises opening its books (lazy.go); taken after wmu, never before
	unread      unreadState // its unread messages (unread.go)
}

func newTask(id TaskID, title string, parent *TaskID, host identity.ID, created int64) *task {
	return &task{id: id, title: title, parent: parent, host: host, created: created,
		members: make(map[identity.ID]*member), clocks: make(map[identity.ID]uint64), invites: make(map[inviteHash]*inviteState),
		introduced: make(map[identity.ID]int), refused: make(map[identity.ID]map[uint64]string),
		equiv: make(map[identity.ID]map[uint64]*Equivocation), held: make(map[identity.ID]*heldDigests),
		receipts: make(map[identity.ID]*receiptState), removed: make(map[identity.ID]*member), removers: make(map[identity.ID]bool)}
}

// inviteState is what the issuer keeps of an invite.
type inviteState struct {
	expires int64 // Unix ms; 0: never
	revoked bool
}

// member is another member of a task, seen from this profile. Guarded by
// Messenger.mu.
type member struct {
	id    identity.ID
	by    identity.ID   // who announced it: zero if its admission was this profile's (by invite, or its inviter)
	out   *journal.Book // this profile's book to the member; nil until paired
	inKey identity.ID   // the member's book to this profile; zero until it answered
	in    *journal.Book
	// After a fork of this profile's book to the member (successor.go):
	// out is its successor number outGen, whose page p holds the log's
	// message outFrom+p, renumbered outFrom+p+outShift for the member.
	outGen            int
	outFrom, outShift uint64
	// next are the member's successors of its book to this profile, in
	// order, once verified.
	next []*successor
	// received and read: how far the member holds and read this profile's
	// messages, by its receipts (receipt.go).
	received, read uint64
	// vouches: how far each mirror holds this profile's book to the
	// member, by its signed word (vouch.go); by mirror.
	vouches map[identity.ID]Vouch
	// heldAtRemoval: its messages held when it was removed (remove.go).
	heldAtRemoval uint64
}

// rootLocked is the member an introduction by by is charged to: the
// first member up by's chain of announcers that this profile admitted
// itself (by its invite), or the member it joined through; self for this
// profile's own admissions. A member introduced by another is charged to
// its introducer's root, so a member and the identities it announces
// bring in at most MaxIntroduced members, however they chain. Called with
// Messenger.mu held.
func (t *task) rootLocked(self, by identity.ID) identity.ID {
	x := by
	for range MaxMembers {
		mb := t.members[x]
		if mb == nil || mb.by.IsZero() || mb.by == self {
			return x
		}
		x = mb.by
	}
	return x
}

func (t *task) member(id identity.ID) *member {
	mb := t.members[id]
	if mb == nil {
		mb = &member{id: id}
		t.members[id] = mb
	}
	return mb
}

// Open starts the messenger of cfg.DB's profile: it rebuilds its tasks
// from its books, repairs books a crash left behind their log, and dials
// every member in the background.
func Open(ctx context.Context, cfg Config) (*Messenger, error) {
	if cfg.DB == nil || cfg.Dial == nil {
		return nil, errors.New("room: Config needs DB and Dial")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = logs.Default()
	}
	if cfg.Retry == 0 {
		cfg.Retry = time.Second
	}
	if cfg.PendingFor == 0 {
		cfg.PendingFor = DefaultPendingFor
	}
	if cfg.ReceiptEvery == 0 {
		cfg.ReceiptEvery = DefaultReceiptEvery
	}
	if cfg.ReceiptGap == 0 {
		cfg.ReceiptGap = DefaultReceiptGap
	}
	if cfg.StrangerIdle == 0 {
		cfg.StrangerIdle = 10 * time.Second
	}
	// Replication follows only the books the room follows itself (a
	// member's book, once admitted): a peer's unsolicited announcements
	// are never stored.
	if cfg.Sync.Accept == nil {
		cfg.Sync.Accept = func(identity.ID) bool { return false }
	}
	m := &Messenger{
		cfg: cfg, db: cfg.DB, self: cfg.DB.ID(), log: cfg.Logger,
		tasks: make(map[TaskID]*task), replica: make(map[identity.ID]bookRef), taken: make(map[identity.ID]uint64), takenDirty: make(map[identity.ID]bool), shownOK: make(map[identity.ID]bool), decoded: make(map[shownKey]shownPage),
		previews: previews{stored: make(map[identity.ID]uint64), shown: make(map[identity.ID]uint64)},
		conns:    make(map[identity.ID]*conn), served: make(map[port.Port]*conn), dialing: make(map[identity.ID]bool),
		pending: make(map[pendingKey]chan wire), proving: make(map[proveKey]time.Time),
		healing: make(map[identity.ID]bool), rooting: make(map[identity.ID]chan wire),
		mirrors: make(map[identity.ID]*mirrorState),
		wake:    make(chan struct{}, 1), wakeShow: make(chan struct{}, 1), proveSem: make(chan struct{}, proveWorkers),
		restore: newRestoreState(), recall: newRecallState(),
		private: secrets{0: seal.PrivateSecret(cfg.DB.Identity())},
		certs:   make(map[identity.ID]*device.Cert), revoked: make(map[identity.ID]*device.Revocation), history: make(map[identity.ID]bool),
	}
	if err := m.setDevice(cfg.Device); err != nil {
		return nil, err
	}
	// Tasks opened on demand during Open (a link, a recall) use it.
	m.ctx, m.cancel = context.WithCancel(context.Background())
	// Every page the room writes is sealed from here on (sealing.go), also
	// after Close: a write racing it is sealed all the same.
	m.db.SetSealer(m.sealPage)
	// The profile's own books Open reads (the tasks, the UI state, the
	// unread counts) have their records read in one request, not one
	// round trip each in turn; a failure is left to the opens below.
	if err := m.db.Preload(ctx, []identity.ID{m.db.BookKey(tasksBook), m.db.BookKey(uiBook), m.db.BookKey(unreadBook)}); err != nil {
		m.log.Debug("room: preload", "err", err)
	}
	var err error
	if m.tasksLog, err = m.db.Author(ctx, tasksBook, []byte(`{"app":"task-messenger"}`)); err != nil {
		return nil, fmt.Errorf("room: open tasks: %w", err)
	}
	if err := m.replay(ctx); err != nil {
		return nil, err
	}
	if err := m.openUI(ctx); err != nil {
		return nil, err
	}
	if err := m.takeLink(ctx, cfg.Link); err != nil {
		return nil, err
	}
	if err := m.startRecall(ctx); err != nil {
		return nil, err
	}
	if cfg.Restore {
		if err := m.startRestore(ctx); err != nil {
			return nil, err
		}
	}
	m.deferTasks()
	if err := m.replayUnread(ctx); err != nil {
		return nil, err
	}
	m.settleClaims(ctx) // a claim whose author was allowed just before a crash
	clear(m.takenDirty) // as written
	m.unhook = m.db.Subscribe(m.onDBEvent)
	m.unshow = m.db.Verified(m.onVerified)
	loading := m.receiptsToLoad()
	m.wg.Add(3)
	go m.work()
	go m.show() // preview.go
	go func() {
		defer m.wg.Done()
		m.loadReceipts(m.ctx, loading)
	}()
	m.mu.Lock()
	for _, t := range m.tasks {
		for id := range t.members {
			m.dialLocked(id)
		}
	}
	m.mu.Unlock()
	m.startMirrors()
	// The replication sessions list the books they share from the DB's
	// catalog (journal.DB.Catalog): it is read now, beside the first page,
	// rather than when the first port opens (a session that comes during
	// the read waits for it). Not earlier: with thousands of tasks,
	// decoding every record beside Open's own reads slowed the open
	// (Open10kTasks).
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if _, err := m.db.Catalog(m.ctx); err != nil && m.ctx.Err() == nil {
			m.log.Debug("room: catalog", "err", err)
		}
	}()
	return m, nil
}

// load opens a task's books (at open, when made or joined, or on demand:
// lazy.go) and repairs the books to members that a crash left behind the
// log; it returns the log's tail, read for its last clock. Its caller
// holds t.lmu, or t is not shared yet.
func (m *Messenger) load(ctx context.Context, t *task) (logTail tail, err error) {
	// The task's stored books are read together first: their records in
	// one request, not one or two round trips each in turn.
	m.preload(ctx, t)
	log, err := m.db.Author(ctx, logName(m.self, t.id), genesisMeta{Task: t.id}.encode())
	if err != nil {
		return tail{}, fmt.Errorf("room: task %s: %w", t.id, err)
	}
	m.mu.Lock()
	t.log = log
	mbs := slices.Collect(maps.Values(t.members))
	m.mu.Unlock()
	// Each member's books are its own: they open side by side, and beside
	// the read of the log's last clock, so a task of ten people waits on
	// the store's round trips of one (IndexedDB answers each after a few
	// milliseconds; BenchmarkOpenTaskOf10).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadMembersAtOnce)
	g.Go(func() error {
		logTail = readTail(gctx, m.logSource(log))
		m.mu.Lock()
		t.raiseLocked(m.self, min(logTail.clock(), MaxClock))
		m.mu.Unlock()
		return nil
	})
	for _, mb := range mbs {
		g.Go(func() error { return m.loadMember(gctx, t, mb) })
	}
	if err := g.Wait(); err != nil {
		return tail{}, err
	}
	m.mu.Lock()
	t.ready, t.lazy = true, false
	m.mu.Unlock()
	return logTail, nil
}

// preload opens the stored books load opens (the task's log, and each
// member's books both ways), their records read in one request
// (journal.DB.Preload). A failure is left to the opens that follow.
func (m *Messenger) preload(ctx context.Context, t *task) {
	m.mu.Lock()
	names := []string{logName(m.self, t.id)}
	var keys []identity.ID
	for _, mb := range t.members {
		names = append(names, succName(m.self, m.personLocked(mb.id), t.id, mb.outGen))
		if !mb.inKey.IsZero() {
			keys = append(keys, mb.inKey)
		}
		for _, s := range mb.next {
			keys = append(keys, s.key)
		}
	}
	m.mu.Unlock()
	for _, n := range names {
		keys = append(keys, m.db.BookKey(n))
	}
	if err := m.db.Preload(ctx, keys); err != nil {
		m.log.Debug("room: preload", "task", t.id, "err", err)
	}
}

// loadMembersAtOnce bounds the members whose books a task's load opens
// at once (a task of a hundred people does not ask the store for
// everything together).
const loadMembersAtOnce = 8

// loadMember opens the books between this profile and a member of t.
// Loads of several members of t run at once: it touches only that
// member's books, and the task's state under m.mu.
func (m *Messenger) loadMember(ctx context.Context, t *task, mb *member) error {
	m.mu.Lock()
	outName := succName(m.self, m.personLocked(mb.id), t.id, mb.outGen)
	inKey, next := mb.inKey, slices.Clone(mb.next)
	m.mu.Unlock()
	if b, err := m.db.Get(ctx, m.db.BookKey(outName)); err == nil {
		m.mu.Lock()
		mb.out = b
		m.mu.Unlock()
		if err := m.catchUp(ctx, t, mb); err != nil {
			return err
		}
	} else if !errors.Is(err, journal.ErrNotFound) {
		return err
	}
	if !inKey.IsZero() {
		in, err := m.db.ReaderFrom(ctx, inKey, mb.id)
		if err != nil {
			return fmt.Errorf("room: task %s: book of %s: %w", t.id, mb.id.Short(), err)
		}
		m.mu.Lock()
		mb.in = in
		m.replica[inKey] = bookRef{t.id, mb.id, 0}
		src := markedSource{m.sourceLocked(t, mb.in, mb.id, 0), t.refused[mb.id], renumbering{}}
		m.mu.Unlock()
		m.resumeTaken(in)
		clock := lastClock(ctx, src) // accepted when it arrived (a refused page reads as invalid, clock 0)
		m.mu.Lock()
		t.raiseLocked(mb.id, min(clock, MaxClock))
		m.mu.Unlock()
	}
	for _, s := range next {
		b, err := m.db.ReaderFrom(ctx, s.key, mb.id)
		if err != nil {
			return fmt.Errorf("room: task %s: successor book of %s: %w", t.id, mb.id.Short(), err)
		}
		m.mu.Lock()
		s.book = b
		m.mu.Unlock()
		clock := lastClock(ctx, m.sourceOf(t, s.book, mb.id, s.shift))
		m.mu.Lock()
		m.replica[s.key] = bookRef{t.id, mb.id, s.gen}
		t.raiseLocked(mb.id, min(clock, MaxClock))
		m.mu.Unlock()
		m.resumeTaken(s.book)
	}
	return nil
}

// lastClock is the clock of a source's last message, 0 if none.
func lastClock(ctx context.Context, s Source) uint64 {
	n, err := s.Len(ctx)
	if err != nil || n == 0 {
		return 0
	}
	msg, err := s.Get(ctx, n-1)
	if err != nil {
		return 0
	}
	return msg.Meta.Clock
}

// ID returns this profile's peer id.
func (m *Messenger) ID() identity.ID { return m.self }

// Close stops the messenger: its ports close, its dial loops end. The DB
// stays open.
func (m *Messenger) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	conns := make([]*conn, 0, len(m.conns))
	for _, c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	m.unhook()
	m.unshow()
	m.cancel()
	for _, c := range conns {
		c.mux.Close()
	}
	m.wg.Wait()
	m.flushUnread(context.Background(), true)
	return nil
}

// EventType names what an Event reports.
type EventType string

// Event types, the JS API's app.on(event) names.
const (
	EventMessage EventType = "message" // a message was written or received
	EventTask    EventType = "task"    // a task was created, joined or renamed
	EventMember  EventType = "member"  // a member was added, or its books paired
	EventPeer    EventType = "peer"    // a peer's connection changed (online, offline, waiting)
	EventError   EventType = "error"   // something failed in the background
	// EventEquivocation: a member wrote different content under one mid
	// for different readers (Evidence says which, with both signed copies).
	EventEquivocation EventType = "equivocation"
	// EventReceipt: Peer's receipt says it holds or read more of this
	// profile's messages in Task (MemberInfo.Received, .Read); with State
	// "mirror", a mirror vouches it holds more of them for Peer
	// (MemberInfo.Mirrored, .Vouches: vouch.go).
	EventReceipt EventType = "receipt"
	// EventFork: Peer proved that this profile signed two histories of
	// its book to Peer in Task (it was written from two places: another
	// browser or device, an old backup restored). Peer follows that book no
	// further, so this profile's messages in the task stop reaching it.
	EventFork EventType = "fork"
	// EventRestore: a restore from the seed moved on (State "answered": a
	// peer's answer was taken; "refused": a peer's answer failed, Err
	// says why; "done": the restore finished), with where it stands.
	EventRestore EventType = "restore"
	// EventRemoved: this profile was removed from Task, by Peer (the
	// task's creator; remove.go).
	EventRemoved EventType = "removed"
)

// An Event is what the messenger reports to its subscribers.
type Event struct {
	Type    EventType
	Task    TaskID
	Message *Message    // EventMessage
	Peer    identity.ID // EventMember, EventPeer; EventDevice: the person
	Device  identity.ID // EventDevice: the device added or revoked
	State   string      // EventPeer: "online" (again when the port moves to WebRTC), "offline", "waiting"; EventMember: "added", "paired"; EventReceipt: "mirror" (a mirror's)
	Err     error       // EventError
	// Evidence is the proof of an EventEquivocation.
	Evidence *Equivocation
	// Restore is where the restore stands, for an EventRestore.
	Restore *RestoreStatus
	// Count: an EventMessage without a Message says that Count messages
	// of Task were received at once (a catch-up: more than
	// MaxEventPages pages in one write), not reported one by one: read
	// the timeline.
	Count int
	// Pending: an EventMessage of a member's chat message verified and
	// still being stored (preview.go); the same message follows without
	// Pending once stored, and is lost with the write if the tab closes
	// first.
	Pending bool
	// Withdrawn (with Pending): the message shown pending was not stored
	// within Config.PendingFor (its author's write or this profile's
	// failed, or is stalled): it is no longer shown. If it is stored
	// later, it comes again then.
	Withdrawn bool
}

// MaxEventPages is the most pages of a member's book stored at once that
// are reported as one EventMessage each; more come as one EventMessage
// with their Count.
const MaxEventPages = 64

// Subscribe calls fn with every event, on the messenger's goroutines; fn
// must not block. The returned function unsubscribes.
func (m *Messenger) Subscribe(fn func(Event)) (cancel func()) { return m.subs.Add(fn) }

func (m *Messenger) emit(ev Event) { m.subs.Emit(ev) }

func (m *Messenger) fail(err error) {
	m.log.Warn("room", "err", err)
	if m.cfg.Observe != nil {
		m.cfg.Observe.Error(err)
	}
	m.emit(Event{Type: EventError, Err: err})
}

// onDBEvent is the DB hook: it queues the pages stored in members' books
// for the worker (hooks must not call back into the DB).
func (m *Messenger) onDBEvent(ev journal.Event) {
	if ev.Type != journal.EventPut {
		return
	}
	m.enqueue(&m.queue, m.wake, ev)
}

// enqueue appends ev to queue q (the worker's m.queue or the previewer's
// m.shown) if its book is a member's, and wakes its reader.
func (m *Messenger) enqueue(q *[]journal.Event, wake chan struct{}, ev journal.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.replica[ev.Book]; !ok {
		return
	}
	*q = append(*q, ev)
	select {
	case wake <- struct{}{}:
	default:
	}
}

// work reads the messages members' books received: it advances the
// task's clock, reports them, and acts on announcements and renames; every
// 10 Retry it asks again for the pairs still incomplete.
func (m *Messenger) work() {
	defer m.wg.Done()
	// Incomplete pairs are asked again now and then (repair).
	tick := time.NewTicker(10 * m.cfg.Retry)
	defer tick.Stop()
	// held fires when receipts flushReceipts held back may go; nil: none
	// are held.
	var held *time.Timer
	var heldC <-chan time.Time
	defer func() {
		if held != nil {
			held.Stop()
		}
	}()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
			m.repair()
			m.flushUnread(m.ctx, false)
			continue
		case <-m.wake:
		case <-heldC:
			heldC = nil
		}
		m.mu.Lock()
		q := m.queue
		m.queue = nil
		m.mu.Unlock()
		m.noteStored(q) // preview.go
		for _, ev := range q {
			m.received(ev)
		}
		m.flushDigests()
		if later := m.flushReceipts(); later > 0 && heldC == nil {
			held = time.NewTimer(later)
			heldC = held.C
		}
		m.flushUnread(m.ctx, false)
	}
}

// memberSourceLocked is how received and preview read key, a member's
// book (ref): its task, the source to decode it with (no Book unless it is
// the member's first book or the successor of generation ref.gen) and the
// renumbering of this profile's messages it refers to. Called with m.mu
// held.
func (m *Messenger) memberSourceLocked(ref bookRef, key identity.ID) (t *task, src BookSource, moved renumbering) {
	t = m.tasks[ref.task]
	if t == nil || t.members[ref.peer] == nil {
		return t, src, moved
	}
	mb := t.members[ref.peer]
	moved = renumbering{m.self, mb.outFrom, mb.outShift}
	if ref.gen == 0 {
		src = m.sourceLocked(t, mb.in, ref.peer, 0)
	} else if ref.gen <= len(mb.next) && mb.next[ref.gen-1].key == key {
		src = m.sourceLocked(t, mb.next[ref.gen-1].book, ref.peer, mb.next[ref.gen-1].shift)
	}
	return t, src, moved
}

func (m *Messenger) received(ev journal.Event) {
	if !m.openFor(ev.Book) {
		return
	}
	m.mu.Lock()
	ref, ok := m.replica[ev.Book]
	var t *task
	var src BookSource
	var moved renumbering
	if ok {
		t, src, moved = m.memberSourceLocked(ref, ev.Book)
	}
	m.mu.Unlock()
	if ok && t != nil && ref.gen > 0 && src.Book == nil && ev.Index == 0 {
		// A successor announced, its genesis here: follow it, or not.
		if b, err := m.db.Get(m.ctx, ev.Book); err == nil {
			m.adopt(m.ctx, t, ref.peer, b, ref.gen)
		}
		return
	}
	if src.Book == nil || !m.replicaOK(t, src, ref.gen) {
		return // not verified yet: read when its genesis arrives
	}
	m.mu.Lock()
	m.shownOK[ev.Book] = true
	m.mu.Unlock()
	book := src.Book
	if ev.Index == 0 {
		// The genesis: pages stored before it (a push may come first)
		// were passed over; read everything held from page 1.
		m.rescan(m.ctx, book)
		return
	}
	ev, took := m.untaken(m.ctx, book, ev)
	if len(ev.Pages) == 0 {
		return
	}
	// Digests are kept of the newest maxHeldDigests messages only: a
	// catch-up's older pages are not hashed (digests reads them again if
	// asked).
	newest := book.Len() + src.Shift
	// Many pages at once (a catch-up): one event for all of them.
	bulk, many, unread := len(ev.Pages) > MaxEventPages, 0, false
	defer func() {
		if unread {
			m.emit(Event{Type: EventUnread, Task: t.id})
		}
		if many > 0 {
			m.emit(Event{Type: EventMessage, Task: t.id, Count: many})
		}
	}()
	for i, page := range ev.Pages {
		if bulk && i > 0 && i%yieldEvery == 0 {
			// In a browser the module has one thread, and a goroutine runs
			// until it blocks: thousands of pages read here (~20 µs each)
			// would hold back the replication session, ready to verify
			// the next data and issue its write, and the page's tasks:
			// the next data's frames, arriving meanwhile, would wait
			// in the browser. Both go now; the write runs in the browser
			// beside the rest of this loop.
			yield.Now()
		}
		idx := ev.Index + uint64(i) + src.Shift
		msg, ok := m.takeShown(ev.Book, ev.Index+uint64(i), page)
		if !ok {
			msg, _ = src.Seal.decode(page, ref.peer, ev.Index+uint64(i), idx)
		}
		var d *[sha256.Size]byte
		if idx+maxHeldDigests >= newest {
			dg := digest(msg)
			d = &dg
		}
		m.mu.Lock()
		t.holdDigestLocked(ref.peer, idx, d)
		t.heldLocked(ref.peer, idx, msg.Type)
		m.mu.Unlock()
		if msg.Type != TypeInvalid && !m.seen(t, ref.peer, idx, msg.Meta.Clock) {
			msg = m.refuse(t, ref.peer, msg, fmt.Sprintf("clock %d is more than %d + its mid above the other members' highest", msg.Meta.Clock, uint64(MaxClockStep)))
		}
		msg = moved.apply(msg)
		if msg.Type == TypeReceipt {
			m.onReceiptPage(t, ref.peer, msg) // not a timeline message
			continue
		}
		m.learnName(m.ctx, t, msg)
		msg = m.onEdit(m.ctx, t, ref.peer, msg)
		if m.countUnread(t, ref.peer, msg) {
			if bulk {
				unread = true
			} else {
				m.emit(Event{Type: EventUnread, Task: t.id})
			}
		}
		if bulk {
			many++
		} else {
			m.emit(Event{Type: EventMessage, Task: t.id, Message: &msg})
		}
		switch msg.Type {
		case TypeMember, TypeJoin:
			// An announcement: a member the author admitted, or (its
			// join) the member it joined through.
			var d struct {
				ID  identity.ID `json:"id"`
				Via identity.ID `json:"via"`
			}
			if json.Unmarshal(msg.Data, &d) == nil {
				id := d.ID
				if msg.Type == TypeJoin {
					id = d.Via
				}
				if err := m.addMember(m.ctx, t, id, ref.peer); err != nil {
					m.fail(err)
				}
			}
		case TypeRemove:
			m.onRemove(m.ctx, t, msg)
		case TypeLeave:
			m.onLeave(m.ctx, t, ref.peer)
		case TypeDevice:
			m.onDevice(m.ctx, t, msg)
		case TypeRevokeDevice:
			m.onRevokeDevice(m.ctx, msg)
		case TypeAllow:
			m.onAllow(m.ctx, t, msg)
		case TypeRename:
			var d struct {
				Title string `json:"title"`
			}
			if json.Unmarshal(msg.Data, &d) == nil {
				if err := m.retitle(m.ctx, t, d.Title, msg.Key()); err != nil {
					m.fail(err)
				}
			}
		}
	}
	if took {
		m.took(ev.Book, ev.Index+uint64(len(ev.Pages)))
	}
}

// yieldEvery is how many pages of a catch-up received reads between
// yields (package yield): about 5 ms of work in a browser.
const yieldEvery = 256

// refuse records that a member's message is shown as invalid, and why,
// and returns it so.
func (m *Messenger) refuse(t *task, peer identity.ID, msg Message, why string) Message {
	m.mu.Lock()
	_, done := t.refused[peer][msg.Head.Mid]
	m.mu.Unlock()
	if !done {
		r := record{Op: opRefuse, Task: t.id, Peer: peer, Mid: msg.Head.Mid, Why: why}
		if err := m.writeRecord(m.ctx, r); err != nil {
			m.fail(err)
		}
		m.mu.Lock()
		m.apply(r)
		m.mu.Unlock()
		m.log.Warn("room: refused a message", "peer", peer.Short(), "mid", msg.Head.Mid, "why", why)
	}
	raw, _ := msg.Encode()
	return Message{Head: Head{By: peer, Mid: msg.Head.Mid}, Type: TypeInvalid, Raw: raw, Reason: why}
}
