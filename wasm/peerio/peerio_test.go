package peerio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startRelay runs a real relay on 127.0.0.1 and returns its websocket URL.
func startRelay(t *testing.T) string { return relaytest.Start(t, relay.DefaultLimits()) }

// peer is an IO with a handler that collects incoming ports, and the
// events it traces.
type peer struct {
	*peerio.IO
	ports    chan port.Port
	events   chan event
	received chan identity.ID // the sender of each message queued for Recv (while there is room)
}

// An event is what an IO traced (peerio.SetTrace).
type event struct {
	name string
	peer identity.ID
}

// await returns once p traced name for peer; it fails the test if ctx
// ends first.
func (p *peer) await(t *testing.T, name string, about identity.ID) {
	t.Helper()
	for {
		select {
		case ev := <-p.events:
			if ev.name == name && ev.peer == about {
				return
			}
		case <-ctx(t).Done():
			t.Fatalf("%s never traced %s for %s", p.Alias(), name, about.Short())
		}
	}
}

func newPeer(t *testing.T, url string, alias string, n byte) *peer {
	return newRTCPeer(t, url, alias, n, nil)
}

func (p *peer) online(t *testing.T) {
	t.Helper()
	if err := p.On(ctx(t), func(pt port.Port) { p.ports <- pt }); err != nil {
		t.Fatal(err)
	}
}

// accept returns the next port p's handler got, asked for with At (as the
// room does once it admits a peer), so that it is no stranger's: its
// messages may be larger than MaxStrangerBuffer.
func (p *peer) accept(t *testing.T) port.Port {
	t.Helper()
	pt := <-p.ports
	if q, err := p.At(ctx(t), pt.Remote()); err != nil || q != pt {
		t.Fatalf("At the peer of a port %s got: %v, %v", p.Alias(), q, err)
	}
	return pt
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func exchange(t *testing.T, a, b port.Port, msg []byte) {
	t.Helper()
	if err := a.Send(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	got, err := b.Recv(ctx(t))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("received %d bytes, %v; want the %d sent", len(got), err, len(msg))
	}
}

// connected returns Ana and Bob online at a new relay, with Ana's port to
// Bob and the one Bob's handler got.
func connected(t *testing.T) (ana, bob *peer, pa, pb port.Port) {
	t.Helper()
	url := startRelay(t)
	ana, bob = newPeer(t, url, "ana", 1), newPeer(t, url, "bob", 2)
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	return ana, bob, pa, bob.accept(t)
}

func TestConnectExchangeClose(t *testing.T) {
	ana, bob, pa, pb := connected(t)
	if pa.Remote() != bob.ID() || pb.Remote() != ana.ID() || pa.Local() != ana.ID() {
		t.Fatal("port ids are not the peers'")
	}
	if out := <-ana.ports; out != pa {
		t.Fatal("the handler did not get the outgoing port")
	}
	exchange(t, pa, pb, []byte("hello bob"))
	exchange(t, pb, pa, []byte("hello ana"))
	exchange(t, pa, pb, []byte{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // 160 KB: ten chunks
	exchange(t, pa, pb, big)
	if again, _ := ana.At(ctx(t), bob.ID()); again != pa {
		t.Fatal("a second At opened another port")
	}
	pa.Close()
	if _, err := pb.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Recv after the other end closed: %v", err)
	}
}

func TestAtWaitsForPeer(t *testing.T) {
	url := startRelay(t)
	ana, bob := newPeer(t, url, "ana", 1), newPeer(t, url, "bob", 2)
	ana.online(t)
	type result struct {
		p   port.Port
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := ana.At(ctx(t), bob.ID())
		done <- result{p, err}
	}()
	// At has seen Bob offline, from the relay, and waits: had it returned
	// (or not waited) it would be done before it traced the wait.
	select {
	case r := <-done:
		t.Fatalf("At returned before Bob came online: %v", r.err)
	case <-awaited(t, ana, peerio.TraceWait, bob.ID()):
	case <-ctx(t).Done():
		t.Fatal("At never waited for Bob")
	}
	select {
	case r := <-done:
		t.Fatalf("At returned before Bob came online: %v", r.err)
	default:
	}
	bob.online(t)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	exchange(t, r.p, <-bob.ports, []byte("you're back"))

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	carol := identity.New(identity.Seed{3}).ID()
	if _, err := ana.At(short, carol); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("At of a peer that never comes: %v, want DeadlineExceeded", err)
	}
}

// awaited returns a channel closed once p traced name for about (never,
// if the test ends first).
func awaited(t *testing.T, p *peer, name string, about identity.ID) <-chan struct{} {
	ch := make(chan struct{})
	c := ctx(t)
	go func() {
		for {
			select {
			case ev := <-p.events:
				if ev.name == name && ev.peer == about {
					close(ch)
					return
				}
			case <-c.Done():
				return
			}
		}
	}()
	return ch
}

func TestAtErrors(t *testing.T) {
	url := startRelay(t)
	ana := newPeer(t, url, "ana", 1)
	bob := identity.New(identity.Seed{2}).ID()
	if _, err := ana.At(ctx(t), bob); !errors.Is(err, peerio.ErrOffline) {
		t.Fatalf("At while offline: %v, want ErrOffline", err)
	}
	ana.online(t)
	if _, err := ana.At(ctx(t), ana.ID()); !errors.Is(err, peerio.ErrSelf) {
		t.Fatalf("At self: %v, want ErrSelf", err)
	}
	var weak identity.ID
	weak[0] = 1
	if _, err := ana.At(ctx(t), weak); !errors.Is(err, identity.ErrBadID) {
		t.Fatalf("At a bad id: %v, want ErrBadID", err)
	}
}

func TestSimultaneousAt(t *testing.T) {
	url := startRelay(t)
	for i := range 5 {
		ana, bob := newPeer(t, url, "ana", byte(10+2*i)), newPeer(t, url, "bob", byte(11+2*i))
		ana.online(t)
		bob.online(t)
		var wg sync.WaitGroup
		var pa, pb port.Port
		var ea, eb error
		wg.Add(2)
		go func() { defer wg.Done(); pa, ea = ana.At(ctx(t), bob.ID()) }()
		go func() { defer wg.Done(); pb, eb = bob.At(ctx(t), ana.ID()) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("simultaneous At: %v / %v", ea, eb)
		}
		exchange(t, pa, pb, []byte("one port"))
		exchange(t, pb, pa, []byte("both ways"))
		ana.Close()
		bob.Close()
	}
}

func TestReplicationOverIO(t *testing.T) {
	url := startRelay(t)
	ana, bob := newPeer(t, url, "ana", 1), newPeer(t, url, "bob", 2)
	anaDB, _ := journal.Open(context.Background(), store.NewMemory(), identity.Seed{1}, nil)
	bobDB, _ := journal.Open(context.Background(), store.NewMemory(), identity.Seed{2}, nil)
	book, _ := anaDB.Author(context.Background(), ana.ID().String()+"-"+bob.ID().String()+"-t", nil)
	for i := range 300 {
		book.Append(context.Background(), bytes.Repeat([]byte{byte(i)}, 1000))
	}
	rep, _ := bobDB.ReaderFrom(context.Background(), book.Key(), ana.ID())

	c, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(db *journal.DB, p port.Port) {
		defer wg.Done()
		replication.NewSession(db, p, replication.Config{Logger: quiet}).Run(c)
	}
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go run(anaDB, pa)
	go run(bobDB, bob.accept(t))

	changed := make(chan struct{}, 1)
	unsub := bobDB.Subscribe(func(journal.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer unsub()
	for rep.Have().Count() < book.Len() {
		select {
		case <-changed:
		case <-ctx(t).Done():
			t.Fatal("replication over the relay did not finish")
		}
	}
	cancel()
	wg.Wait()
}

func newRTCPeer(t *testing.T, url, alias string, n byte, rtc *peerio.RTCConfig) *peer {
	t.Helper()
	return newPeerWith(t, alias, n, peerio.Config{Relay: url, Logger: quiet, Retry: 10 * time.Millisecond, WebRTC: rtc})
}

// newPeerWith returns a peer whose IO has cfg.
func newPeerWith(t *testing.T, alias string, n byte, cfg peerio.Config) *peer {
	t.Helper()
	p := &peer{IO: peerio.New(alias, identity.Seed{n}, cfg),
		ports: make(chan port.Port, 16), events: make(chan event, 1<<12), received: make(chan identity.ID, 1<<12)}
	peerio.SetTrace(p.IO, func(name string, about identity.ID) {
		if name == peerio.TraceMessage {
			select {
			case p.received <- about:
			default: // benchmarks and floods: too many to keep
			}
			return
		}
		select {
		case p.events <- event{name, about}:
		default:
			panic("trace events not read")
		}
	})
	t.Cleanup(func() { p.Close() })
	return p
}

// TestWebRTCLoopback: two native pion peers move their port to a data
// channel on 127.0.0.1 (ICE limited to loopback), and messages keep their
// order across the switch.
func TestWebRTCLoopback(t *testing.T) {
	url := startRelay(t)
	rtc := &peerio.RTCConfig{LoopbackOnly: true, Timeout: 10 * time.Second}
	ana, bob := newRTCPeer(t, url, "ana", 1, rtc), newRTCPeer(t, url, "bob", 2, rtc)
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	pb := bob.accept(t)
	// Messages sent while the channel opens arrive in order, and the switch
	// never makes the receiver hold more than MaxHeld ahead of sequence
	// (200 messages of 8 KiB: more than that).
	const n = 200
	go func() {
		for i := range n {
			m := make([]byte, 8<<10)
			m[0] = byte(i)
			pa.Send(ctx(t), m)
		}
	}()
	for i := range n {
		m, err := pb.Recv(ctx(t))
		if err != nil || len(m) != 8<<10 || m[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	select {
	case <-pa.(*peerio.Port).DirectOpen():
	case <-ctx(t).Done():
		t.Fatal("the data channel did not open")
	}
	<-pb.(*peerio.Port).DirectOpen()
	if pa.(*peerio.Port).Transport() != "webrtc" {
		t.Fatalf("transport %s, want webrtc", pa.(*peerio.Port).Transport())
	}
	exchange(t, pa, pb, bytes.Repeat([]byte("x"), 100_000))
	exchange(t, pb, pa, []byte("over the data channel"))
}

// TestWebRTCFallback: when one side has no WebRTC, the port works on the
// relay after the attempt gave up.
func TestWebRTCFallback(t *testing.T) {
	url := startRelay(t)
	ana := newRTCPeer(t, url, "ana", 1, &peerio.RTCConfig{LoopbackOnly: true, Timeout: 200 * time.Millisecond})
	bob := newRTCPeer(t, url, "bob", 2, nil)
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	pb := bob.accept(t)
	ana.await(t, peerio.TraceRelay, bob.ID()) // the fallback happened
	select {
	case <-pa.(*peerio.Port).DirectOpen():
		t.Fatal("the data channel opened with a peer without WebRTC")
	default:
	}
	exchange(t, pa, pb, []byte("through the relay"))
	exchange(t, pb, pa, []byte("still the relay"))
	if got := pa.(*peerio.Port).Transport(); got != "relay" {
		t.Fatalf("transport %s, want relay", got)
	}
}

// TestReconnect: when a peer goes away and comes back, the port to it is
// opened again by itself, and the handlers get the new ports.
func TestReconnect(t *testing.T) {
	ana, bob, pa, pb := connected(t)
	<-ana.ports
	exchange(t, pa, pb, []byte("first"))

	bob.Close() // Bob's tab goes away
	if _, err := pa.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Ana's port after Bob left: %v", err)
	}
	// Why it closed says so: the room then redials without a growing pause.
	if err := pa.(*peerio.Port).Err(); !errors.Is(err, port.ErrOffline) {
		t.Fatalf("Ana's port after Bob left closed with %v, want port.ErrOffline", err)
	}
	bob.online(t) // and comes back
	var na, nb port.Port
	select {
	case na = <-ana.ports:
	case <-ctx(t).Done():
		t.Fatal("Ana's port was not reopened")
	}
	select {
	case nb = <-bob.ports:
	case <-ctx(t).Done():
		t.Fatal("Bob got no port")
	}
	exchange(t, na, nb, []byte("again"))
	exchange(t, nb, na, []byte("and back"))

	// A port closed on purpose is not reopened: Close decides it (and would
	// have traced the redial) before it returns.
	ana.await(t, peerio.TraceRedial, bob.ID()) // the redial above
	na.Close()
	if _, err := nb.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Bob's port after Ana closed it: %v", err)
	}
	for len(ana.events) > 0 {
		if ev := <-ana.events; ev.name == peerio.TraceRedial {
			t.Fatalf("a closed port is being reopened to %s", ev.peer.Short())
		}
	}
	select {
	case p := <-ana.ports:
		t.Fatalf("a closed port was reopened: %v", p.Remote())
	default:
	}
}

// TestReplacedStaysOffline: when a newer connection with the same id (the
// profile opened in another tab) replaces this IO at the relay and
// Config.Reconnect says not to reconnect, the IO stays offline rather than replace the
// newer one in turn (the two would evict each other for ever); the newer
// one stays reachable.
func TestReplacedStaysOffline(t *testing.T) {
	url := startRelay(t)
	asked := make(chan struct{}, 1)
	old := &peer{IO: peerio.New("bob-old", identity.Seed{2}, peerio.Config{Relay: url, Logger: quiet, Retry: 10 * time.Millisecond,
		Reconnect: func(replaced bool) bool {
			if !replaced {
				t.Error("Reconnect was not told the connection was replaced")
			}
			asked <- struct{}{}
			return false
		}}),
		ports: make(chan port.Port, 16), events: make(chan event, 1<<12)}
	peerio.SetTrace(old.IO, func(name string, about identity.ID) {
		select {
		case old.events <- event{name, about}:
		default:
		}
	})
	t.Cleanup(func() { old.Close() })
	old.online(t)
	cur := newPeer(t, url, "bob-new", 2)
	cur.online(t)
	<-asked
	old.await(t, peerio.TraceOffline, old.ID())

	ana := newPeer(t, url, "ana", 1)
	ana.online(t)
	pa, err := ana.At(ctx(t), cur.ID())
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, pa, cur.accept(t), []byte("to the newer tab"))
}

// TestFramesWaitForTheAnswer: the answering end's port is current (At
// returns it) before its answer has gone to the relay; a message sent on
// it then waits for the answer, so it reaches the offerer (sent first, the
// offerer would drop its frame, knowing no port of that session yet, and
// the port would wait for it forever).
func TestFramesWaitForTheAnswer(t *testing.T) {
	url := startRelay(t)
	ana, bob := newPeer(t, url, "ana", 1), newPeer(t, url, "bob", 2)
	answering, release := make(chan struct{}), make(chan struct{})
	peerio.SetTrace(bob.IO, func(name string, about identity.ID) {
		if name == peerio.TraceAnswer {
			close(answering)
			<-release // Bob's answer is slow to go out
		}
	})
	ana.online(t)
	bob.online(t)
	type result struct {
		p   port.Port
		err error
	}
	dialed := make(chan result, 1)
	go func() {
		p, err := ana.At(ctx(t), bob.ID())
		dialed <- result{p, err}
	}()
	select {
	case <-answering:
	case <-ctx(t).Done():
		t.Fatal("Bob never answered")
	}
	pb, err := bob.At(ctx(t), ana.ID())
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- pb.Send(ctx(t), []byte("first")) }()
	select {
	case err := <-sent:
		t.Errorf("the message was sent before the answer (%v)", err)
	case <-time.After(100 * time.Millisecond): // waiting, as it should
	}
	close(release)
	r := <-dialed
	if r.err != nil {
		t.Fatal(r.err)
	}
	got, err := r.p.Recv(ctx(t))
	if err != nil || string(got) != "first" {
		t.Fatalf("Ana received %q, %v; want the message Bob sent first", got, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestCancelledSendKeepsRelay: sends to Bob whose context ends as they
// are written (a session giving up) leave Ana's relay connection, and her
// port to Carl, working. A websocket write cut short by its context
// closes the connection; the relay client no longer lets a caller's
// context cut a write short (relay/client write; TestSetReturn in
// relay/mirror lost its session to a mirror that way, now and then).
func TestCancelledSendKeepsRelay(t *testing.T) {
	url := startRelay(t)
	ana, bob, carl := newPeer(t, url, "ana", 1), newPeer(t, url, "bob", 2), newPeer(t, url, "carl", 3)
	for _, p := range []*peer{ana, bob, carl} {
		p.online(t)
	}
	// Bob reads whatever comes; Ana's handler gets her own ports too.
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range []*peer{ana, bob} {
		wg.Go(func() {
			for {
				select {
				case pt := <-p.ports:
					if p == bob {
						wg.Go(func() { drainPort(pt) })
					}
				case <-done:
					return
				}
			}
		})
	}
	t.Cleanup(func() { // before the peers' own: the handlers are read until the IOs stop
		for _, p := range []*peer{ana, bob, carl} {
			p.Close()
		}
		close(done)
		wg.Wait()
	})
	pc, err := ana.At(ctx(t), carl.ID())
	if err != nil {
		t.Fatal(err)
	}
	carlEnd := carl.accept(t)
	big := bytes.Repeat([]byte{7}, 60_000)
	for range 100 {
		pb, err := ana.At(ctx(t), bob.ID())
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(context.Background())
		go cancel()
		pb.Send(sctx, big) // cancelled before or while it is written: either way
	}
	exchange(t, pc, carlEnd, []byte("still here"))
}

// drainPort reads p until it closes.
func drainPort(p port.Port) {
	for {
		if _, err := p.Recv(context.Background()); err != nil {
			return
		}
	}
}
