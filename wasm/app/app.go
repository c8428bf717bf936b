package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/task-messenger/task-messenger/relay/client"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/internal/subs"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// Own connection states (State, and the State of the own 'peer' events).
const (
	StateConnecting = "connecting" // going online for the first time
	StateOnline     = "online"     // the relay accepted this peer
	StateOffline    = "offline"    // the last attempt failed, or the connection dropped; trying again
	StateReplaced   = "replaced"   // another tab writes the profile: stopped
	StateClosed     = "closed"     // Close or Reset
	StateReset      = "reset"      // Reset deleted the profile (an event only)
)

// Bounds of going online.
const (
	onlineTimeout = 30 * time.Second       // one attempt to go online
	minRetry      = 250 * time.Millisecond // first wait after a failed attempt
	maxRetry      = 5 * time.Second        // longest wait between attempts
	checkTimeout  = 10 * time.Second       // asking the store who writes
	maxPending    = 4096                   // events kept until the first Subscribe
)

// Config configures an App.
type Config struct {
	Profile  *vault.Profile    // open; the App owns it from Start on (Close closes it)
	Relay    string            // relay websocket URL
	RTC      *peerio.RTCConfig // nil: relay only
	Devtools string            // devtools /peer URL, "" for none
	Mirrors  []identity.ID     // mirrors to pin to and read from (room.Config.Mirrors)
	Logger   logs.Logger       // nil: logs.Default()
	// Relays are the websocket URLs of other nodes of Relay's cluster:
	// every IO the App makes (the profile's, a pairing's, the identity's
	// during a recall) goes online at Relay, or at the first of these that
	// answers, and moves to another when its node dies
	// (peerio.Config.Relays). Start ignores those that are not ws:// or
	// wss:// URLs (client.CheckURL) and Relay itself. Nil: Relay only.
	Relays []string
	// Delete deletes a profile's storage (Reset); nil: Reset only closes.
	Delete func(ctx context.Context, name string) error
	// Reload is called after devtools commanded a reset (the page
	// reloads); may be nil.
	Reload func()
	// Take and Release are the process-wide seed registry (jsapi's
	// API.take/release): Take is called with the id an import restores
	// when it is another identity, Release with the id given up (the old
	// one after such a restore, the current one at Close). The caller has
	// taken Profile's id before Start. Nil: no registry.
	Take    func(identity.ID) error
	Release func(identity.ID)
	// Now is the clock of pairing codes' expiry; nil: time.Now.
	Now func() time.Time
}

// An App is one open profile's messenger: it owns the profile, the IO
// (relay connection), the room.Messenger and the devtools reporter under
// one root context, which Close cancels.
type App struct {
	cfg    Config          // immutable (Logger set)
	root   context.Context // ended by Close; every call's ctx derives from it
	cancel context.CancelFunc

	// life (capacity 1) is held by whoever stops or starts the messenger
	// or the reporter (Start, Import, a stale writer, Close): a lock that a
	// call's ctx can give up waiting for. It is taken before mu.
	life chan struct{}

	mu         sync.Mutex
	profile    *vault.Profile   // guarded by mu; written under life too
	io         *peerio.IO       // guarded by mu; nil while stopped
	m          *room.Messenger  // guarded by mu; nil while stopped
	unsub      func()           // guarded by mu: ends m's subscription
	offline    func()           // guarded by mu: stops going online and waits
	reporter   *report.Reporter // guarded by mu; nil when reporting is off or stopped
	stopReport func()           // guarded by mu: stops the reporter and waits; never nil
	state      string           // guarded by mu
	relay      string           // guarded by mu: the relay's URL while online, else ""
	closed     bool             // guarded by mu
	calls      sync.WaitGroup   // calls in flight; Add under mu while !closed
	onEnter    func()           // immutable after Start; tests: called as a call starts
	watchers   sync.WaitGroup   // watchStale goroutines; Add under life while !closed
	subs       subs.List[Event]
	subMu      sync.Mutex // guards pending, subscribed
	pending    []Event    // events before the first Subscribe (at most maxPending)
	subscribed bool
	bookEvents atomic.Bool    // FollowBooks was called: emitBook makes events
	emitMu     sync.Mutex     // held while subscribers run: events reach them in order
	offer      *linkOffer     // guarded by mu: the pairing code shown (LinkDevice), nil if none
	links      sync.WaitGroup // offers' goroutines; Add under mu while !closed
	// linkHook, if set (tests), replaces the messenger's SignDevice and
	// Link when a device is granted; immutable after Start.
	linkHook func(ctx context.Context, m *room.Messenger, dev identity.ID, label string) (*room.LinkBundle, error)
	index    atomic.Pointer[textIndex] // the running messenger's search index (search.go)
}

// Start opens the messenger on cfg.Profile and goes online in the
// background: the profile's tasks and timelines are readable at once, with
// or without the relay; joins and dials wait until it is online. ctx bounds
// the opening only. On error the profile is not closed (the caller still
// owns it).
func Start(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Profile == nil {
		return nil, errors.New("app: Config.Profile is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = logs.Default()
	}
	cfg.Relays = otherRelays(cfg.Relay, cfg.Relays)
	root, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &App{cfg: cfg, root: root, cancel: cancel, profile: cfg.Profile, state: StateConnecting,
		stopReport: func() {}, life: make(chan struct{}, 1)}
	a.lock()
	defer a.unlock()
	a.startReporter()
	if err := a.start(ctx); err != nil {
		a.stopReporter()
		cancel()
		return nil, err
	}
	return a, nil
}

// ID is the profile's id; it changes when an import restores another
// identity.
func (a *App) ID() identity.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.profile.ID
}

// Profile is the profile's name.
func (a *App) Profile() string { return a.cfg.Profile.Name }

// State is the own connection state: StateConnecting, StateOnline,
// StateOffline, StateReplaced or StateClosed.
func (a *App) State() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// Relay is the URL of the relay the App is on while online, else "".
func (a *App) Relay() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.relay
}

// Subscribe calls fn with every event from now on, in order; the first
// subscriber also gets the events that came before it (at most 4096), so
// none is lost between Start and Subscribe. fn runs on the App's and the
// messenger's goroutines, one event at a time: it must not block nor call
// Subscribe (it may call cancel).
func (a *App) Subscribe(fn func(Event)) (cancel func()) {
	a.emitMu.Lock() // no event between the replay and the subscription
	defer a.emitMu.Unlock()
	cancel = a.subs.Add(fn)
	a.subMu.Lock()
	pending := a.pending
	a.pending, a.subscribed = nil, true
	a.subMu.Unlock()
	for _, ev := range pending {
		fn(ev)
	}
	return cancel
}

// emit hands ev to every subscriber, or keeps it for the first.
func (a *App) emit(ev Event) {
	a.emitMu.Lock()
	defer a.emitMu.Unlock()
	a.subMu.Lock()
	if !a.subscribed {
		if len(a.pending) < maxPending {
			a.pending = append(a.pending, ev)
		}
		a.subMu.Unlock()
		return
	}
	a.subMu.Unlock()
	a.subs.Emit(ev)
}

// setState records the own connection state and emits it as a 'peer'
// event for the own id; nothing changes once closed.
func (a *App) setState(s string) { a.setRelayState(s, "") }

// setRelayState is setState with the URL of the relay the App is on
// (online).
func (a *App) setRelayState(s, relay string) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.state, a.relay = s, ""
	if s == StateOnline {
		a.relay = relay
	}
	self := a.profile.ID
	a.mu.Unlock()
	a.emit(Event{Type: room.EventPeer, Peer: self, State: s, Relay: relay})
}

// start opens the messenger on the current profile and goes online in the
// background. The caller holds life.
func (a *App) start(ctx context.Context) error {
	a.mu.Lock()
	p, closed := a.profile, a.closed
	a.mu.Unlock()
	if closed {
		return ErrClosed
	}
	db := p.DB
	iocfg := a.ioConfig()
	iocfg.WebRTC = a.cfg.RTC
	// The relay connection ended (another tab of this profile may have
	// replaced it): stay offline if a tab opened the profile after this
	// one (it is the writer; watchStale then stops this App), else
	// connect again.
	iocfg.Reconnect = func(bool) bool {
		ctx, cancel := context.WithTimeout(a.root, checkTimeout)
		defer cancel()
		return !errors.Is(db.CheckWriter(ctx), journal.ErrStaleWriter)
	}
	// The relay connection dropped (offline: trying the cluster's nodes)
	// or is back, maybe on another node.
	iocfg.OnRelay = func(url string) {
		if url == "" {
			a.setState(StateOffline)
		} else {
			a.setRelayState(StateOnline, url)
		}
	}
	io := peerio.New(p.Name, db.Identity().Seed(), iocfg)
	online := make(chan struct{})
	dial := func(ctx context.Context, peer identity.ID) (port.Port, error) {
		select {
		case <-online:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return io.At(ctx, peer)
	}
	rcfg := room.Config{DB: db, Dial: dial, Logger: a.cfg.Logger, Sync: replication.Config{DataBytes: 1 << 20, Logger: a.cfg.Logger}, Mirrors: a.cfg.Mirrors}
	if r := a.reporterNow(); r != nil {
		rcfg.Observe = r
	}
	forget, err := deviceConfig(ctx, p, &rcfg)
	if err != nil {
		io.Close()
		return err
	}
	m, err := room.Open(ctx, rcfg)
	if err != nil {
		io.Close()
		return err
	}
	if forget {
		// The room recorded the bundle (its tasks are in the books now): a
		// crash before this line only has the next open import it again.
		if err := p.DoneLink(ctx); err != nil {
			a.cfg.Logger.Warn("link bundle kept", "err", err)
		}
	}
	unsub := m.Subscribe(func(ev room.Event) { a.emit(eventOf(ev, m)) })
	unbooks := db.Subscribe(a.emitBook)
	octx, cancel := context.WithCancel(a.root)
	unindex := a.startIndex(m)
	done := make(chan struct{})
	go func() {
		defer close(done)
		recalled := a.recallAsIdentity(octx, p, m)
		a.goOnline(octx, io, m, online)
		<-recalled
	}()
	a.watchers.Add(1)
	go func() {
		defer a.watchers.Done()
		a.watchStale(octx, p)
	}()
	a.mu.Lock()
	a.io, a.m, a.unsub = io, m, func() { unsub(); unbooks(); unindex() }
	a.offline = func() { cancel(); <-done }
	a.mu.Unlock()
	return nil
}

// ioConfig is the relay part of the Config of every IO the App makes.
func (a *App) ioConfig() peerio.Config {
	return peerio.Config{Relay: a.cfg.Relay, Relays: a.cfg.Relays, Logger: a.cfg.Logger}
}

// otherRelays is urls without those that are not ws:// or wss:// URLs
// (client.CheckURL), without first and without repeats.
func otherRelays(first string, urls []string) []string {
	var out []string
	for _, u := range urls {
		if u != first && !slices.Contains(out, u) && client.CheckURL(u) == nil {
			out = append(out, u)
		}
	}
	return out
}

// goOnline connects to the relay, trying again (waiting 250 ms, doubling
// up to 5 s) until it succeeds or ctx ends; then closes online.
func (a *App) goOnline(ctx context.Context, io *peerio.IO, m *room.Messenger, online chan struct{}) {
	wait := minRetry
	for {
		octx, cancel := context.WithTimeout(ctx, onlineTimeout)
		err := io.On(octx, m.Accept)
		cancel()
		if err == nil && ctx.Err() == nil {
			close(online)
			a.setRelayState(StateOnline, io.RelayURL())
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.setState(StateOffline)
		a.emit(Event{Type: room.EventError, Error: fmt.Sprintf("relay %s: %v (trying again)", a.cfg.Relay, err)})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxRetry)
	}
}

// watchStale stops the messenger, the relay connection and the reporter
// when another instance of the profile on the same storage (a tab opened
// later) has written its books: this App's writes would fail from then on
// (journal.ErrStaleWriter), and going on would only make the two evict
// each other at the relay and at devtools. Subscribers are told once it
// stopped (a 'peer' event, state "replaced", and an 'error'), so the page
// can say to reload.
func (a *App) watchStale(ctx context.Context, p *vault.Profile) {
	select {
	case <-p.DB.Stale():
	case <-ctx.Done():
		return
	}
	a.lock()
	a.stop()
	a.stopReporter()
	a.unlock()
	a.setState(StateReplaced)
	a.emit(Event{Type: room.EventError, Error: "this profile was opened in another tab or window, which writes it now: this tab stopped (reload it to use the profile here)"})
}

// lock takes life.
func (a *App) lock() { a.life <- struct{}{} }

// lockCtx takes life unless ctx ends first.
func (a *App) lockCtx(ctx context.Context) error {
	select {
	case a.life <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// unlock gives life back.
func (a *App) unlock() { <-a.life }

// stop closes the messenger and goes offline; the profile stays open. The
// caller holds life.
func (a *App) stop() {
	a.mu.Lock()
	io, m, unsub, offline := a.io, a.m, a.unsub, a.offline
	a.io, a.m, a.unsub, a.offline = nil, nil, nil, nil
	a.mu.Unlock()
	if m == nil {
		return
	}
	offline()
	unsub()
	m.Close()
	io.Close()
}

// startReporter streams the profile's books and protocol to the devtools
// server, if one is configured, until stopReporter. Its commands: export,
// import (the messenger restarts to show imported tasks) and reset (Reset,
// then Config.Reload). The caller holds life.
func (a *App) startReporter() {
	if a.cfg.Devtools == "" {
		return
	}
	a.mu.Lock()
	p := a.profile
	a.mu.Unlock()
	r := report.New(report.Config{
		URL: a.cfg.Devtools, DB: p.DB, Alias: p.Name, Logger: a.cfg.Logger,
		Import: func(ctx context.Context, b []byte) error {
			_, err := a.Import(ctx, b, "")
			return err
		},
		Reset: func(context.Context) error {
			go a.resetFromDevtools()
			return nil
		},
		// The plaintext of a sealed page this tab can open, beside it.
		Open: func(book identity.ID, index uint64, page []byte) []byte {
			a.mu.Lock()
			m := a.m
			a.mu.Unlock()
			if m == nil {
				return nil
			}
			return m.Plaintext(book, index, page)
		},
	})
	ctx, cancel := context.WithCancel(a.root)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	a.mu.Lock()
	a.reporter = r
	a.stopReport = func() { cancel(); <-done }
	a.mu.Unlock()
}

// resetFromDevtools resets the profile a moment after devtools asked (its
// answer is sent when the command returns, by the reporter that Reset
// stops), then reloads the page.
func (a *App) resetFromDevtools() {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-a.root.Done():
		return
	}
	if err := a.Reset(context.WithoutCancel(a.root)); err != nil {
		a.cfg.Logger.Error("reset from devtools", "err", err)
	}
	if a.cfg.Reload != nil {
		a.cfg.Reload()
	}
}

// reporterNow is the running reporter, or nil.
func (a *App) reporterNow() *report.Reporter {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reporter
}

// stopReporter stops the reporter and waits for it. The caller holds life.
func (a *App) stopReporter() {
	a.mu.Lock()
	stop := a.stopReport
	a.stopReport, a.reporter = func() {}, nil
	a.mu.Unlock()
	stop()
}

// Close cancels every call in flight (their ctx) and waits for them, stops
// going online, the messenger, the IO and the reporter, releases the
// profile's id (Config.Release) and closes the profile. Calls made after
// return ErrClosed. Close is idempotent.
func (a *App) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.state = StateClosed
	a.mu.Unlock()
	a.cancel()
	a.calls.Wait()
	a.watchers.Wait()
	a.links.Wait()
	a.lock()
	defer a.unlock()
	a.stop()
	a.stopReporter()
	a.mu.Lock()
	p := a.profile
	a.mu.Unlock()
	if a.cfg.Release != nil {
		a.cfg.Release(p.ID)
	}
	return p.Close()
}

// enter registers a call in flight and returns its context: ctx, also
// ended by Close. done must be called when the call returns.
func (a *App) enter(ctx context.Context) (context.Context, func(), error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, nil, ErrClosed
	}
	a.calls.Add(1)
	a.mu.Unlock()
	if a.onEnter != nil {
		a.onEnter()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(a.root, func() { cancel(ErrClosed) })
	return ctx, func() { stop(); cancel(nil); a.calls.Done() }, nil
}

// messenger is the running messenger.
func (a *App) messenger() (*room.Messenger, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return nil, ErrClosed
	case a.m == nil:
		return nil, ErrStopped
	}
	return a.m, nil
}

// closedErr is err, or ErrClosed joined to it when the App was closed
// while the call was in flight.
func (a *App) closedErr(err error) error {
	if err != nil && a.root.Err() != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
