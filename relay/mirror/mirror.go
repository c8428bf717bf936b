//go:build !js

package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/task-messenger/task-messenger/relay/mirrorset"
	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// ErrOverQuota refuses a pin or a growth that would take an author over
// its quota. The author learns it as the reason its session ended.
var ErrOverQuota = errors.New("mirror: over quota")

// strangerTotal bounds the bytes all authors' ports hold unread together.
// Every author is a stranger to the mirror (it asks for no port): each
// port may hold a whole message and more (peerio.MaxInbox), for a
// replication session sends without waiting (an author announcing many
// books, data for a whole window of wants); the default 256 KiB closed
// the port of an author pinning more than a few hundred KiB at once.
const strangerTotal = 256 << 20

// recentPages is how many of each book's newest pages the mirror keeps in
// memory: what it pushes to a reader along with a new head (replication's
// PushPages). A journal's default, 256, cost ~300 KB a book of 1 KiB pages.
const recentPages = 32

// Quota bounds what one author may pin.
type Quota struct {
	Books int   // books (default 4,096)
	Bytes int64 // bytes of pages (default 256 MiB)
}

// Config configures a Mirror.
type Config struct {
	// Store keeps the books (boltstore on disk; a memory store in tests).
	Store store.Store
	// Seed is the mirror's identity.
	Seed identity.Seed
	// Relay is the relay's websocket URL.
	Relay string
	// Quota per author; zero fields take the defaults.
	Quota Quota
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// HeldEvery is the least time between two messages of receipts to an
	// author on one port (held.go; default 250ms).
	HeldEvery time.Duration
	// NATS, if set, makes the mirror one of a set (set.go): it announces
	// itself there and keeps each author's books on Replicas mirrors of
	// the live set. Nil: a lone mirror.
	NATS *nats.Conn
	// Replicas is how many mirrors of the set hold each author's books
	// (default 2, as a profile pins to two).
	Replicas int
	// SetEvery is the time between two announcements in the set
	// (mirrorset.Config.Every; default 1 s). Every mirror and watcher of
	// a set must agree on it.
	SetEvery time.Duration
}

// Stats is what a mirror holds and refused.
type Stats struct {
	Authors int   // authors with a book pinned
	Books   int   // books held
	Bytes   int64 // bytes of pages held
	Refused int64 // pins and growths refused (over quota, or of a revoked device)
	// Revocations is how many devices the mirror knows are revoked
	// (devices.go).
	Revocations int
	// The set of mirrors (set.go; zero for a lone mirror): SetSize is how
	// many mirrors are live, this one included; Repinned counts the books
	// this mirror told others to hold, Followed those others told it to
	// hold that it followed; BadHolds the hold messages dropped.
	SetSize  int
	Repinned int64
	Followed int64
	BadHolds int64
	// Released counts the books their authors released (release.go).
	Released int64
}

// A Mirror holds the books pinned to it and serves them.
type Mirror struct {
	db     *journal.DB
	key    *identity.Key // signs the receipts (held.go)
	io     *peerio.IO
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unhook func()

	mu      sync.Mutex
	closed  bool                             // Close began: no port is served
	usage   map[identity.ID]*usage           // by author
	tellers map[identity.ID]map[*teller]bool // by author: a teller per port from it (held.go)
	refused atomic.Int64
	certs   *certCache                         // the latest devices' certificates (devices.go)
	revoked map[identity.ID]*device.Revocation // by device: kept in revBook
	clients map[identity.ID]map[*client]bool   // by peer: its live ports

	revMu   sync.Mutex    // serializes appends to revBook
	revBook *journal.Book // the revocations taken (devices.go)

	// The set of mirrors (set.go); nil without Config.NATS.
	set       *mirrorset.Watcher   // immutable once started
	announcer *mirrorset.Announcer // immutable once started
	holdSub   *nats.Subscription   // immutable once started
	repinKick chan struct{}        // capacity 1: re-pin
	repinned  atomic.Int64
	followed  atomic.Int64
	badHolds  atomic.Int64
	live      map[identity.ID]bool                 // guarded by mu: the live set
	told      map[identity.ID]map[identity.ID]bool // guarded by mu: books each live mirror was told to hold
	dialed    map[identity.ID]bool                 // guarded by mu: fellow mirrors a port is kept to

	released atomic.Int64 // books their authors released (release.go)
}

// usage is what one author pinned.
type usage struct {
	books int
	pages int64
	bytes int64
}

// Start opens the mirror's books and goes online.
func Start(ctx context.Context, cfg Config) (*Mirror, error) {
	if cfg.Store == nil || cfg.Relay == "" {
		return nil, errors.New("mirror: Config needs Store and Relay")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Quota.Books <= 0 {
		cfg.Quota.Books = 4096
	}
	if cfg.Quota.Bytes <= 0 {
		cfg.Quota.Bytes = 256 << 20
	}
	if cfg.HeldEvery <= 0 {
		cfg.HeldEvery = 250 * time.Millisecond
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 2
	}
	if cfg.SetEvery <= 0 {
		cfg.SetEvery = mirrorset.DefaultEvery
	}
	db, err := journal.Open(ctx, cfg.Store, cfg.Seed, &journal.Options{RecentPages: recentPages})
	if err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	m := &Mirror{db: db, key: identity.New(cfg.Seed), cfg: cfg, log: cfg.Logger,
		usage: make(map[identity.ID]*usage), tellers: make(map[identity.ID]map[*teller]bool),
		certs: newCertCache(maxKnownDevices), revoked: make(map[identity.ID]*device.Revocation),
		clients: make(map[identity.ID]map[*client]bool), repinKick: make(chan struct{}, 1),
		live: make(map[identity.ID]bool), told: make(map[identity.ID]map[identity.ID]bool), dialed: make(map[identity.ID]bool)}
	if err := m.count(ctx); err != nil {
		return nil, err
	}
	if err := m.loadRevocations(ctx); err != nil {
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.unhook = db.Subscribe(m.onDBEvent)
	m.io = peerio.New("mirror", cfg.Seed, peerio.Config{Relay: cfg.Relay, Logger: cfg.Logger,
		StrangerBuffer: peerio.MaxInbox, StrangerTotal: strangerTotal})
	if err := m.io.On(ctx, m.serve); err != nil {
		m.Close()
		return nil, fmt.Errorf("mirror: online: %w", err)
	}
	if cfg.NATS != nil {
		if err := m.startSet(); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// count sums what each author has pinned, from the books held.
func (m *Mirror) count(ctx context.Context) error {
	infos, err := m.db.Books(ctx)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	for _, b := range infos {
		n := heldFrom0(b.Have)
		if b.Writable || b.Author.IsZero() || n == 0 {
			continue // the mirror's own audit book, or a pin refused before its genesis was stored
		}
		u := m.usageLocked(b.Author)
		u.books++
		book, err := m.db.Get(ctx, b.Key)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		pages, err := book.GetRange(ctx, 0, n)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		u.pages += int64(len(pages))
		for _, p := range pages {
			u.bytes += int64(len(p))
		}
	}
	return nil
}

func heldFrom0(have journal.Ranges) uint64 {
	if len(have) == 0 || have[0].Start != 0 {
		return 0
	}
	return have[0].End
}

func (m *Mirror) usageLocked(author identity.ID) *usage {
	u := m.usage[author]
	if u == nil {
		u = &usage{}
		m.usage[author] = u
	}
	return u
}

// onDBEvent counts the pages stored for their author's quota, a book when
// its genesis is stored, and marks the book for the author's tellers
// (held.go).
func (m *Mirror) onDBEvent(ev journal.Event) {
	if ev.Type != journal.EventPut {
		return
	}
	var n int64
	for _, p := range ev.Pages {
		n += int64(len(p))
	}
	author, ok := journal.NameAuthor(ev.Name)
	if !ok {
		return
	}
	m.mu.Lock()
	u := m.usageLocked(author)
	u.pages += int64(len(ev.Pages))
	u.bytes += n
	if ev.Index == 0 {
		u.books++
	}
	for tl := range m.tellers[author] {
		tl.mark(ev.Book)
	}
	m.mu.Unlock()
	if ev.Index == 0 && m.cfg.NATS != nil {
		m.kickRepin() // a new book: its author's other mirrors hold it too
	}
}

// pinWindow is the most pages the mirror asks an author for before they
// arrive. A port an author opens to the mirror is a stranger's: peerio
// closes it when it holds more than MaxStrangerBuffer (256 KiB) of
// messages the session has not read, and the session reads one at a time,
// storing each. 128 pages of a room (a message of a few hundred bytes,
// sealed) stay well under it; asking for replication's default 16,384, an
// author with more than 256 KiB to pin had its port closed at every
// retry and never got further.
const pinWindow = 128

// serve runs replication on a port a peer opened: the peer pins its books
// (it announces them) and follows those the mirror holds for it.
func (m *Mirror) serve(p port.Port) {
	// The IO calls serve from a goroutine of its own, which may run as
	// Close waits: serve counts itself in m.wg before it starts anything,
	// or not at all once Close began (an Add racing Wait).
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		p.Close()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	peer := p.Remote()
	cl := &client{peer: peer, close: func() { p.Close() }}
	mux := port.NewMux(&heldReader{Port: p, take: func(b []byte) error { return m.takeHeld(cl, b) }}, port.ChannelSync, port.ChannelHeld)
	sess := replication.NewSession(m.db, mux.Channel(port.ChannelSync), replication.Config{
		Logger: m.log,
		Accept: func(book identity.ID) bool { return m.admit(peer, book) },
		Serve:  func(book, _ identity.ID) bool { return m.serves(cl, book) || m.fellow(peer) },
		// Books are followed through fellow mirrors of the set (set.go),
		// verified as from their authors.
		FollowVia: func(book, holder identity.ID) bool { return m.fellow(holder) },
		Grow: func(book identity.ID, from, to uint64, pages [][]byte) error {
			author := m.authorOf(book, peer)
			if err := m.revokedError(author, book); err != nil {
				return err
			}
			return m.grow(author, book, from, to, pages)
		},
		Window: pinWindow,
	})
	ctx, cancel := context.WithCancel(m.ctx)
	m.mu.Lock()
	if m.clients[peer] == nil {
		m.clients[peer] = make(map[*client]bool)
	}
	m.clients[peer][cl] = true
	cl.fellow = peer != m.ID() && m.live[peer]
	revoked := m.revoked[peer] != nil
	m.mu.Unlock()
	if revoked {
		m.wg.Add(1)
		go func() { // a revoked device is told nothing
			defer m.wg.Done()
			drain(ctx, mux.Channel(port.ChannelHeld))
		}()
	} else {
		m.startTeller(ctx, peer, mux.Channel(port.ChannelHeld))
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.dropClient(cl)
		defer mux.Close()
		defer cancel()
		if err := sess.Run(ctx); err != nil && m.ctx.Err() == nil {
			m.log.Debug("mirror: session ended", "peer", peer.Short(), "err", err)
		}
	}()
}

// admit decides on a book peer announces: replication takes it only if its
// genesis names peer as its author; the mirror takes it within the
// author's quota. The book counts once its genesis is stored (onDBEvent).
// A revoked device's book passes here to be refused by Grow
// (revokedError), before anything of it is stored, with a bye that tells
// the device why: refused here, the announcement would be ignored in
// silence, and the device would take its book for held.
func (m *Mirror) admit(peer, book identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked[peer] != nil {
		return true
	}
	u := m.usageLocked(peer)
	if u.books >= m.cfg.Quota.Books || u.bytes >= m.cfg.Quota.Bytes {
		m.refused.Add(1)
		m.log.Warn("mirror: a pin over quota refused", "author", peer.Short(), "book", book.Short(), "books", u.books, "bytes", u.bytes)
		return false
	}
	return true
}

// grow refuses a growth of an author's book that would take the author
// over its byte quota, before anything of it is stored: the pages brought
// count at their size, those to be pulled later at the author's average
// page so far. A growth refused ends the session; its bye tells the
// author why.
func (m *Mirror) grow(author, book identity.ID, from, to uint64, pages [][]byte) error {
	var add int64
	for _, p := range pages {
		add += int64(len(p))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usageLocked(author)
	room := m.cfg.Quota.Bytes - u.bytes - add
	if rest := to - from - min(to-from, uint64(len(pages))); room >= 0 && rest > 0 {
		avg := max(1, u.bytes/max(1, u.pages))
		if rest > uint64(room/avg) {
			room = -1
		}
	}
	if room >= 0 {
		return nil
	}
	m.refused.Add(1)
	m.log.Warn("mirror: a growth over quota refused", "author", author.Short(), "book", book.Short(), "from", from, "to", to, "bytes", u.bytes)
	return fmt.Errorf("%w: book %s may not grow from %d to %d pages: its author %s holds %d bytes here, the quota is %d",
		ErrOverQuota, book.Short(), from, to, author.Short(), u.bytes, m.cfg.Quota.Bytes)
}

// authorOf is book's author, verified or expected; peer if unknown (a
// book the peer pins: the peer is its author).
func (m *Mirror) authorOf(book, peer identity.ID) identity.ID {
	b, err := m.db.Get(m.ctx, book)
	if err != nil {
		return peer
	}
	if a := b.Info().Author; !a.IsZero() {
		return a
	}
	return peer
}

// dropClient forgets a port that closed.
func (m *Mirror) dropClient(cl *client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.clients[cl.peer], cl)
	if len(m.clients[cl.peer]) == 0 {
		delete(m.clients, cl.peer)
	}
}

// ID returns the mirror's peer id.
func (m *Mirror) ID() identity.ID { return m.db.ID() }

// Stats returns what the mirror holds and refused.
func (m *Mirror) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Refused: m.refused.Load(), Revocations: len(m.revoked),
		Repinned: m.repinned.Load(), Followed: m.followed.Load(), BadHolds: m.badHolds.Load(), Released: m.released.Load()}
	if m.set != nil {
		s.SetSize = len(m.live)
	}
	for _, u := range m.usage {
		if u.books > 0 {
			s.Authors++
		}
		s.Books += u.books
		s.Bytes += u.bytes
	}
	return s
}

// Close leaves the set of mirrors (if any), goes offline and waits for
// the sessions to end.
func (m *Mirror) Close() error {
	m.stopSet()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	if m.cancel != nil {
		m.cancel()
	}
	if m.io != nil {
		m.io.Close()
	}
	m.wg.Wait()
	if m.unhook != nil {
		m.unhook()
	}
	return nil
}

// Held returns how many pages of book the mirror holds from the first.
func (m *Mirror) Held(book identity.ID) uint64 {
	b, err := m.db.Get(m.ctx, book)
	if err != nil {
		return 0
	}
	return heldFrom0(b.Have())
}
