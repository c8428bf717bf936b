package tabs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsonhead"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/internal/subs"
)

// Service is what the writer tab runs for the profile: its App.
type Service interface {
	// Do carries out one call: the JS method's name and its arguments as
	// a JSON array; the result is JSON.
	Do(ctx context.Context, method string, args json.RawMessage) (json.RawMessage, error)
	// Subscribe calls fn with each event, as JSON, in order; fn must not block.
	Subscribe(fn func(event json.RawMessage)) (cancel func())
	ID() identity.ID
	// State is the profile's connection state (online, offline…).
	State() string
	Close() error
}

// Lock is the profile's exclusive lock, shared by its tabs.
type Lock interface {
	// Acquire waits until this tab holds the lock, or ctx ends. With
	// steal, it takes the lock from the tab that holds it, at once.
	Acquire(ctx context.Context, steal bool) (Held, error)
}

// Held is a lock this tab holds.
type Held interface {
	// Lost is closed when another tab stole the lock.
	Lost() <-chan struct{}
	// Release gives the lock up.
	Release()
}

// Bus carries messages between the tabs of a profile.
type Bus interface {
	// Post sends msg to every other tab.
	Post(msg []byte) error
	// Messages are the other tabs' messages; the channel is closed with the bus.
	Messages() <-chan []byte
	Close() error
}

// Config configures a tab.
type Config struct {
	Lock Lock
	Bus  Bus
	// Open opens the profile as its writer (called each time this tab
	// becomes the writer).
	Open   func(ctx context.Context) (Service, error)
	Logger logs.Logger
	// Ping is how often a follower checks that the writer is alive (1 s).
	Ping time.Duration
	// Patience is how long a follower waits for the writer to answer a
	// hello before it takes the lock (5 s).
	Patience time.Duration
	// Awake, if set, reports whether this tab runs normally. A writer
	// that is not awake answers no hello and takes no call, so its
	// followers take the lock. In a browser a frozen page still gets its
	// BroadcastChannel messages (and Go runs for each, its timers too),
	// but its browser timers, storage and network stand still: Awake must
	// be told by a browser timer (setInterval) that fired lately.
	Awake func() bool
	// Partial marks a tab whose Service serves some calls only (a db
	// alone: tm.vault, tm.DB). It writes the profile only while no full
	// tab wants to: a full tab that finds it the writer sends it no call
	// and asks it to yield, and it gives the lock up to that tab, then
	// follows it.
	Partial bool
}

// Errors.
var (
	// ErrWriterGone: the writer tab closed or stopped while carrying out a
	// call that is not safe to repeat; it may or may not have been done.
	ErrWriterGone = errors.New("tabs: the tab that was carrying this out closed before it answered: it may or may not have been done (look before trying again)")
	// ErrClosed: the tab is closed.
	ErrClosed = errors.New("tabs: this tab is closed")
)

// Retry is how a call in flight is treated when the writer changes.
type retry int

const (
	resend retry = iota // harmless to repeat: sent again as it is
	once                // a send: sent again with retry set (room.SendOnce)
	fail                // not safe to repeat: fails with ErrWriterGone
)

// retries names the calls that are not sent again as they are.
var retries = map[string]retry{"send": once, "createTask": fail, "sendMany": fail, "reset": fail, "db.add": fail}

// envelope is one bus message (see the package doc).
type envelope struct {
	T      string          `json:"t"`
	From   string          `json:"from"`
	To     string          `json:"to,omitempty"`
	ID     string          `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Event  json.RawMessage `json:"event,omitempty"`
	Peer   string          `json:"peer,omitempty"`
	State  string          `json:"state,omitempty"`
	// Partial: the writer of a pong or writer message serves some calls
	// only (Config.Partial).
	Partial bool `json:"partial,omitempty"`
}

// call is a call of this tab's, carried to another tab.
type call struct {
	method string
	args   json.RawMessage
	sentTo string // the tab it was last sent to
	done   chan result
}

type result struct {
	data json.RawMessage
	err  error
}

// maxDone bounds the writer's memory of answered calls (for a call a
// follower sends again to the same writer).
const maxDone = 256

// maxRemembered bounds a reply the writer remembers: a bigger one (an
// export) is made again if asked again.
const maxRemembered = 64 << 10

// Tab is one tab of a profile: its writer or a follower.
type Tab struct {
	// othersSeen: another tab of the profile has posted on the bus (a
	// writer posts its service's events only then: posts).
	othersSeen atomic.Bool
	cfg        Config
	self       string // this tab's random id
	log        logs.Logger

	subs   subs.List[json.RawMessage]
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	steal  chan struct{} // a follower asks the lock loop to steal
	reopen chan struct{} // a reset deleted the profile: the writer opens it afresh
	// tookOver tells the bus loop this tab became the writer
	tookOver chan struct{}
	yield    chan struct{} // a full tab asks this partial writer to give the lock up

	mu      sync.Mutex
	writer  string // the writer tab's id; self when this tab is it; "" unknown
	partial bool   // the writer is a partial one (Config.Partial)
	// partialSeen is when a partial tab last said hello to this writer:
	// book events are posted only while one follows (posts).
	partialSeen time.Time
	svc         Service       // when this tab is the writer and its profile is open
	ready       chan struct{} // closed when svc is set; replaced when it goes
	id          identity.ID   // the profile's id, once known
	state       string        // the profile's connection state, as last known
	seq         uint64        // call ids
	pending     map[string]*call
	running     map[string]context.CancelFunc // the writer's calls in flight, by id
	answered    map[string]envelope           // the writer's recent replies, by id
	order       []string                      // answered's ids, oldest first
	pingSent    time.Time                     // an unanswered hello's time; zero if none
	known       chan struct{}                 // closed when this tab first knows the profile (writer or follower)
	openErr     error                         // the first Open's error, if it failed
	closed      bool
}

// Start joins the profile's tabs: this tab becomes the writer if no other
// tab holds the lock, else a follower of the writer. It returns once the
// profile is known: open here, or answered for by the writer.
func Start(ctx context.Context, cfg Config) (*Tab, error) {
	if cfg.Ping <= 0 {
		cfg.Ping = time.Second
	}
	if cfg.Patience <= 0 {
		cfg.Patience = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logs.Default()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	t := &Tab{cfg: cfg, self: hex.EncodeToString(b[:]), steal: make(chan struct{}, 1), reopen: make(chan struct{}, 1), tookOver: make(chan struct{}, 1), yield: make(chan struct{}, 1),
		ready: make(chan struct{}), pending: make(map[string]*call), running: make(map[string]context.CancelFunc),
		answered: make(map[string]envelope), known: make(chan struct{})}
	t.log = logs.With(cfg.Logger, "tab", t.self)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Add(2)
	go t.lockLoop()
	go t.busLoop()
	t.post(envelope{T: "hello", Partial: t.cfg.Partial})
	select {
	case <-t.known:
	case <-ctx.Done():
		t.Close()
		return nil, ctx.Err()
	}
	t.mu.Lock()
	err := t.openErr
	t.mu.Unlock()
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// ID is the profile's id.
func (t *Tab) ID() identity.ID {
	t.mu.Lock()
	svc, id := t.svc, t.id
	t.mu.Unlock()
	if svc != nil {
		return svc.ID() // a restore may have changed it
	}
	return id
}

// State is the profile's connection state, as its writer last said.
func (t *Tab) State() string {
	t.mu.Lock()
	svc, state := t.svc, t.state
	t.mu.Unlock()
	if svc != nil {
		return svc.State()
	}
	return state
}

// Relay is the URL of the relay this tab's service is on, if it is the
// writer and its service says (a Relay method); else "".
func (t *Tab) Relay() string {
	t.mu.Lock()
	svc := t.svc
	t.mu.Unlock()
	if r, ok := svc.(interface{ Relay() string }); ok {
		return r.Relay()
	}
	return ""
}

// Writer reports whether this tab is the profile's writer.
func (t *Tab) Writer() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.writer == t.self && t.svc != nil
}

// Role is RoleWriter or RoleFollower.
func (t *Tab) Role() string {
	if t.Writer() {
		return RoleWriter
	}
	return RoleFollower
}

// Subscribe calls fn with every event of the profile, as JSON, in order;
// fn must not block.
func (t *Tab) Subscribe(fn func(json.RawMessage)) (cancel func()) { return t.subs.Add(fn) }

// emit hands an event to this tab's subscribers.
func (t *Tab) emit(ev json.RawMessage) { t.subs.Emit(ev) }

// Do carries out a call: here if this tab is the writer, else at the
// writer's tab.
func (t *Tab) Do(ctx context.Context, method string, args json.RawMessage) (json.RawMessage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	if svc := t.svc; svc != nil && t.writer == t.self {
		t.mu.Unlock()
		data, err := svc.Do(ctx, method, args)
		t.after(method, err)
		return data, err
	}
	t.seq++
	id := fmt.Sprintf("%s-%d", t.self, t.seq)
	if retries[method] == once {
		args = withOptions(args, 2, map[string]any{"nonce": id})
	}
	c := &call{method: method, args: args, done: make(chan result, 1)}
	t.pending[id] = c
	writer := t.target()
	t.mu.Unlock()
	if writer != "" {
		t.sendCall(id, c, writer)
	}
	select {
	case r := <-c.done:
		return r.data, r.err
	case <-ctx.Done():
		t.mu.Lock()
		delete(t.pending, id)
		to := c.sentTo
		t.mu.Unlock()
		if to != "" && to != t.self {
			t.post(envelope{T: "cancel", To: to, ID: id})
		}
		if t.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, ctx.Err()
	}
}

// sendCall sends (or, when this tab became the writer, runs) call id.
func (t *Tab) sendCall(id string, c *call, to string) {
	t.mu.Lock()
	c.sentTo = to
	args := c.args
	t.mu.Unlock()
	if to == t.self {
		go t.runLocal(id, c, args)
		return
	}
	t.post(envelope{T: "call", To: to, ID: id, Method: c.method, Args: args})
}

// runLocal runs a call of this tab's on its own service: it became the
// writer while the call was in flight.
func (t *Tab) runLocal(id string, c *call, args json.RawMessage) {
	t.mu.Lock()
	ready := t.ready
	t.mu.Unlock()
	select {
	case <-ready:
	case <-t.ctx.Done():
		return
	}
	svc := t.service()
	if svc == nil {
		return // not the writer any more: the next writer gets it
	}
	data, err := svc.Do(t.ctx, c.method, args)
	t.deliver(id, t.self, result{data, err})
	t.after(c.method, err)
}

// after follows a call this tab carried out as the writer: a reset
// deleted the profile, which the writer then opens afresh (a new
// identity) once the call is answered.
func (t *Tab) after(method string, err error) {
	if method == "reset" && err == nil {
		select {
		case t.reopen <- struct{}{}:
		default:
		}
	}
}

// deliver ends pending call id with r, if it was last sent to from.
func (t *Tab) deliver(id, from string, r result) {
	t.mu.Lock()
	c := t.pending[id]
	if c == nil || c.sentTo != from {
		t.mu.Unlock()
		return
	}
	delete(t.pending, id)
	t.mu.Unlock()
	c.done <- r
}

// target is the tab this tab's calls go to: the writer, unless it is a
// partial one and this tab is not (its calls then wait for the full tab it
// yields to); "" for none. t.mu is held.
func (t *Tab) target() string {
	if t.partial && !t.cfg.Partial {
		return ""
	}
	return t.writer
}

// service is the writer's open service, or nil.
func (t *Tab) service() Service {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.writer != t.self {
		return nil
	}
	return t.svc
}

// withOptions sets keys in args[i] (an object; made if absent).
func withOptions(args json.RawMessage, i int, set map[string]any) json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(args, &list) != nil {
		return args // the service says what is wrong with it
	}
	for len(list) <= i {
		list = append(list, json.RawMessage("{}"))
	}
	opts := map[string]json.RawMessage{}
	if string(list[i]) != "null" && json.Unmarshal(list[i], &opts) != nil {
		return args
	}
	if opts == nil {
		opts = map[string]json.RawMessage{}
	}
	for k, v := range set {
		b, _ := json.Marshal(v)
		opts[k] = b
	}
	list[i], _ = json.Marshal(opts)
	out, _ := json.Marshal(list)
	return out
}

// post sends an envelope from this tab.
func (t *Tab) post(e envelope) {
	e.From = t.self
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	if err := t.cfg.Bus.Post(b); err != nil && t.ctx.Err() == nil {
		t.log.Warn("tabs: post", "t", e.T, "err", err)
	}
}

// postEvent posts an event of the writer's service to every tab: the
// envelope {"t":"event","from":…,"event":ev} with ev's bytes as they are.
// They are the service's own JSON; json.Marshal would check and compact
// them again, which cost a catch-up of 10,000 messages about 0.2 s (were
// they not JSON, the other tabs would drop the envelope as unreadable).
func (t *Tab) postEvent(ev json.RawMessage) {
	head, err := json.Marshal(envelope{T: "event", From: t.self})
	if err != nil {
		return
	}
	b := make([]byte, 0, len(head)+len(ev)+10)
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"event":`...)
	b = append(b, ev...)
	b = append(b, '}')
	if err := t.cfg.Bus.Post(b); err != nil && t.ctx.Err() == nil {
		t.log.Warn("tabs: post", "t", "event", "err", err)
	}
}

// Close leaves the profile's tabs: a writer closes its profile and
// releases the lock (the next tab takes over); calls in flight fail.
func (t *Tab) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	pending := t.pending
	t.pending = map[string]*call{}
	t.mu.Unlock()
	t.cancel()
	for _, c := range pending {
		c.done <- result{err: ErrClosed}
	}
	err := t.cfg.Bus.Close()
	t.wg.Wait()
	return err
}

// lockLoop waits for the lock, then is the writer until the lock is lost
// or the tab closes, and again.
func (t *Tab) lockLoop() {
	defer t.wg.Done()
	wait := time.Duration(0)
	for t.ctx.Err() == nil {
		held, err := t.acquire()
		if err != nil {
			return // closed
		}
		start := time.Now()
		yielded := t.serve(held)
		// A writer that could not open the profile, or was stopped at once,
		// waits before it tries again (doubling, up to maxBackoff), so that
		// nothing loops. A partial writer that yielded waits the least: the
		// full tab it yielded to was already waiting for the lock.
		if time.Since(start) > maxBackoff || yielded {
			wait = 0
		}
		wait = min(max(2*wait, minBackoff), maxBackoff)
		select {
		case <-time.After(wait):
		case <-t.ctx.Done():
		}
	}
}

// The wait of a writer that stopped before it tries again.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// acquire waits for the lock, stealing it when the bus loop asks to.
func (t *Tab) acquire() (Held, error) {
	select {
	case <-t.steal: // asked while this tab was the writer
	default:
	}
	actx, cancel := context.WithCancel(t.ctx)
	type got struct {
		h   Held
		err error
	}
	ch := make(chan got, 1)
	go func() {
		h, err := t.cfg.Lock.Acquire(actx, false)
		ch <- got{h, err}
	}()
	select {
	case g := <-ch:
		cancel()
		return g.h, g.err
	case <-t.steal:
	}
	cancel()
	if g := <-ch; g.err == nil {
		return g.h, nil // granted as it was given up
	}
	if t.ctx.Err() != nil {
		return nil, t.ctx.Err()
	}
	t.log.Info("tabs: the writer tab answers no ping: taking the profile from it")
	return t.cfg.Lock.Acquire(t.ctx, true)
}

// serve is this tab's time as the writer: it opens the profile, announces
// itself, and carries out its own and the other tabs' calls until the lock
// is lost (stolen), the profile stops (another writer wrote it) or the tab
// closes. It reports whether this partial writer yielded to a full tab.
func (t *Tab) serve(held Held) (yielded bool) {
	defer held.Release()
	select {
	case <-t.reopen: // asked before this time as the writer
	default:
	}
	select {
	case <-t.yield: // asked before this time as the writer
	default:
	}
	t.mu.Lock()
	t.writer, t.partial = t.self, t.cfg.Partial
	t.pingSent = time.Time{}
	t.mu.Unlock()
	svc, err := t.cfg.Open(t.ctx)
	if err != nil {
		t.mu.Lock()
		t.writer = ""
		first := t.markKnown(err)
		t.mu.Unlock()
		if !first {
			t.log.Error("tabs: opening the profile as its writer", "err", err)
		}
		return false
	}
	stopped := make(chan struct{})
	var once sync.Once
	unsub := svc.Subscribe(func(ev json.RawMessage) {
		head := headOf(ev) // parsed once: a catch-up brings thousands
		switch head.ownState(svc.ID()) {
		case "replaced":
			// Another writer wrote the profile (one that took the lock
			// while this tab was frozen): this tab follows it from now on,
			// which its 'tab' event says.
			once.Do(func() { close(stopped) })
			return
		}
		t.followState(head)
		t.emit(ev)
		if t.posts(head) {
			t.postEvent(ev)
		}
	})
	id, state := svc.ID(), svc.State()
	t.mu.Lock()
	t.svc, t.id, t.state = svc, id, state
	if t.othersSeen.Load() { // else busLoop calls it when it sees another tab
		followBooks(svc)
	}
	ready := t.ready
	t.markKnown(nil)
	t.mu.Unlock()
	close(ready)
	t.post(envelope{T: "writer", Peer: id.String(), State: state, Partial: t.cfg.Partial})
	t.emit(roleEvent(RoleWriter))
	// The bus loop takes this tab's own calls in flight over, after the
	// answers already on the bus (the old writer's last replies).
	select {
	case t.tookOver <- struct{}{}:
	default:
	}

	select {
	case <-held.Lost():
		t.log.Warn("tabs: another tab took the profile (this one was unresponsive): following it")
	case <-stopped:
	case <-t.reopen:
	case <-t.yield:
		t.log.Info("tabs: a full tab opened the profile: giving it the lock")
		yielded = true
	case <-t.ctx.Done():
	}
	t.mu.Lock()
	t.svc, t.writer, t.partial = nil, "", false
	t.ready = make(chan struct{})
	for _, cancel := range t.running {
		cancel()
	}
	t.mu.Unlock()
	unsub()
	if err := svc.Close(); err != nil {
		t.log.Warn("tabs: closing the profile", "err", err)
	}
	if t.ctx.Err() == nil {
		t.emit(roleEvent(RoleFollower))
	}
	return yielded
}

// partialEvent is the type of the events only partial tabs use: changes
// to the profile's books (package dbcall), which the writer posts only
// while a partial tab follows it: posting one costs a writer about as
// much as the append it tells of.
const partialEvent = "book"

// partialWait is how long after a partial tab's last hello the writer
// still posts it book events (it says hello every Config.Ping).
func (t *Tab) partialWait() time.Duration { return 3 * t.cfg.Ping }

// posts reports whether the writer posts an event to the other tabs.
func (t *Tab) posts(head eventHead) bool {
	if !t.othersSeen.Load() {
		// No other tab of the profile has said a word: none follows. A tab
		// that opens says hello before it reads anything (and reads the
		// state it needs once the writer answered), so it misses no event
		// it needs. A catch-up of 10,000 messages posted them all for
		// nobody: 1.4 s of 7.7.
		return false
	}
	if head.Type != partialEvent {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Since(t.partialSeen) < t.partialWait()
}

// followBooks tells the writer's service, if it makes book events only
// when asked (app.App.FollowBooks), that another tab may follow its books.
func followBooks(svc Service) {
	if f, ok := svc.(interface{ FollowBooks() }); ok {
		f.FollowBooks()
	}
}

// A tab's roles, as Role and the "tab" event say them.
const (
	RoleWriter   = "writer"
	RoleFollower = "follower"
)

// roleEvent is the event {type: "tab", state: role} this tab's subscribers
// get when its role changes.
func roleEvent(role string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"type": "tab", "state": role})
	return b
}

// awake reports whether this tab runs normally (Config.Awake).
func (t *Tab) awake() bool { return t.cfg.Awake == nil || t.cfg.Awake() }

// markKnown ends Start's wait (with err if the first Open failed);
// reports whether it did. t.mu is held.
func (t *Tab) markKnown(err error) bool {
	select {
	case <-t.known:
		return false
	default:
	}
	t.openErr = err
	close(t.known)
	return true
}

// eventHead is what the tabs read of an event: its type, and a peer
// event's peer and state.
type eventHead struct {
	Type  string `json:"type"`
	Peer  string `json:"peer"`
	State string `json:"state"`
}

// headOf reads an event's head (zero if ev is not an object): its type
// alone when that is first (a message event: package app writes it so),
// the whole of it for a peer event.
func headOf(ev json.RawMessage) eventHead {
	if typ, ok := jsonhead.Type(ev); ok && typ != "peer" {
		return eventHead{Type: typ}
	}
	var e eventHead
	if json.Unmarshal(ev, &e) != nil {
		return eventHead{}
	}
	return e
}

// ownState is the state an event of the service's own connection says
// ("replaced": another instance wrote the profile), or "".
func (e eventHead) ownState(self identity.ID) string {
	if e.Type != "peer" || e.Peer != self.String() {
		return ""
	}
	return e.State
}

// pendingLocked is a copy of this tab's calls in flight. t.mu is held.
func (t *Tab) pendingLocked() map[string]*call {
	calls := make(map[string]*call, len(t.pending))
	for id, c := range t.pending {
		calls[id] = c
	}
	return calls
}

// handOver treats this tab's calls in flight when the writer became to:
// each is sent again, sent again as a retry, or failed (see retries).
func (t *Tab) handOver(calls map[string]*call, to string) {
	for id, c := range calls {
		t.mu.Lock()
		from := c.sentTo
		t.mu.Unlock()
		if from == to {
			continue
		}
		if from != "" {
			switch retries[c.method] {
			case fail:
				t.deliver(id, from, result{err: ErrWriterGone})
				continue
			case once:
				t.mu.Lock()
				c.args = withOptions(c.args, 2, map[string]any{"retry": true})
				t.mu.Unlock()
			}
		}
		t.sendCall(id, c, to)
	}
}

// busLoop takes the other tabs' messages and pings the writer.
func (t *Tab) busLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Ping)
	defer tick.Stop()
	msgs := t.cfg.Bus.Messages()
	take := func(b []byte) {
		var e envelope
		if json.Unmarshal(b, &e) != nil || e.From == "" || e.From == t.self {
			return
		}
		if !t.othersSeen.Swap(true) {
			t.mu.Lock()
			svc := t.svc
			t.mu.Unlock()
			followBooks(svc)
		}
		if e.To != "" && e.To != t.self {
			return
		}
		t.handle(e)
	}
	for {
		select {
		case b, ok := <-msgs:
			if !ok {
				return
			}
			take(b)
		case <-t.tookOver:
			// This tab became the writer. The old writer's replies it sent
			// before it let the lock go are taken first: a call answered
			// is not carried out again.
			for range len(msgs) {
				b, ok := <-msgs
				if !ok {
					return
				}
				take(b)
			}
			t.mu.Lock()
			pending := t.pendingLocked()
			t.mu.Unlock()
			t.handOver(pending, t.self)
		case <-tick.C:
			t.check()
		case <-t.ctx.Done():
			return
		}
	}
}

// check is a follower's ping: it sends one, or, if the last is unanswered
// for Patience, asks the lock loop to take the lock.
func (t *Tab) check() {
	t.mu.Lock()
	if t.writer == t.self {
		t.mu.Unlock()
		return
	}
	sent := t.pingSent
	late := !sent.IsZero() && time.Since(sent) > t.cfg.Patience
	if sent.IsZero() {
		t.pingSent = time.Now()
	}
	t.mu.Unlock()
	switch {
	case late:
		// Several followers may find the writer frozen at once: each waits
		// a little, so that one of them most often takes over alone.
		time.AfterFunc(time.Duration(mrand.Int64N(int64(t.cfg.Ping))), func() {
			select {
			case t.steal <- struct{}{}:
			default:
			}
		})
		t.mu.Lock()
		t.pingSent = time.Time{}
		t.mu.Unlock()
	case sent.IsZero():
		t.post(envelope{T: "hello", Partial: t.cfg.Partial})
	}
}

// handle takes one message of another tab.
func (t *Tab) handle(e envelope) {
	switch e.T {
	case "hello":
		t.mu.Lock()
		if e.Partial {
			t.partialSeen = time.Now()
		}
		isWriter := t.writer == t.self
		peer, state := "", t.state
		if !t.id.IsZero() && t.svc != nil {
			peer = t.id.String()
		}
		t.mu.Unlock()
		if isWriter && t.awake() {
			t.post(envelope{T: "pong", To: e.From, Peer: peer, State: state, Partial: t.cfg.Partial})
		}
	case "yield":
		t.mu.Lock()
		isWriter := t.writer == t.self && t.svc != nil
		t.mu.Unlock()
		if isWriter && t.cfg.Partial {
			select {
			case t.yield <- struct{}{}:
			default:
			}
		}
	case "pong", "writer":
		t.follow(e)
	case "call":
		if t.awake() {
			t.serveCall(e) // else the follower sends it to the next writer
		}
	case "cancel":
		t.mu.Lock()
		if cancel := t.running[e.ID]; cancel != nil {
			cancel()
		}
		t.mu.Unlock()
	case "reply":
		var err error
		if e.Error != "" {
			err = errors.New(e.Error)
		}
		t.deliver(e.ID, e.From, result{e.Result, err})
	case "event":
		t.mu.Lock()
		fromWriter := e.From == t.writer
		t.mu.Unlock()
		if fromWriter && len(e.Event) > 0 {
			t.followState(headOf(e.Event))
			t.emit(e.Event)
		}
	}
}

// follow takes a writer's pong or announcement: calls in flight to another
// tab go to it.
func (t *Tab) follow(e envelope) {
	t.mu.Lock()
	if t.writer == t.self && t.svc != nil {
		t.mu.Unlock()
		return // a stale announcement: this tab holds the lock
	}
	t.pingSent = time.Time{}
	before := t.target()
	t.writer, t.partial = e.From, e.Partial
	to := t.target()
	changed := before != to
	var stateEv json.RawMessage
	if e.Peer != "" {
		if id, err := identity.DecodeID(e.Peer); err == nil {
			t.id = id
			t.markKnown(nil)
			if e.State != "" && e.State != t.state {
				t.state = e.State
				stateEv, _ = json.Marshal(map[string]string{"type": "peer", "peer": e.Peer, "state": e.State})
			}
		}
	}
	var calls map[string]*call
	if changed && to != "" {
		calls = t.pendingLocked()
	}
	t.mu.Unlock()
	if stateEv != nil {
		t.emit(stateEv)
	}
	if e.Partial && !t.cfg.Partial {
		// A full tab does not follow a partial writer: it asks it to give
		// the lock up (again at each pong, should this be lost).
		t.post(envelope{T: "yield", To: e.From})
	}
	t.handOver(calls, to)
}

// followState notes the profile's connection state from the writer's
// events about itself.
func (t *Tab) followState(e eventHead) {
	if e.Type != "peer" {
		return
	}
	t.mu.Lock()
	if e.Peer == t.id.String() {
		t.state = e.State
	}
	t.mu.Unlock()
}

// serveCall carries out a follower's call, once: a call sent again (the
// follower could not tell whether it arrived) is answered from memory.
func (t *Tab) serveCall(e envelope) {
	t.mu.Lock()
	if t.writer != t.self {
		t.mu.Unlock()
		return // the follower finds the writer and sends it again
	}
	if r, ok := t.answered[e.ID]; ok {
		t.mu.Unlock()
		t.post(r)
		return
	}
	if t.running[e.ID] != nil {
		t.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	t.running[e.ID] = cancel
	ready := t.ready
	t.mu.Unlock()
	go func() {
		defer cancel()
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
		svc := t.service()
		if svc == nil {
			return
		}
		data, err := svc.Do(ctx, e.Method, e.Args)
		r := envelope{T: "reply", To: e.From, ID: e.ID, Result: data}
		if err != nil {
			r.Error = err.Error()
		}
		t.mu.Lock()
		delete(t.running, e.ID)
		stillWriter := t.writer == t.self && t.svc == svc
		if stillWriter && (ctx.Err() == nil || err == nil) && len(data) <= maxRemembered {
			t.remember(r)
		}
		t.mu.Unlock()
		// A call cut short because this tab stops being the writer is not
		// answered: the follower sends it to the next writer.
		if stillWriter && (ctx.Err() == nil || err == nil) {
			t.post(r)
			t.after(e.Method, err)
		}
	}()
}

// remember keeps a reply for a follower that sends its call again. t.mu is held.
func (t *Tab) remember(r envelope) {
	t.answered[r.ID] = r
	t.order = append(t.order, r.ID)
	if len(t.order) > maxDone {
		delete(t.answered, t.order[0])
		t.order = t.order[1:]
	}
}
