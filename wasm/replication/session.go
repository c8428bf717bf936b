package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Config tunes a session. The zero value is ready to use.
type Config struct {
	// Sparse reports whether a replica downloads only the ranges asked with
	// Session.Fetch. Nil: every replica downloads every page.
	Sparse func(b *journal.Book) bool
	// Accept decides whether to follow a book the peer announces that this
	// profile does not read yet. Nil: accept (up to MaxBooks).
	Accept func(key identity.ID) bool
	// OnEvent sees every message sent and received. It runs on the
	// session's goroutines and must not block.
	OnEvent func(Event)
	// Logger gets protocol errors; logs.Default() if nil.
	Logger logs.Logger
	// PushPages and PushBytes bound the appends sent along with their head
	// (defaults 32 pages, 64 KiB); larger ones are pulled with want.
	PushPages, PushBytes int
	// DataBytes is the size a data message aims at (default 256 KiB).
	DataBytes int
	// Window is the most pages a replica asks for before they arrive
	// (default 16384).
	Window uint64
	// OnFork learns that the peer proved this profile signed two heads of
	// one of its books that cannot both hold (another instance of the
	// profile wrote it: a second device, an old backup restored). The
	// evidence is verified; the session offers the book to the peer no
	// more and goes on with the others. It must not block.
	OnFork func(book identity.ID, evidence *journal.Fork)
	// Version is the highest protocol version the session offers (default
	// and at most the package's Version). 1 runs it as a version-1 peer:
	// its hello offers nothing, it serves only its own books and follows
	// books from their authors only.
	Version uint
	// Serve reports whether this profile serves to peer a book it holds
	// but does not author, when the peer lists it in its hello (version 2).
	// Only a replica held whole (pages 0 to its head) and not forked is
	// served. Nil: never, so an author serves its own books only. It must
	// not block.
	Serve func(book, peer identity.ID) bool
	// FollowVia reports whether to follow a replica of another author's
	// book from this peer, a holder that serves it (version 2): the session
	// lists it in its hello and takes the author's signed heads and pages
	// from the peer, verified as they are from the author. Nil: never. It
	// must not block.
	FollowVia func(book, holder identity.ID) bool
	// Reader is whom the peer reads as, if not only itself: a person the
	// peer is a device of. Own books named for Reader are shared with the
	// peer like those named for the peer. Zero: the peer only.
	Reader identity.ID
	// ShareOwn reports whether to share with the peer an own book, by its
	// name, that is not named for the peer (nor Reader): a book read by
	// several, a task's files. The session takes them with those named for
	// the peer, in its one pass over the books as it starts; Share adds
	// one made later. Nil: none. It must not block.
	ShareOwn func(name string) bool
	// Grow decides, before anything of a message is stored, whether a
	// replica may grow: a have taking book from length from to the head
	// length to, with the pages pushed along (the first of [from, to);
	// the others are pulled later), or data bringing pages [from, to). An
	// error refuses it: nothing of the message is stored and the session
	// ends, the error's text the bye's reason (the peer's Run returns it).
	// Nil: every growth is taken. It must not block.
	Grow func(book identity.ID, from, to uint64, pages [][]byte) error
	// Previews sends the peer, as this profile's writes to a book shared
	// with it begin, a preview of their pages (version 3, TypePreview):
	// for a peer that shows them (a member), not for one that only keeps
	// them (a mirror). The have follows once they are stored.
	Previews bool
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = logs.Default()
	}
	if c.PushPages == 0 {
		c.PushPages = 32
	}
	if c.PushBytes == 0 {
		c.PushBytes = 64 << 10
	}
	if c.DataBytes == 0 {
		c.DataBytes = 256 << 10
	}
	if c.Window == 0 {
		c.Window = 16384
	}
	if c.Version == 0 || c.Version > Version {
		c.Version = Version
	}
}

// Event is one message sent or received, for devtools.
type Event struct {
	Send       bool // sent by this peer; else received
	Type       Type
	Book       identity.ID // zero for hello and bye
	Start, End uint64      // the pages carried or asked for, or the head's [from, length)
	Bytes      int         // encoded size
	Pages      int         // pages carried
	Hashes     int         // proof hashes carried
}

// Stats counts what crossed the port, per direction.
type Stats struct {
	Sent, Recv Counts
}

// Counts are the totals of one direction.
type Counts struct {
	Messages, Bytes, Pages, Hashes int
	ByType                         map[Type]int
}

func (c *Counts) add(e *Event) {
	if c.ByType == nil {
		c.ByType = make(map[Type]int)
	}
	c.Messages++
	c.Bytes += e.Bytes
	c.Pages += e.Pages
	c.Hashes += e.Hashes
	c.ByType[e.Type]++
}

// A Session replicates, over one port, every book two peers share: the
// books this profile authors for the peer (named "${self}-${peer}-…", or
// added with Share) and the replicas of the peer's books (those whose
// author, verified or expected, is the peer). Run it once per port.
type Session struct {
	db   *journal.DB
	port port.Port
	peer identity.ID
	cfg  Config
	// maxServe and maxBooks are MaxServe and MaxBooks (tests lower them,
	// export_test.go); immutable once Run starts.
	maxServe uint64
	maxBooks int
	ver      atomic.Uint32 // the version agreed: 1 until the peer's hello says more

	sendMu sync.Mutex // held by each send of the writer; ended under it
	ended  bool       // a bye was sent (fail): the writer sends no more

	mu     sync.Mutex // guards the fields below
	agreed bool       // the peer's first hello arrived
	offer  Offer      // the peer's offer
	// Version 2: books this profile holds and may serve, by prefix (Serve
	// set); books the peer listed that it does not hold yet, with the
	// listed length; replicas followed through the peer, by prefix.
	held    map[[PrefixSize]byte]identity.ID
	pending map[[PrefixSize]byte]uint64
	viaKeys map[[PrefixSize]byte]identity.ID
	own     map[identity.ID]*ownBook
	reps    map[identity.ID]*repBook
	ctrl    []queued      // encoded messages to send before anything else
	dirty   []identity.ID // own books whose new head the peer lacks, in order
	serving []identity.ID // own books with wanted ranges to send, round robin
	adds    []identity.ID // books created or followed since the last look
	others  []identity.ID // replicas of other authors followed since the last look
	stats   Stats
	wake    chan struct{} // signals the writer; capacity 1

	// What the DB hook saw, for the writer to take under mu. The hook takes
	// only hmu: mu is held while books are read (their locks are held while
	// hooks run), so a hook that waited for mu could deadlock.
	hmu      sync.Mutex
	hAppends map[identity.ID]struct{} // books appended to, or held books that grew
	hAdds    []identity.ID            // books created for the peer, or followed from it
	hOthers  []identity.ID            // replicas of other authors followed (version 2)
	hWriting []*journal.Pending       // own appends being written (Config.Previews)
}

// queued is an encoded control message and its event.
type queued struct {
	msg []byte
	ev  Event
}

// ownBook is a book this profile authors for the peer, or (held) a
// replica it serves to the peer. Owned by Session.mu.
type ownBook struct {
	book   *journal.Book
	held   bool   // not authored: a replica this profile holds whole and serves
	told   uint64 // held: the length the peer was told this profile serves at its own
	known  bool   // the peer's length is known (its hello arrived)
	listed bool   // the peer's hello listed the book: it follows it already
	peer   uint64 // the head length the peer has, as far as we know
	sent   uint64 // the longest head the peer holds from us (sent, or listed in its hello): wants may reach it
	dirty  bool   // in Session.dirty
	serve  journal.Ranges
	queued bool // in Session.serving
	forked bool // the peer proved a fork of it: offered no more
	// appended: this profile wrote to it during the session. If the peer
	// then says it holds as many pages (or more), they were written
	// elsewhere too: the head goes alone, for the peer to compare.
	appended bool
}

// repBook is a replica of the peer's book. Owned by Session.mu.
type repBook struct {
	book     *journal.Book
	via      bool   // another author's book, followed through the peer (a holder)
	at       uint64 // the length of this replica's head the peer proves against (wants need at = Len)
	told     uint64 // the length last listed to the peer
	sparse   bool
	fetch    journal.Ranges // for sparse replicas: what the application asked for
	inflight journal.Ranges // asked for, not yet received
	forked   bool           // the author signed two heads of it: followed no further
	dropped  uint64         // the longest head of the peer's dropped as moved (its data is asked again)
	unlisted bool           // followed via the peer before its first hello: listed once it comes
}

// NewSession prepares a session of db over p.
func NewSession(db *journal.DB, p port.Port, cfg Config) *Session {
	cfg.defaults()
	s := &Session{
		db: db, port: p, peer: p.Remote(), cfg: cfg, maxServe: MaxServe, maxBooks: MaxBooks,
		own:     make(map[identity.ID]*ownBook),
		reps:    make(map[identity.ID]*repBook),
		held:    make(map[[PrefixSize]byte]identity.ID),
		pending: make(map[[PrefixSize]byte]uint64),
		viaKeys: make(map[[PrefixSize]byte]identity.ID),
		wake:    make(chan struct{}, 1),
	}
	s.ver.Store(1)
	return s
}

// Version returns the protocol version the two peers agreed on: 1 until
// the peer's hello arrives, then the highest both offer.
func (s *Session) Version() uint { return uint(s.ver.Load()) }

// myOffer is what this session offers in its hello.
func (s *Session) myOffer() Offer {
	o := Offer{Versions: 1<<s.cfg.Version - 1}
	if s.cfg.Serve != nil {
		o.Caps |= CapServe
	}
	return o
}

// peerServesLocked reports whether the peer may serve books it does not
// author: both speak version 2 and it offered CapServe.
func (s *Session) peerServesLocked() bool {
	return s.ver.Load() >= 2 && s.offer.Caps&CapServe != 0
}

// encode encodes a message in the version agreed.
func (s *Session) encode(t Type, body any) ([]byte, error) {
	return EncodeVersion(uint(s.ver.Load()), t, body)
}

func prefixOf(key identity.ID) [PrefixSize]byte { return [PrefixSize]byte(key[:PrefixSize]) }

// Stats returns what has crossed the port so far.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(c Counts) Counts {
		m := make(map[Type]int, len(c.ByType))
		for k, v := range c.ByType {
			m[k] = v
		}
		c.ByType = m
		return c
	}
	return Stats{Sent: cp(s.stats.Sent), Recv: cp(s.stats.Recv)}
}

// Run replicates until the port closes (nil), ctx ends (ctx.Err()) or the
// peer breaks the protocol (an error wrapping ErrProtocol, or the journal's
// verification error); then it closes the port. Nothing that failed
// verification is stored.
func (s *Session) Run(ctx context.Context) error {
	defer s.port.Close()
	unsubscribe := s.db.Subscribe(s.onDBEvent)
	defer unsubscribe()
	if s.cfg.Previews && s.cfg.Version >= 3 {
		defer s.db.Writing(s.onWriting)()
	}
	if err := s.load(ctx); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.readLoop(ctx) })
	g.Go(func() error { return s.writeLoop(ctx) })
	err := g.Wait()
	if errors.Is(err, port.ErrClosed) || errors.Is(err, errDone) {
		return nil
	}
	return err
}

// errDone ends the loops when the peer said bye or closed the port.
var errDone = errors.New("replication: done")

// load finds the books shared with the peer and queues the first hello.
func (s *Session) load(ctx context.Context) error {
	infos, err := s.db.Catalog(ctx)
	if err != nil {
		return err
	}
	hello := &Hello{Full: true}
	own := make(map[identity.ID]*ownBook)
	reps := make(map[identity.ID]*repBook)
	held := make(map[[PrefixSize]byte]identity.ID)
	// The books shared with the peer, opened below with one read of their
	// records (journal.DB.Preload) rather than a round trip each.
	const (
		shareOwn = iota // written for the peer
		shareRep        // the peer's, replicated here
		shareVia        // a third's, followed through the peer
	)
	type shared struct {
		info *journal.BookInfo
		kind int
	}
	var books []shared
	var keys []identity.ID
	for i := range infos {
		info := &infos[i]
		if s.other(info) && s.cfg.Serve != nil {
			held[prefixOf(info.Key)] = info.Key
		}
		kind := -1
		switch {
		case info.Writable:
			if r, ok := journal.NameReader(info.Name); ok && s.reads(r) || s.cfg.ShareOwn != nil && s.cfg.ShareOwn(info.Name) {
				kind = shareOwn
			}
		case info.Author == s.peer:
			kind = shareRep
		case s.other(info) && s.cfg.FollowVia != nil && s.cfg.FollowVia(info.Key, s.peer):
			kind = shareVia
		}
		if kind >= 0 {
			books = append(books, shared{info, kind})
			keys = append(keys, info.Key)
		}
	}
	_ = s.db.Preload(ctx, keys) // a book that does not load fails its Get below
	for _, sb := range books {
		info := sb.info
		b, err := s.db.Get(ctx, info.Key)
		if err != nil {
			return err
		}
		switch sb.kind {
		case shareOwn:
			own[info.Key] = &ownBook{book: b}
		case shareRep:
			r := s.newRep(b)
			r.at, r.told = info.Head.Length, info.Head.Length
			reps[info.Key] = r
			hello.Books = append(hello.Books, HelloBook{Prefix: info.Key[:PrefixSize], Length: info.Head.Length})
		case shareVia:
			r := s.newRep(b)
			r.via, r.told = true, info.Head.Length
			reps[info.Key] = r
			hello.Books = append(hello.Books, HelloBook{Prefix: info.Key[:PrefixSize], Length: info.Head.Length})
		}
	}
	if s.cfg.Version >= 2 {
		hello.AddOffer(s.myOffer())
	}
	// The DB hook runs already (so nothing created meanwhile is missed):
	// the maps are filled under the lock it takes.
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, o := range own {
		if _, ok := s.own[k]; !ok {
			s.own[k] = o
		}
	}
	for k, r := range reps {
		if _, ok := s.reps[k]; !ok {
			s.reps[k] = r
			if r.via {
				s.viaKeys[prefixOf(k)] = k
			}
		}
	}
	for p, k := range held {
		s.held[p] = k
	}
	if err := s.queueLocked(TypeHello, hello, Event{}); err != nil {
		return err
	}
	for _, r := range s.reps {
		s.wantLocked(r)
	}
	return nil
}

// reads reports whether the peer reads books named for reader: its own,
// and its person's (Config.Reader).
func (s *Session) reads(reader identity.ID) bool {
	return reader == s.peer || !s.cfg.Reader.IsZero() && reader == s.cfg.Reader
}

// other reports whether a book is a replica of a third profile's book (its
// author is neither this profile nor the peer): version 2 may serve it, or
// follow it through the peer.
func (s *Session) other(info *journal.BookInfo) bool {
	return s.cfg.Version >= 2 && !info.Writable && info.Author != s.peer && info.Author != (identity.ID{})
}

func (s *Session) newRep(b *journal.Book) *repBook {
	return &repBook{book: b, sparse: s.cfg.Sparse != nil && s.cfg.Sparse(b)}
}

// Share replicates an own book to the peer for the rest of this session,
// even if its name does not say so. Shared before the peer's hello, it
// waits for it: a peer that holds the book already gets nothing again.
func (s *Session) Share(b *journal.Book) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.own[b.Key()]; ok || !b.Writable() {
		return
	}
	o := &ownBook{book: b}
	s.own[b.Key()] = o
	if s.agreed {
		o.known = true
		s.markDirtyLocked(b.Key(), o)
	}
}

// Fetch asks for pages [start, end) of a sparse replica (clipped to the
// book's length as it grows). Pages already held are not asked again.
func (s *Session) Fetch(key identity.ID, start, end uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reps[key]
	if !ok {
		return fmt.Errorf("replication: book %s is not replicated from %s: %w", key.Short(), s.peer.Short(), journal.ErrNotFound)
	}
	r.fetch = r.fetch.Add(start, end)
	s.wantLocked(r)
	return nil
}

// onDBEvent is the DB hook: it only records what changed and wakes the
// writer (hooks must not call back into the DB, nor wait for mu).
func (s *Session) onDBEvent(ev journal.Event) {
	switch ev.Type {
	case journal.EventAppend:
		s.hmu.Lock()
		if s.hAppends == nil {
			s.hAppends = make(map[identity.ID]struct{})
		}
		s.hAppends[ev.Book] = struct{}{}
		s.hmu.Unlock()
	case journal.EventCreate:
		if r, ok := journal.NameReader(ev.Name); !ok || !s.reads(r) {
			return
		}
		s.hmu.Lock()
		s.hAdds = append(s.hAdds, ev.Book)
		s.hmu.Unlock()
	case journal.EventHead, journal.EventPut:
		if s.cfg.Serve == nil {
			return // only held books care: they may have become whole
		}
		s.hmu.Lock()
		if s.hAppends == nil {
			s.hAppends = make(map[identity.ID]struct{})
		}
		s.hAppends[ev.Book] = struct{}{}
		s.hmu.Unlock()
	case journal.EventFollow:
		s.hmu.Lock()
		if ev.Peer == s.peer {
			s.hAdds = append(s.hAdds, ev.Book)
		} else if s.cfg.Version >= 2 && (s.cfg.Serve != nil || s.cfg.FollowVia != nil) {
			s.hOthers = append(s.hOthers, ev.Book)
		}
		s.hmu.Unlock()
	default:
		return
	}
	s.signal()
}

// onWriting is the Writing hook (Config.Previews): like onDBEvent, it
// records the append and wakes the writer, which previews it if the peer
// is level with the book. Appends written faster than the writer sends
// are left to their haves.
func (s *Session) onWriting(p *journal.Pending) {
	s.hmu.Lock()
	if len(s.hWriting) < maxPreviewQueue {
		s.hWriting = append(s.hWriting, p)
	}
	s.hmu.Unlock()
	s.signal()
}

// maxPreviewQueue bounds the appends waiting for a preview.
const maxPreviewQueue = 16

// takeHooked applies what the hook saw. Called with mu held.
func (s *Session) takeHookedLocked() {
	s.hmu.Lock()
	appends, adds, others := s.hAppends, s.hAdds, s.hOthers
	s.hAppends, s.hAdds, s.hOthers = nil, nil, nil
	s.hmu.Unlock()
	for key := range appends {
		if o, ok := s.own[key]; ok {
			o.appended = !o.held
			s.markDirtyLocked(key, o)
		}
	}
	s.adds = append(s.adds, adds...)
	s.others = append(s.others, others...)
}

func (s *Session) markDirtyLocked(key identity.ID, o *ownBook) {
	if !o.dirty && o.known && !o.forked {
		o.dirty = true
		s.dirty = append(s.dirty, key)
		s.signal()
	}
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// queueLocked encodes a control message and queues it for the writer.
func (s *Session) queueLocked(t Type, body any, ev Event) error {
	msg, err := s.encode(t, body)
	if err != nil {
		return err
	}
	ev.Type = t
	s.ctrl = append(s.ctrl, queued{msg, ev})
	s.signal()
	return nil
}

// wantLocked asks for what replica r lacks and has not asked for, up to
// the window.
func (s *Session) wantLocked(r *repBook) {
	length := r.book.Len()
	if length == 0 {
		return
	}
	if length != r.at {
		// The head moved on elsewhere (another session, another source):
		// the peer proves against the head it knows we hold, so it must
		// learn this one first. An author holds every head of its book; a
		// holder says whether it can serve this one (a have, or a hello
		// entry of the same length).
		if r.via && !s.peerServesLocked() {
			return
		}
		if r.told != length {
			r.told = length
			key := r.book.Key()
			s.queueLocked(TypeHello, &Hello{Books: []HelloBook{{Prefix: key[:PrefixSize], Length: length}}}, Event{})
		}
		if r.via {
			return
		}
		r.at = length
	}
	target := journal.Ranges{{Start: 0, End: length}}
	if r.sparse {
		target = nil
		for _, f := range r.fetch {
			if f.Start < length {
				target = target.Add(f.Start, min(f.End, length))
			}
		}
	}
	have := r.book.Have()
	budget := s.cfg.Window - min(s.cfg.Window, r.inflight.Count())
	var ranges []journal.Range
	for _, t := range target {
		for _, m := range have.Missing(t.Start, t.End) {
			for _, m := range r.inflight.Missing(m.Start, m.End) {
				if budget == 0 || len(ranges) == MaxWantRanges {
					break
				}
				end := min(m.End, m.Start+budget)
				ranges = append(ranges, journal.Range{Start: m.Start, End: end})
				budget -= end - m.Start
			}
		}
	}
	if len(ranges) == 0 {
		return
	}
	for _, rg := range ranges {
		r.inflight = r.inflight.Add(rg.Start, rg.End)
	}
	key := r.book.Key()
	s.queueLocked(TypeWant, &Want{Key: key[:], Ranges: ranges}, Event{Book: key, Start: ranges[0].Start, End: ranges[len(ranges)-1].End})
}

// The session receives messages ahead of the one it handles (a handler
// may wait on a store write for tens of milliseconds, more while the
// browser is busy): at most readAhead of them, and readAheadBytes of
// them together (a message larger counts as that). New messages (small
// pushes) keep arriving and are previewed while a slow write holds the
// handler; a catch-up's data messages (up to 1 MiB each) stay few.
// previewPages is the most pages of a push previewed as it arrives.
const (
	readAhead      = 256
	readAheadBytes = 4 << 20
	previewPages   = 16
)

// received is a message received and decoded, for the handler. err ends
// the messages: the port's error, or (bad) why the message did not decode.
type received struct {
	v         uint
	m         any
	size      int
	err       error
	bad       bool
	previewed bool  // checked (and shown) as it arrived
	held      int64 // of the read-ahead budget, released once handled
}

// readLoop receives and handles messages until the port closes. Messages
// are received ahead of the one handled (readAhead), so that a page
// pushed while an earlier one is being stored is verified and shown at
// once (preview), then handled in order; those received before the port
// closed are handled before the session ends.
func (s *Session) readLoop(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	in := make(chan received, readAhead)
	budget := semaphore.NewWeighted(readAheadBytes)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.receive(ctx, in, budget)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	for r := range in {
		if r.bad {
			return s.fail(ctx, r.err)
		}
		if r.err != nil {
			return r.err
		}
		if agreed := uint(s.ver.Load()); r.v > agreed {
			return s.fail(ctx, fmt.Errorf("%w: a message of version %d, the version agreed is %d", ErrProtocol, r.v, agreed))
		}
		if _, ok := r.m.(*Preview); ok && !r.previewed {
			// Received before the hello that agreed its version was
			// handled: checked now.
			if err := s.preview(r.m); err != nil {
				return s.fail(ctx, fmt.Errorf("%w: preview: %v", ErrProtocol, err))
			}
		}
		err := s.handle(ctx, r.m, r.size)
		budget.Release(r.held)
		if err != nil {
			return s.fail(ctx, err)
		}
	}
	return ctx.Err() // receive stopped: the loop is ending
}

// receive receives and decodes messages into in until the port closes (or
// a message does not decode: the error is the last one), then closes in.
// Each message holds its size of budget (at most all of it) until handled.
func (s *Session) receive(ctx context.Context, in chan<- received, budget *semaphore.Weighted) {
	defer close(in)
	for {
		msg, err := s.port.Recv(ctx)
		var r received
		if err == nil {
			r.held = min(int64(len(msg)), readAheadBytes)
			if budget.Acquire(ctx, r.held) != nil {
				return // ctx ended: the loop is ending
			}
			r.size = len(msg)
			r.v, r.m, err = DecodeVersion(msg)
			r.bad = err != nil
		}
		if err == nil && r.v <= uint(s.ver.Load()) {
			r.previewed = true
			if perr := s.preview(r.m); perr != nil {
				// A preview that does not verify: the author sends none
				// (a have's is caught again when it is handled).
				err, r.bad = fmt.Errorf("%w: preview: %v", ErrProtocol, perr), true
			}
		}
		r.err = err
		select {
		case in <- r:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// preview shows the pages pushed with a have, or previewed as the author
// writes them, to a replica held here as they arrive (journal.Book.Preview),
// before they wait for earlier messages to be handled. Only small pushes
// (new messages) are; a catch-up's data are shown when stored.
func (s *Session) preview(m any) error {
	h, _ := m.(*Have)
	p, isPreview := m.(*Preview)
	if isPreview {
		h = (*Have)(p)
	}
	if h == nil || h.Push == nil || h.Push.Length != h.Upgrade.Head.Length || len(h.Push.Pages) > previewPages {
		return nil
	}
	s.mu.Lock()
	r := s.reps[h.Upgrade.Head.Key]
	ok := r != nil && !r.forked
	s.mu.Unlock()
	if !ok {
		return nil
	}
	_, err := r.book.Preview(&h.Upgrade, h.Push.Start, h.Push.Pages, &h.Push.Proof)
	if !isPreview {
		return nil // the have is checked again, and answered, in its turn
	}
	return err
}

// fail tells the peer why the session ends, then ends it. A session
// ending on this end (ctx ended: stopped, or its other loop failed) tells
// nothing: what failed then (a store write cut short) is no fault of the
// peer's.
func (s *Session) fail(ctx context.Context, err error) error {
	if errors.Is(err, errDone) || ctx.Err() != nil {
		return err
	}
	s.cfg.Logger.Warn("replication: ending session", "peer", s.peer.Short(), "err", err)
	// The bye is the session's last message: the writer sends nothing
	// after (sendMu).
	s.sendMu.Lock()
	s.ended = true
	s.sendMu.Unlock()
	if msg, e := s.encode(TypeBye, &Bye{Reason: clip(err.Error())}); e == nil {
		_ = s.port.Send(ctx, msg) // best effort: the port closes next
	}
	return err
}

func clip(s string) string {
	if len(s) > 1000 {
		return s[:1000]
	}
	return s
}

func (s *Session) handle(ctx context.Context, m any, size int) error {
	switch m := m.(type) {
	case *Hello:
		s.event(false, Event{Type: TypeHello, Bytes: size})
		return s.onHello(ctx, m)
	case *Have:
		h := &m.Upgrade.Head
		ev := Event{Type: TypeHave, Book: h.Key, Start: m.Upgrade.From, End: h.Length, Bytes: size, Hashes: len(m.Upgrade.Proof)}
		if m.Push != nil {
			ev.Pages, ev.Hashes = len(m.Push.Pages), ev.Hashes+m.Push.Proof.Size()
		}
		s.event(false, ev)
		return s.onHave(ctx, m)
	case *Preview:
		// Shown as it arrived (receive); nothing is stored.
		h := &m.Upgrade.Head
		s.event(false, Event{Type: TypePreview, Book: h.Key, Start: m.Push.Start, End: h.Length, Bytes: size, Pages: len(m.Push.Pages), Hashes: m.Push.Proof.Size()})
		return nil
	case *Want:
		key, _ := keyOf(m.Key)
		s.event(false, Event{Type: TypeWant, Book: key, Start: m.Ranges[0].Start, End: m.Ranges[len(m.Ranges)-1].End, Bytes: size})
		return s.onWant(key, m)
	case *Data:
		key, _ := keyOf(m.Key)
		s.event(false, Event{Type: TypeData, Book: key, Start: m.Start, End: m.Start + uint64(len(m.Pages)), Bytes: size, Pages: len(m.Pages), Hashes: m.Proof.Size()})
		return s.onData(ctx, key, m)
	case *Forked:
		key, _ := keyOf(m.Key)
		s.event(false, Event{Type: TypeForked, Book: key, Bytes: size})
		return s.onForked(key, m)
	case *Bye:
		s.event(false, Event{Type: TypeBye, Bytes: size})
		if m.Reason != "" {
			return fmt.Errorf("replication: peer %s ended the session: %s", s.peer.Short(), m.Reason)
		}
		return errDone
	}
	return nil
}

// onHello agrees on the version (the peer's first hello), learns the
// lengths the peer has of our books, and announces those it is behind on
// (or, for a full hello, does not have at all). Version 2: it also serves
// the books the peer lists that this profile holds (Serve), and learns
// which books the peer, a holder, serves at our length.
func (s *Session) onHello(ctx context.Context, h *Hello) error {
	s.mu.Lock()
	if h.Full && !s.agreed {
		s.agreed, s.offer = true, h.Offer()
		v := Agree(s.myOffer(), s.offer)
		if v == 0 {
			s.mu.Unlock()
			return fmt.Errorf("%w: no common protocol version: the peer speaks %s, this peer %s", ErrProtocol, versions(s.offer), versions(s.myOffer()))
		}
		s.ver.Store(uint32(v))
		s.listViaLocked()
	}
	byPrefix := make(map[[PrefixSize]byte]uint64, len(h.Books))
	for _, b := range h.Books {
		byPrefix[[PrefixSize]byte(b.Prefix)] = b.Length
	}
	delete(byPrefix, OfferPrefix)
	reply := &Hello{}
	for key, o := range s.own {
		p := prefixOf(key)
		n, listed := byPrefix[p]
		delete(byPrefix, p)
		if o.held {
			if listed {
				s.heldListedLocked(key, o, n, reply)
			}
			continue
		}
		if !listed && !h.Full {
			continue
		}
		o.known, o.listed, o.peer = true, listed, n
		// The peer holds our signed head of length n: it may ask for pages
		// under it, proven against it.
		o.sent = max(o.sent, min(n, o.book.Len()))
		// Behind: the new pages go. Ahead of this profile: another writer
		// of this seed was there. Level, when this profile wrote since it
		// opened: another may have been. Then the head goes alone, so that
		// the peer can compare it with its own (buildHave).
		if l := o.book.Len(); l > n || listed && (n > l || n == l && (o.appended || o.book.Unshown())) {
			s.markDirtyLocked(key, o)
		}
	}
	var toServe []listedBook
	if s.ver.Load() >= 2 {
		toServe = s.sortListedLocked(byPrefix)
	}
	s.mu.Unlock()
	return s.serveListed(ctx, toServe, reply)
}

// listedBook is a book the peer listed that this profile may serve.
type listedBook struct {
	key identity.ID
	n   uint64
}

// sortListedLocked sorts the entries of a hello that are not our own
// books: replicas the peer serves at our length (they can be pulled now),
// books this profile holds and may serve (returned, to be opened), and
// books it does not hold yet (pending, served once held). A book both
// follow through each other is served by the one ahead.
func (s *Session) sortListedLocked(byPrefix map[[PrefixSize]byte]uint64) []listedBook {
	var out []listedBook
	for p, n := range byPrefix {
		if key, ok := s.viaKeys[p]; ok && s.peerServesLocked() {
			r := s.reps[key]
			if r.book.Len() == n && n > 0 {
				r.at = n
				s.wantLocked(r)
			}
			// Two holders that follow a book through each other: the one
			// behind is served by the other (below), never left waiting
			// for a have neither would send.
			if n >= r.book.Len() {
				continue
			}
		}
		if s.cfg.Serve == nil {
			continue
		}
		if key, ok := s.held[p]; ok {
			out = append(out, listedBook{key, n})
		} else if len(s.pending) < s.maxBooks {
			s.pending[p] = n
		}
	}
	return out
}

// serveListed opens the held books the peer listed that Serve allows, and
// serves them; reply collects the books served at the peer's length.
func (s *Session) serveListed(ctx context.Context, list []listedBook, reply *Hello) error {
	for _, l := range list {
		if !s.cfg.Serve(l.key, s.peer) {
			continue
		}
		b, err := s.db.Get(ctx, l.key)
		if err != nil {
			return err
		}
		s.mu.Lock()
		o, ok := s.own[l.key]
		if !ok {
			o = &ownBook{book: b, held: true}
			s.own[l.key] = o
		}
		s.heldListedLocked(l.key, o, l.n, reply)
		s.mu.Unlock()
	}
	if len(reply.Books) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueLocked(TypeHello, reply, Event{})
}

// heldListedLocked serves a held book the peer holds n pages of: a have
// when this profile holds more, a hello entry (added to reply) when it
// holds as many (the peer may pull what it lacks), nothing when it holds
// fewer or not the whole book.
func (s *Session) heldListedLocked(key identity.ID, o *ownBook, n uint64, reply *Hello) {
	o.known, o.listed, o.peer = true, true, n
	l, ok := whole(o.book)
	switch {
	case !ok || l < n || o.forked:
	case l > n:
		s.markDirtyLocked(key, o)
	case o.told != n:
		o.told, o.sent = n, max(o.sent, n)
		reply.Books = append(reply.Books, HelloBook{Prefix: key[:PrefixSize], Length: n})
	}
}

// whole returns a replica's length and whether it holds all of it, not
// forked: only then can it prove any range of its head.
func whole(b *journal.Book) (uint64, bool) {
	info := b.Info()
	n := info.Head.Length
	return n, n > 0 && !info.Forked && len(info.Have.Missing(0, n)) == 0
}

// versions writes the versions of an offer, for an error.
func versions(o Offer) string {
	var out []byte
	for v := uint(1); v <= 16; v++ {
		if o.Speaks(v) {
			if len(out) > 0 {
				out = append(out, ',', ' ')
			}
			out = fmt.Appendf(out, "%d", v)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return string(out)
}

// onHave moves a replica to the author's new head and stores pushed pages.
func (s *Session) onHave(ctx context.Context, m *Have) error {
	up := &m.Upgrade
	key := up.Head.Key
	r, err := s.replica(ctx, m)
	if err != nil || r == nil {
		return err
	}
	s.mu.Lock()
	forked, via, serves := r.forked, r.via, s.peerServesLocked()
	s.mu.Unlock()
	if via && !serves {
		return fmt.Errorf("%w: have of book %s, which the peer does not author and did not offer to serve", ErrProtocol, key.Short())
	}
	if forked {
		return nil // the author (or the holder) was told why
	}
	cur := r.book.Len()
	if cur != 0 && up.From != cur && up.Head.Length < cur {
		// A head older than ours: the author wrote from an older state
		// (forked), or it is behind. AcceptHead tells which.
		if _, err := r.book.AcceptHead(ctx, up); !errors.Is(err, journal.ErrStaleHead) {
			if s.moved(r, cur, up.Head.Length, err) {
				return nil
			}
			return s.refuse(r, err)
		}
	}
	if cur := r.book.Len(); cur != 0 && up.From != cur {
		// The author has an old idea of our length: tell it, drop this
		// (and its data proven against this head: it is asked again).
		s.mu.Lock()
		r.dropped = max(r.dropped, up.Head.Length)
		s.mu.Unlock()
		s.retell(r)
		return nil
	}
	if err := s.grow(key, r.book.Len(), up.Head.Length, m.Push); err != nil {
		return err
	}
	if p := m.Push; p != nil && p.Length == up.Head.Length {
		// The head and the pages pushed with it: one write.
		if _, err := r.book.AcceptHeadPages(ctx, up, p.Start, p.Pages, &p.Proof); err != nil {
			if s.moved(r, cur, up.Head.Length, err) {
				return nil
			}
			return s.refuse(r, err)
		}
	} else {
		if _, err := r.book.AcceptHead(ctx, up); err != nil {
			if s.moved(r, cur, up.Head.Length, err) {
				return nil
			}
			return s.refuse(r, err)
		}
		if p != nil {
			if err := r.book.PutRange(ctx, p.Start, p.Pages, p.Length, &p.Proof); err != nil && !s.staleData(r, p.Length, err) {
				return err
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := m.Push; p != nil {
		r.inflight = r.inflight.Remove(p.Start, p.Start+uint64(len(p.Pages)))
	}
	if n := r.book.Len(); n == up.Head.Length {
		// The peer sent the head we hold: it proves against it.
		r.at, r.told = n, n
	}
	s.wantLocked(r)
	return nil
}

// grow asks Config.Grow whether a have may take a replica from length
// from to to, with the pages pushed along that start at from.
func (s *Session) grow(key identity.ID, from, to uint64, p *Data) error {
	if s.cfg.Grow == nil || to <= from {
		return nil
	}
	var pages [][]byte
	if p != nil && p.Start == from {
		pages = p.Pages
	}
	return s.cfg.Grow(key, from, to, pages)
}

// moved reports whether err failed a have of a head of length n, checked
// while the replica's length was was, only because another source (a book
// followed from its author and holders at once) has since moved the
// replica's head on: the sender is not at fault, so nothing is refused;
// the peer is told the new length (it answers from there). A fork is
// never that.
func (s *Session) moved(r *repBook, was, n uint64, err error) bool {
	if errors.Is(err, journal.ErrForked) || r.book.Len() <= was {
		return false
	}
	s.mu.Lock()
	r.dropped = max(r.dropped, n)
	s.mu.Unlock()
	s.retell(r)
	return true
}

// staleData reports whether pages failed only for being proven against a
// head of length n the replica no longer holds (another source moved it
// on) or never took (moved dropped it): they are asked again.
func (s *Session) staleData(r *repBook, n uint64, err error) bool {
	if !errors.Is(err, journal.ErrStaleHead) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return n < r.book.Len() || n <= r.dropped
}

// retell tells the peer the length of replica r: it answers from there.
func (s *Session) retell(r *repBook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, key := r.book.Len(), r.book.Key()
	r.told = n
	s.queueLocked(TypeHello, &Hello{Books: []HelloBook{{Prefix: key[:PrefixSize], Length: n}}}, Event{})
}

// refuse ends the session for a head that failed verification, except a
// fork: the book is followed no further, its author gets the evidence
// (forked) to learn why, and the other books go on.
func (s *Session) refuse(r *repBook, err error) error {
	f := r.book.Fork()
	if !errors.Is(err, journal.ErrForked) || f == nil {
		return err
	}
	s.cfg.Logger.Warn("replication: the author signed two heads of a book: following it from this peer no further", "peer", s.peer.Short(), "book", r.book.Key().Short())
	s.mu.Lock()
	defer s.mu.Unlock()
	r.forked = true
	key := r.book.Key()
	return s.queueLocked(TypeForked, &Forked{Key: key[:], Fork: *f}, Event{Type: TypeForked, Book: key})
}

// onForked takes the peer's proof that this profile forked one of its
// books: the book is offered to the peer no more, and OnFork learns it.
func (s *Session) onForked(key identity.ID, m *Forked) error {
	s.mu.Lock()
	o, ok := s.own[key]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: forked: book %s is not shared with this peer", ErrProtocol, key.Short())
	}
	first := !o.forked
	o.forked, o.serve = true, nil
	s.mu.Unlock()
	if first && o.held {
		s.cfg.Logger.Warn("replication: the peer holds proof that the author of a book this profile serves signed two heads of it: served no more", "peer", s.peer.Short(), "book", key.Short())
		return nil
	}
	if first {
		s.cfg.Logger.Warn("replication: the peer holds proof that this profile signed two heads of a book (written from two places)", "peer", s.peer.Short(), "book", key.Short())
		if s.cfg.OnFork != nil {
			s.cfg.OnFork(key, &m.Fork)
		}
	}
	return nil
}

// replica returns the session's replica of the book of m, following a
// newly announced book if Accept allows, or nil to ignore the announcement.
// An announcement must carry the book's genesis page, naming the peer as
// author: it is verified before anything is stored.
func (s *Session) replica(ctx context.Context, m *Have) (*repBook, error) {
	key := m.Upgrade.Head.Key
	s.mu.Lock()
	r, ok := s.reps[key]
	n := len(s.reps)
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	if n >= s.maxBooks || s.cfg.Accept != nil && !s.cfg.Accept(key) || m.Push == nil || m.Push.Start != 0 {
		return nil, nil
	}
	if err := s.checkAnnounce(m); err != nil {
		return nil, err
	}
	if err := s.grow(key, 0, m.Upgrade.Head.Length, m.Push); err != nil {
		return nil, err // before the replica is recorded
	}
	b, err := s.db.ReaderFrom(ctx, key, s.peer)
	if err != nil {
		return nil, fmt.Errorf("%w: announced book %s: %w", ErrProtocol, key.Short(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reps[key]; ok {
		return r, nil
	}
	r = s.newRep(b)
	s.reps[key] = r
	return r, nil
}

// checkAnnounce verifies a new book's head and pushed genesis page.
func (s *Session) checkAnnounce(m *Have) error {
	head := &m.Upgrade.Head
	if err := head.Key.Check(); err != nil {
		return fmt.Errorf("%w: announced book: %w", ErrProtocol, err)
	}
	if err := head.Verify(); err != nil {
		return err
	}
	if _, err := journal.VerifyRange(head, 0, m.Push.Pages, &m.Push.Proof); err != nil {
		return err
	}
	g, err := journal.DecodeGenesis(m.Push.Pages[0])
	if err != nil {
		return err
	}
	if g.Key != head.Key || g.Author != s.peer {
		return fmt.Errorf("%w: announced book %s is by %s, not by the peer %s", journal.ErrBadGenesis, head.Key.Short(), g.Author.Short(), s.peer.Short())
	}
	return nil
}

// onWant queues the ranges the peer asks for.
func (s *Session) onWant(key identity.ID, w *Want) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.own[key]
	if !ok {
		return fmt.Errorf("%w: want for book %s, not shared with this peer", ErrProtocol, key.Short())
	}
	if o.forked {
		return nil // asked before the peer found the fork
	}
	for _, r := range w.Ranges {
		if r.End > o.sent {
			return fmt.Errorf("%w: want [%d, %d) of book %s beyond the head sent (%d)", ErrProtocol, r.Start, r.End, key.Short(), o.sent)
		}
		o.serve = o.serve.Add(r.Start, r.End)
	}
	if o.serve.Count() > s.maxServe {
		return fmt.Errorf("%w: %d pages of book %s asked for at once", ErrProtocol, o.serve.Count(), key.Short())
	}
	if !o.queued {
		o.queued = true
		s.serving = append(s.serving, key)
		s.signal()
	}
	return nil
}

// onData stores pages the replica asked for.
func (s *Session) onData(ctx context.Context, key identity.ID, d *Data) error {
	end := d.Start + uint64(len(d.Pages))
	s.mu.Lock()
	r, ok := s.reps[key]
	asked := ok && len(r.inflight.Missing(d.Start, end)) == 0
	s.mu.Unlock()
	if !asked {
		return fmt.Errorf("%w: data [%d, %d) of book %s that was not asked for", ErrProtocol, d.Start, end, key.Short())
	}
	if d.Length < r.book.Len() {
		// Proven against a head we held when we asked; a newer one came
		// since from another source: ask again, against it.
		s.mu.Lock()
		defer s.mu.Unlock()
		r.inflight = r.inflight.Remove(d.Start, end)
		s.wantLocked(r)
		return nil
	}
	if s.cfg.Grow != nil {
		if err := s.cfg.Grow(key, d.Start, end, d.Pages); err != nil {
			return err
		}
	}
	if err := r.book.PutRange(ctx, d.Start, d.Pages, d.Length, &d.Proof); err != nil {
		if !s.staleData(r, d.Length, err) {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.inflight = r.inflight.Remove(d.Start, end)
	s.wantLocked(r)
	return nil
}

func (s *Session) event(send bool, e Event) {
	e.Send = send
	s.mu.Lock()
	if send {
		s.stats.Sent.add(&e)
	} else {
		s.stats.Recv.add(&e)
	}
	s.mu.Unlock()
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}
