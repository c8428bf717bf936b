// Package peerio connects peers by their ids, like the seed's IO (which
// stands for hyperswarm): IO(alias, seed) goes online at a relay, At(id)
// returns a port to a peer (waiting while it is offline), and every new
// port, incoming or outgoing, is handed to the On handler.
//
// A port is opened by a signed handshake through the relay (handshake.go):
// both ends prove their ids, and agree on fresh keys with which every frame
// is sealed end to end (port.go), so the relay sees only ciphertext. A
// port's frames travel through the relay until a WebRTC data channel
// opens (rtc.go); the relay stays the fallback.
//
// # Strangers and slow readers
//
// Any relay user can open a port to this peer (ids are free), so what a
// port makes this end hold is bounded, and past a bound the port closes
// with the reason logged: MaxHeld bytes of frames ahead of sequence per
// port and MaxHeldTotal for all ports, MaxMessage for a message being
// reassembled, MaxInbox of messages the port's reader has not taken (so a
// reader that stops closes its port; it never holds up another port,
// presence, or Close). Ports opened by peers this end did not ask for
// with At (strangers' ports) are at most MaxStrangerPorts at once, one per
// peer (a new offer replaces the port); their offers are checked at most
// StrangerOffers a second (the rest refused unread), and an incoming
// handshake holds no state until it is answered. A stranger's port holds at
// most MaxStrangerBuffer bytes of messages (being reassembled or unread),
// and all of them MaxStrangerTotal together (Config may raise both); a
// stranger is not watched at the relay (whose watches per connection are
// bounded), so its port stays until either end closes it. At on a
// stranger's port makes it an ordinary port (the room does so when it
// admits the peer): MaxMessage and MaxInbox apply, and its peer is watched. Frames are delivered from the relay loop
// and the data channel without waiting for any port's reader. Writes to
// the relay that no caller's context bounds (Close's close frame, WebRTC
// signaling) are bounded by a timeout.
//
// Frames are numbered in order, and the other end takes them in order. So
// a frame once sealed (its number taken) is always sent, whatever becomes
// of its caller's context: a number skipped would hold every later frame
// at the other end for good, the close frame too, and that end would keep
// a port this end had closed.
package peerio

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/task-messenger/task-messenger/relay/client"
	"github.com/task-messenger/task-messenger/relay/wire"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Bounds on what peers this end did not ask for with At (strangers) may
// open.
const (
	// MaxStrangerPorts bounds the ports open at once that strangers opened.
	MaxStrangerPorts = 64
	// StrangerOffers is how many offers per second, from all strangers
	// together, this end checks (a signature and a key exchange each, far
	// slower in the browser); StrangerOfferBurst more may come at once.
	// Others are refused before any work.
	StrangerOffers     = 32
	StrangerOfferBurst = 128
)

// Config configures an IO.
type Config struct {
	// Relay is the relay's websocket URL, e.g. ws://127.0.0.1:8080/relay.
	Relay string
	// Relays are the websocket URLs of other nodes of the same relay
	// cluster, tried in turn after Relay (the first choice) when it cannot
	// be reached: see On.
	Relays []string
	// DialTimeout bounds each attempt to reach one relay while there are
	// others to try (default 5s), so a node that does not answer does not
	// hold up the next.
	DialTimeout time.Duration
	// Logger; logs.Default() if nil.
	Logger logs.Logger
	// Retry is the wait before reconnecting to the relay (default 1s;
	// each wait is drawn between Retry/2 and 3*Retry/2).
	Retry time.Duration
	// WebRTC moves ports to a direct data channel when one opens; nil
	// keeps every port on the relay.
	WebRTC *RTCConfig
	// Reconnect, if set, is asked whenever the relay connection ended
	// (replaced is true when the relay said a newer connection proved the
	// same id: another tab of the profile; a browser's websocket may not
	// pass that reason on, so it can be false then too): true reconnects
	// (and would replace that newer connection in turn), false stays
	// offline until Close. Nil reconnects.
	Reconnect func(replaced bool) bool
	// OnRelay, if set, is told from the relay loop when the connection
	// ended ("") and when the IO is connected again (the relay's URL): not
	// of On's first connection (RelayURL says it), nor of the end Close
	// makes. It must not block.
	OnRelay func(url string)
	// StrangerBuffer and StrangerTotal replace MaxStrangerBuffer and
	// MaxStrangerTotal (zero keeps them): a peer whose work is to take
	// what strangers send (a mirror: every author pinning to it is one)
	// lets them send whole messages.
	StrangerBuffer int
	StrangerTotal  int64
}

// IO is one peer's presence on the network.
type IO struct {
	alias string        // immutable
	key   *identity.Key // immutable
	cfg   Config        // immutable
	rtc   newPeerFunc   // immutable; nil without Config.WebRTC
	urls  []string      // immutable: Config.Relay, then Config.Relays, without repeats

	// trace, if set (by tests, before On), is told of events tests wait
	// for; immutable once the IO is online.
	trace func(event string, peer identity.ID)

	held           atomic.Int64   // bytes all ports hold ahead of sequence (MaxHeldTotal)
	strangerBytes  atomic.Int64   // bytes strangers' ports hold in messages (MaxStrangerTotal)
	strangerOffers *rate.Limiter  // strangers' offers (StrangerOffers); safe for concurrent use
	busyReplies    *rate.Limiter  // busy envelopes sent to refused offers (refuse)
	refusals       atomic.Int64   // handshake messages refused since the last log
	refusalLog     rate.Sometimes // the relay loop's: logs refusals at most once a second

	// offerq holds the offers At asks to send. The relay loop sends them,
	// as it sends answers, and only while they are pending: an offer
	// never leaves after this end answered the peer's (which settles it),
	// so an offer that arrives after the port it crossed is a new one (the
	// peer lost that port), never a late half of the race. Immutable.
	offerq chan offerSend

	mu        sync.Mutex
	client    *client.Client         // guarded by mu: nil while offline or reconnecting
	url       string                 // guarded by mu: the relay client is connected to; "" when client is nil
	at        int                    // guarded by mu: index in urls of the relay last reached
	handler   func(port.Port)        // guarded by mu
	cancel    context.CancelFunc     // guarded by mu: ends the relay loop; nil while offline
	loop      chan struct{}          // guarded by mu: closed when the relay loop ended
	offlines  uint64                 // guarded by mu: times the IO went offline (On drops a dial one overtook)
	ports     map[identity.ID]*Port  // guarded by mu: the current port to each peer
	bySID     map[sessionID]*Port    // guarded by mu: open ports by session, for the relay loop
	offers    map[identity.ID]*offer // guarded by mu: At's handshakes waiting for an answer
	online    map[identity.ID]bool   // guarded by mu: presence the relay told
	wanted    map[identity.ID]bool   // guarded by mu: peers asked for with At: their ports are reopened when they break
	strangers int                    // guarded by mu: open ports with stranger set
	loopCtx   context.Context        // guarded by mu: ends when the IO goes offline
	changed   chan struct{}          // guarded by mu: closed and replaced on every presence or connection change
}

// Events told to IO.trace.
const (
	traceWait    = "wait"    // At waits for a peer the relay said is offline
	traceRedial  = "redial"  // a broken port to a wanted peer is being reopened
	traceOpen    = "open"    // a port's data channel opened (the switch follows)
	traceDirect  = "direct"  // a port's frames now go over the data channel
	traceRelay   = "relay"   // a port gave up WebRTC and stays on the relay
	traceMessage = "message" // a port queued a message for Recv
	traceRefused = "refused" // a handshake message was refused
	traceBusy    = "busy"    // the peer refused this end's offer (a busy envelope)
	traceOffline = "offline" // the relay connection ended and the IO stays offline (Config.Reconnect)
	traceAnswer  = "answer"  // a port to an offerer is current, its answer not yet sent
	traceNoRelay = "norelay" // a round through every relay failed (reconnecting); told with this peer's id
)

func (io *IO) traceEvent(event string, peer identity.ID) {
	if io.trace != nil {
		io.trace(event, peer)
	}
}

// New returns the IO of the peer with the given seed, offline.
func New(alias string, seed identity.Seed, cfg Config) *IO {
	if cfg.Logger == nil {
		cfg.Logger = logs.Default()
	}
	if cfg.Retry == 0 {
		cfg.Retry = time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.StrangerBuffer <= 0 {
		cfg.StrangerBuffer = MaxStrangerBuffer
	}
	if cfg.StrangerTotal <= 0 {
		cfg.StrangerTotal = MaxStrangerTotal
	}
	var rtc newPeerFunc
	if cfg.WebRTC != nil {
		rtc = newRTC(cfg.WebRTC)
	}
	return &IO{alias: alias, key: identity.New(seed), cfg: cfg, rtc: rtc, urls: relayURLs(cfg),
		ports: make(map[identity.ID]*Port), bySID: make(map[sessionID]*Port),
		offers: make(map[identity.ID]*offer), online: make(map[identity.ID]bool), wanted: make(map[identity.ID]bool),
		changed: make(chan struct{}), offerq: make(chan offerSend, offerQueue), strangerOffers: rate.NewLimiter(StrangerOffers, StrangerOfferBurst),
		busyReplies: rate.NewLimiter(StrangerOffers, StrangerOfferBurst),
		refusalLog:  rate.Sometimes{First: 1, Interval: time.Second}}
}

// ID returns this peer's id.
func (io *IO) ID() identity.ID { return io.key.ID() }

// Alias returns the name given to New.
func (io *IO) Alias() string { return io.alias }

// RelayURL returns the websocket URL of the relay this IO is connected to,
// or "" while it is offline or reconnecting.
func (io *IO) RelayURL() string {
	io.mu.Lock()
	defer io.mu.Unlock()
	return io.url
}

// On goes online and calls handler with every new port; On(ctx, nil) goes
// offline, closing every port. It returns once a relay accepted this
// peer (or ctx ended, or every relay failed once).
//
// On tries Config.Relay, then each of Config.Relays in turn. When the
// connection drops, the IO waits about Config.Retry, tries the relay it was on
// once, then the next ones in turn without waiting between them, and
// waits Config.Retry again only when all failed. On the new connection it
// watches again the peers At waits for, and reopens the ports to peers
// asked for with At (their peers do the same).
func (io *IO) On(ctx context.Context, handler func(port.Port)) error {
	if handler == nil {
		io.offline()
		return nil
	}
	io.mu.Lock()
	io.handler = handler
	running, offlines := io.cancel != nil, io.offlines
	io.mu.Unlock()
	if running {
		return nil
	}
	c, at, err := io.dial(ctx, 0)
	if err != nil {
		return fmt.Errorf("peerio: go online: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	io.mu.Lock()
	if io.offlines != offlines || ctx.Err() != nil {
		// Close (or ctx's end) came while dialling: a connection going
		// online now would outlive it, and replace at the relay whatever
		// took this key's place meanwhile (the relay keeps the newest).
		io.mu.Unlock()
		cancel()
		c.Close()
		if ctx.Err() != nil {
			return fmt.Errorf("peerio: go online: %w", ctx.Err())
		}
		return fmt.Errorf("peerio: go online: %w", ErrOffline)
	}
	io.client, io.url, io.at = c, io.urls[at], at
	io.cancel, io.loop, io.loopCtx = cancel, make(chan struct{}), loopCtx
	io.notifyLocked()
	io.mu.Unlock()
	go io.run(loopCtx, c)
	return nil
}

// offline closes the relay connection and every port.
func (io *IO) offline() {
	io.mu.Lock()
	cancel, loop := io.cancel, io.loop
	io.cancel, io.handler = nil, nil
	io.offlines++
	io.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-loop
}

// Close goes offline.
func (io *IO) Close() error {
	io.offline()
	return nil
}

func (io *IO) rtcTimeout() time.Duration {
	if io.cfg.WebRTC == nil || io.cfg.WebRTC.Timeout == 0 {
		return 5 * time.Second
	}
	return io.cfg.WebRTC.Timeout
}

func (io *IO) relayClient() *client.Client {
	io.mu.Lock()
	defer io.mu.Unlock()
	return io.client
}

// notifyLocked wakes everyone waiting for a change. Called with mu held.
func (io *IO) notifyLocked() {
	close(io.changed)
	io.changed = make(chan struct{})
}

// run reads the relay's events until ctx ends, reconnecting when the relay
// connection drops.
func (io *IO) run(ctx context.Context, c *client.Client) {
	defer close(io.loop)
	for {
		io.serve(ctx, c)
		replaced := errors.Is(c.Err(), client.ErrReplaced)
		c.Close()
		io.mu.Lock()
		io.client, io.url = nil, ""
		ports := make([]*Port, 0, len(io.ports))
		for _, p := range io.ports {
			ports = append(ports, p)
		}
		io.online = make(map[identity.ID]bool)
		io.notifyLocked()
		io.mu.Unlock()
		for _, p := range ports {
			p.shut(fmt.Errorf("peerio: relay connection lost: %w: %w", ErrOffline, port.ErrOffline))
		}
		if ctx.Err() != nil {
			return
		}
		if io.cfg.OnRelay != nil {
			io.cfg.OnRelay("")
		}
		if io.cfg.Reconnect != nil && !io.cfg.Reconnect(replaced) {
			io.cfg.Logger.Info("peerio: relay connection ended; staying offline", "peer", io.ID().Short(), "replaced", replaced)
			io.traceEvent(traceOffline, io.ID())
			return
		}
		var url string
		if c, url = io.redial(ctx); c == nil {
			return
		}
		io.mu.Lock()
		watch := make([]identity.ID, 0, len(io.offers))
		for id := range io.offers {
			watch = append(watch, id)
		}
		io.notifyLocked()
		io.mu.Unlock()
		if len(watch) > 0 {
			_ = c.Watch(ctx, watch...)
		}
		if io.cfg.OnRelay != nil {
			io.cfg.OnRelay(url)
		}
	}
}

// redial waits about Config.Retry (jitter), then tries the relays in turn from the one
// last reached, each once, until one accepts this peer; it waits
// Config.Retry again after every round that failed. It returns the new
// connection, set as io.client, and its relay's URL, or nil once ctx
// ended.
func (io *IO) redial(ctx context.Context) (*client.Client, string) {
	io.mu.Lock()
	from := io.at
	io.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil, ""
		case <-time.After(jitter(io.cfg.Retry)):
		}
		c, at, err := io.dial(ctx, from)
		if err == nil {
			io.mu.Lock()
			io.client, io.url, io.at = c, io.urls[at], at
			io.mu.Unlock()
			if at != from {
				io.cfg.Logger.Info("peerio: moved to another relay", "peer", io.ID().Short(), "relay", io.urls[at])
			}
			return c, io.urls[at]
		}
		if ctx.Err() != nil {
			return nil, ""
		}
		io.cfg.Logger.Warn("peerio: relay unreachable", "peer", io.ID().Short(), "relays", len(io.urls), "err", err)
		io.traceEvent(traceNoRelay, io.ID())
	}
}

// jitter returns a wait between d/2 and 3d/2, d on average: the clients
// of a node that died do not all come to the others at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d+1)
}

// dial tries the relays in turn from urls[from], each once, and returns
// the first connection made and its relay's index, or the last error.
// While other relays remain to be tried, an attempt takes at most
// Config.DialTimeout.
func (io *IO) dial(ctx context.Context, from int) (*client.Client, int, error) {
	var err error
	for i := range io.urls {
		at := (from + i) % len(io.urls)
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if i < len(io.urls)-1 {
			dctx, cancel = context.WithTimeout(ctx, io.cfg.DialTimeout)
		}
		var c *client.Client
		c, err = client.Dial(dctx, io.urls[at], io.key)
		cancel()
		if err == nil {
			return c, at, nil
		}
		if ctx.Err() != nil {
			return nil, 0, err
		}
	}
	return nil, 0, err
}

// relayURLs is cfg.Relay followed by cfg.Relays, without empty or repeated
// URLs.
func relayURLs(cfg Config) []string {
	urls := []string{cfg.Relay}
	for _, u := range cfg.Relays {
		if u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// serve handles one relay connection's events until it ends or ctx ends.
func (io *IO) serve(ctx context.Context, c *client.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			io.handle(ctx, c, ev)
		case r := <-io.offerq:
			io.sendOffer(ctx, c, r)
		}
	}
}

func (io *IO) handle(ctx context.Context, c *client.Client, ev client.Event) {
	switch ev.Type {
	case wire.FramePresence:
		io.presence(ev.From, ev.Online)
	case wire.FrameError:
		if ev.Code == wire.CodeOffline {
			io.presence(ev.From, false)
		}
	case wire.FrameRecv:
		switch ev.Kind {
		case wire.KindFrame:
			if len(ev.Payload) < sidSize {
				return
			}
			io.mu.Lock()
			p := io.bySID[sessionID(ev.Payload[:sidSize])]
			io.mu.Unlock()
			if p != nil && p.remote == ev.From {
				p.deliver(ev.Payload)
			}
		case wire.KindSignal:
			if err := io.signal(ctx, c, ev.From, ev.Payload); err != nil {
				// A flood of refusals is logged once a second, with its count.
				n := io.refusals.Add(1)
				io.refusalLog.Do(func() {
					io.cfg.Logger.Warn("peerio: refused a handshake", "peer", io.ID().Short(), "from", ev.From.Short(), "err", err, "refused", n)
					io.refusals.Store(0)
				})
				io.traceEvent(traceRefused, ev.From)
			}
		}
	}
}

// presence records whether peer is online, wakes those waiting for it, and
// closes the port to a peer that left.
func (io *IO) presence(peer identity.ID, online bool) {
	io.mu.Lock()
	io.online[peer] = online
	p := io.ports[peer]
	io.notifyLocked()
	io.mu.Unlock()
	if !online && p != nil {
		p.shut(fmt.Errorf("peerio: %s went offline: %w", peer.Short(), port.ErrOffline))
	}
}

// signal handles a handshake envelope from peer.
func (io *IO) signal(ctx context.Context, c *client.Client, peer identity.ID, b []byte) error {
	e, err := decodeEnvelope(b)
	if err != nil {
		return err
	}
	switch e.T {
	case envOffer:
		if err := io.admitStranger(peer); err != nil {
			io.refuse(ctx, c, peer, e.SID)
			return err // before any work on the offer
		}
		answer, k, err := answerOffer(io.key, peer, e)
		if err != nil {
			return err
		}
		// Decide and register under one lock, so an At starting meanwhile
		// either sees this port or is seen here. A port to the peer that is
		// open already is replaced: the peer offers only while it has none
		// (it lost ours, maybe when its relay alone saw this end go), and
		// never after it answered ours (offerq).
		lower := io.ID().String() < peer.String()
		var busy, reused bool
		var ours *offer
		var repeat *Port
		p := io.register(peer, sessionID(e.SID), k, false, func(mine *offer) bool {
			if busy = io.admitStrangerLocked(peer) != nil; busy {
				return false
			}
			// The offerer picks the sid: one already in use (another peer's
			// port, seen by the relay) would take that port's frames. The
			// peer's own is its offer sent again.
			if q := io.bySID[sessionID(e.SID)]; q != nil {
				if reused = q.remote != peer; !reused {
					repeat = q
				}
				return false
			}
			// Both offered at once: the lower id's offer wins.
			if mine != nil && lower {
				ours = mine
				return false
			}
			return true
		})
		if ours != nil {
			// The peer offers while ours waits: it may have answered ours
			// and lost that port since, or never had ours. Ours goes
			// again; a peer that holds its port refuses the repeat.
			return c.Send(ctx, peer, wire.KindSignal, ours.msg)
		}
		if repeat != nil && repeat.answer != nil {
			// An offer answered already: the answer may have been lost.
			return c.Send(ctx, peer, wire.KindSignal, repeat.answer)
		}
		if busy {
			io.refuse(ctx, c, peer, e.SID)
			return ErrBusy
		}
		if reused {
			return fmt.Errorf("%w: session id in use", ErrHandshake)
		}
		if p == nil {
			return nil
		}
		p.answer = answer
		io.traceEvent(traceAnswer, peer)
		if err := c.Send(ctx, peer, wire.KindSignal, answer); err != nil {
			p.shut(err)
			return err
		}
		close(p.answered) // the port was current before: its frames waited
		io.announce(ctx, c, p)
	case envBusy:
		io.mu.Lock()
		o := io.offers[peer]
		io.mu.Unlock()
		if o != nil && sessionID(e.SID) == o.sid {
			io.traceEvent(traceBusy, peer)
			io.settle(peer, o, nil, fmt.Errorf("%w: %s refused the offer (try again later)", ErrBusy, peer.Short()))
		}
		return nil // else a busy for an offer renewed or answered since
	case envAnswer:
		io.mu.Lock()
		o := io.offers[peer]
		io.mu.Unlock()
		if o == nil || sessionID(e.SID) != o.sid {
			if io.current(peer, sessionID(e.SID)) {
				return nil // an answer sent again: the port it opened stands
			}
			return fmt.Errorf("%w: answer to no offer", ErrHandshake)
		}
		k, err := o.finish(io.key, peer, e)
		if err != nil {
			io.settle(peer, o, nil, err)
			return err
		}
		p := io.register(peer, o.sid, k, true, nil)
		io.settle(peer, o, p, nil)
		io.announce(ctx, c, p)
		if io.rtc != nil {
			go p.dialDirect()
		}
	}
	return nil
}

// current reports whether the port to peer is the one of session sid.
func (io *IO) current(peer identity.ID, sid sessionID) bool {
	io.mu.Lock()
	defer io.mu.Unlock()
	p := io.ports[peer]
	return p != nil && p.sid == sid
}

// refuse tells peer that its offer sid is refused (a busy envelope), so
// that its At ends now rather than waiting for an answer that will not
// come; at most StrangerOffers a second (StrangerOfferBurst at once), the
// rest of a flood unanswered. Called from the relay loop.
func (io *IO) refuse(ctx context.Context, c *client.Client, peer identity.ID, sid []byte) {
	if io.busyReplies.Allow() {
		_ = c.Send(ctx, peer, wire.KindSignal, busyMsg(sid))
	}
}

// admitStranger refuses an offer from a peer this end did not ask for when
// MaxStrangerPorts such ports are open (a new port to a peer that has one
// replaces it, so it is not refused), or past StrangerOffers.
func (io *IO) admitStranger(peer identity.ID) error {
	io.mu.Lock()
	defer io.mu.Unlock()
	if err := io.admitStrangerLocked(peer); err != nil {
		return err
	}
	if !io.wanted[peer] && !io.strangerOffers.Allow() {
		return fmt.Errorf("%w: over %d offers a second", ErrBusy, StrangerOffers)
	}
	return nil
}

// admitStrangerLocked is admitStranger, called with mu held.
func (io *IO) admitStrangerLocked(peer identity.ID) error {
	if io.wanted[peer] || io.strangers < MaxStrangerPorts {
		return nil
	}
	if live := io.ports[peer]; live != nil && live.stranger.Load() {
		return nil
	}
	return fmt.Errorf("%w: %d open", ErrBusy, io.strangers)
}

// register makes the port to peer, replacing an older one, and settles any
// At waiting for a port to peer with it. If accept is given, it decides
// first, under the same lock, from the pending offer; register returns nil
// when it refuses. Called from the relay loop.
func (io *IO) register(peer identity.ID, sid sessionID, k *keys, initiator bool, accept func(mine *offer) bool) *Port {
	p := newPort(io, peer, sid, k)
	if !initiator {
		p.answered = make(chan struct{}) // closed once the answer is sent (signal)
	}
	io.mu.Lock()
	old, pending := io.ports[peer], io.offers[peer]
	if accept != nil && !accept(pending) {
		io.mu.Unlock()
		return nil
	}
	if !initiator && !io.wanted[peer] {
		p.stranger.Store(true)
		io.strangers++
	}
	io.ports[peer] = p
	io.bySID[sid] = p
	io.notifyLocked()
	io.mu.Unlock()
	if old != nil {
		old.shut(fmt.Errorf("peerio: replaced by a new port to %s", peer.Short()))
	}
	if pending != nil && pending.sid != sid {
		io.settle(peer, pending, p, nil)
	}
	return p
}

// settle completes the pending offer to peer.
func (io *IO) settle(peer identity.ID, o *offer, p *Port, err error) {
	io.mu.Lock()
	if io.offers[peer] == o {
		delete(io.offers, peer)
	}
	io.mu.Unlock()
	select {
	case <-o.done:
	default:
		o.port, o.err = p, err
		close(o.done)
	}
}

// announce watches the port's peer (to learn when it leaves) and hands the
// port to the handler. A stranger is not watched (the relay allows a
// connection only so many watches, which strangers must not use up): it is
// once At asks for it (promote).
func (io *IO) announce(ctx context.Context, c *client.Client, p *Port) {
	if !p.stranger.Load() {
		_ = c.Watch(ctx, p.remote)
	}
	io.mu.Lock()
	h := io.handler
	io.mu.Unlock()
	if h != nil {
		go h(p)
	}
}

// forget drops a closed port. A port to a peer asked for with At that broke
// (not closed by either end, not replaced) is opened again as soon as both
// are online; the new port goes to the handler, like any other.
func (io *IO) forget(p *Port) {
	io.mu.Lock()
	current := io.ports[p.remote] == p
	if current {
		delete(io.ports, p.remote)
	}
	if io.bySID[p.sid] == p {
		if p.stranger.Load() {
			io.strangers--
		}
		delete(io.bySID, p.sid)
	}
	closed := errors.Is(p.err, port.ErrClosed)
	if current && closed {
		delete(io.wanted, p.remote)
	}
	redial := current && !closed && io.wanted[p.remote] && io.cancel != nil
	ctx := io.loopCtx
	io.mu.Unlock()
	if redial {
		io.traceEvent(traceRedial, p.remote)
		go func() { _, _ = io.At(ctx, p.remote) }()
	}
}

// At returns a port to peer. If peer is offline it waits until the relay
// says it came online, or ctx ends (the seed's at(id, signal)). Calls to
// At for the same peer, from either side at once, share one port.
func (io *IO) At(ctx context.Context, peer identity.ID) (port.Port, error) {
	if peer == io.ID() {
		return nil, ErrSelf
	}
	if err := peer.Check(); err != nil {
		return nil, err
	}
	io.mu.Lock()
	io.wanted[peer] = true
	io.mu.Unlock()
	for {
		io.mu.Lock()
		c := io.client
		if io.cancel == nil {
			io.mu.Unlock()
			return nil, ErrOffline
		}
		if p := io.ports[peer]; p != nil {
			// A port the peer opened unasked is asked for now: it is no
			// longer a stranger's, and its peer is watched.
			promote := p.stranger.Load()
			if promote {
				io.strangers--
				p.promote()
			}
			io.mu.Unlock()
			if promote && c != nil {
				_ = c.Watch(ctx, peer)
			}
			return p, nil
		}
		o := io.offers[peer]
		online, changed := io.online[peer], io.changed
		io.mu.Unlock()
		if c == nil { // reconnecting to the relay
			if err := wait(ctx, changed); err != nil {
				return nil, err
			}
			continue
		}
		if o == nil {
			var err error
			if o, _, err = newOffer(io.key, peer); err != nil {
				return nil, err
			}
			io.mu.Lock()
			if io.offers[peer] != nil || io.ports[peer] != nil {
				io.mu.Unlock()
				continue
			}
			io.offers[peer] = o
			io.mu.Unlock()
			if err := io.offerWhenOnline(ctx, c, peer, o); err != nil {
				io.settle(peer, o, nil, err)
				return nil, err
			}
		}
		// Wait for the answer. If the peer goes offline meanwhile, it may
		// have forgotten the offer: offer again (anew) when it is back.
		for {
			io.mu.Lock()
			online, changed = io.online[peer], io.changed
			resend := online && o.lost
			o.lost = !online
			io.mu.Unlock()
			if resend {
				_ = io.queueOffer(ctx, peer, o, true)
			}
			select {
			case <-o.done:
				if o.err != nil {
					return nil, o.err
				}
				return o.port, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-changed:
			}
		}
	}
}

// offerWhenOnline waits until peer is online, then has the relay loop send
// the offer. The offer stays pending when the relay connection (c, or the
// one of the moment) fails: the relay loop watches the peer again on the
// next one, and At offers again when the peer is seen there.
func (io *IO) offerWhenOnline(ctx context.Context, c *client.Client, peer identity.ID, o *offer) error {
	if err := c.Watch(ctx, peer); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	for {
		io.mu.Lock()
		online, known := io.online[peer]
		changed := io.changed
		io.mu.Unlock()
		if online {
			return io.queueOffer(ctx, peer, o, false)
		}
		if known {
			io.traceEvent(traceWait, peer)
		}
		if err := wait(ctx, changed); err != nil {
			return err
		}
	}
}

// An offerSend asks the relay loop to send offer o to peer, anew (a fresh
// session id and key) if renew.
type offerSend struct {
	peer  identity.ID
	o     *offer
	renew bool
}

// offerQueue is how many offers may wait for the relay loop; At waits
// past it.
const offerQueue = 64

// queueOffer hands an offer to the relay loop to send (sendOffer).
func (io *IO) queueOffer(ctx context.Context, peer identity.ID, o *offer, renew bool) error {
	select {
	case io.offerq <- offerSend{peer: peer, o: o, renew: renew}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendOffer sends an offer on the relay loop's connection c, unless it is
// no longer pending: answered, or settled by the peer's own offer, which
// this loop answered before. An offer not sent (its peer offline) or lost
// with its connection is marked lost: At offers again when the peer is
// back.
func (io *IO) sendOffer(ctx context.Context, c *client.Client, r offerSend) {
	io.mu.Lock()
	pending, online := io.offers[r.peer] == r.o, io.online[r.peer]
	io.mu.Unlock()
	if !pending {
		return
	}
	var err error
	switch {
	case !online:
		err = ErrOffline
	case r.renew:
		err = r.o.renew(io.key, r.peer)
	}
	if err == nil {
		err = c.Send(ctx, r.peer, wire.KindSignal, r.o.msg)
	}
	if err != nil {
		io.mu.Lock()
		r.o.lost = true
		io.mu.Unlock()
	}
}

func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
