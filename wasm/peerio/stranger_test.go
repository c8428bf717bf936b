package peerio

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// A stranger is a scripted native peer on the relay: it completes the
// handshake as the protocol says, then sends whatever the test wants.
type stranger struct {
	key *identity.Key
	c   *relay.Client
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func dialStranger(t *testing.T, url string, seed identity.Seed) *stranger {
	t.Helper()
	key := identity.New(seed)
	c, err := relay.Dial(testCtx(t), url, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &stranger{key: key, c: c}
}

// offer sends a handshake offer to peer.
func (s *stranger) offer(t *testing.T, peer identity.ID) *offer {
	t.Helper()
	o, msg, err := newOffer(s.key, peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.c.Send(testCtx(t), peer, relay.KindSignal, msg); err != nil {
		t.Fatal(err)
	}
	return o
}

// open offers a port to peer and returns the sealer of its frames once
// peer answered.
func (s *stranger) open(t *testing.T, peer identity.ID) *sealer {
	t.Helper()
	o := s.offer(t, peer)
	for {
		select {
		case ev, ok := <-s.c.Events():
			if !ok {
				t.Fatalf("the stranger's relay connection ended: %v", s.c.Err())
			}
			if ev.Type != relay.FrameRecv || ev.Kind != relay.KindSignal || ev.From != peer {
				continue
			}
			e, err := decodeEnvelope(ev.Payload)
			if err != nil || sessionID(e.SID) != o.sid {
				continue
			}
			k, err := o.finish(s.key, peer, e)
			if err != nil {
				t.Fatal(err)
			}
			return &sealer{sid: o.sid, send: k.send}
		case <-testCtx(t).Done():
			t.Fatal("no answer to the stranger's offer")
		}
	}
}

// victim returns an IO online at url whose handler hands over its ports,
// and a channel of the events it traces.
func victim(t *testing.T, url string) (*IO, chan port.Port, chan string) {
	t.Helper()
	v := New("victim", identity.Seed{1}, Config{Relay: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	events := make(chan string, 1024)
	v.trace = func(ev string, _ identity.ID) {
		if ev == traceRefused {
			events <- ev
		}
	}
	ports := make(chan port.Port, 2*MaxStrangerPorts)
	handler := func(p port.Port) {
		select {
		case ports <- p:
		default: // a flood of ports: the test does not want them all
		}
	}
	if err := v.On(testCtx(t), handler); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, ports, events
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestStrangerOutOfSequenceBounded: a stranger opens a port and sends
// 64 MiB of frames ahead of sequence (never the first). The tab's heap
// grows by a few MiB at most: the port closes past MaxHeld.
func TestStrangerOutOfSequenceBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 64 MiB through a relay")
	}
	url := relaytest.Start(t, relay.Limits{FramesPerSec: 1e7, BytesPerSec: 1e11, SendQueue: 1 << 14})
	v, ports, refused := victim(t, url)
	s := dialStranger(t, url, identity.Seed{66})
	sl := s.open(t, v.ID())
	p := (<-ports).(*Port)

	before := heapAlloc()
	const sent = 64 << 20
	chunk := make([]byte, ChunkSize)
	ctx := testCtx(t)
	for seq := uint64(1); seq <= sent/ChunkSize; seq++ {
		if err := s.c.Send(ctx, v.ID(), relay.KindFrame, sl.frame(seq, flagLast, chunk)); err != nil {
			t.Fatal(err)
		}
	}
	// The relay delivers a sender's frames in order, and the victim handles
	// them in order: once it refused a bad handshake message sent after
	// them, it has handled them all (and its port to the stranger stands).
	if err := s.c.Send(ctx, v.ID(), relay.KindSignal, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-refused:
	case <-ctx.Done():
		t.Fatal("the victim did not handle the frames")
	}
	after := heapAlloc()
	growth := int64(after) - int64(before)
	t.Logf("heap %d → %d bytes (%+d) after %d MiB ahead of sequence", before, after, growth, sent>>20)
	if growth > 4<<20 {
		t.Fatalf("the heap grew by %d MiB while a stranger sent %d MiB ahead of sequence", growth>>20, sent>>20)
	}
	<-p.Done()
	if !errors.Is(p.Err(), ErrOverflow) {
		t.Fatalf("the port closed with %v, want ErrOverflow", p.Err())
	}
	runtime.KeepAlive(p)
}

// TestStrangerPortsBounded: strangers open at most MaxStrangerPorts ports
// at once; the next offer is refused (told busy, no port) until one of
// them leaves.
func TestStrangerPortsBounded(t *testing.T) {
	url := relaytest.Start(t, relay.Limits{})
	v, ports, refused := victim(t, url)
	var strangers []*stranger
	var sealers []*sealer
	for i := range MaxStrangerPorts {
		s := dialStranger(t, url, identity.Seed{100, byte(i)})
		sealers = append(sealers, s.open(t, v.ID()))
		<-ports
		strangers = append(strangers, s)
	}
	// Another port from one of them replaces its own: not refused.
	strangers[0].open(t, v.ID())
	<-ports

	late := dialStranger(t, url, identity.Seed{99})
	lateOffer := late.offer(t, v.ID())
	select {
	case <-refused:
	case <-testCtx(t).Done():
		t.Fatal("the offer past the bound was not refused")
	}
	// The refusal is told: a busy for that offer (At then returns
	// ErrBusy: TestAtRefusedBusy).
	for told := false; !told; {
		select {
		case ev := <-late.c.Events():
			if ev.Type == relay.FrameRecv && ev.Kind == relay.KindSignal {
				e, err := decodeEnvelope(ev.Payload)
				if err != nil || e.T != envBusy || sessionID(e.SID) != lateOffer.sid {
					t.Fatalf("the refused offer got %+v (%v), want a busy for it", e, err)
				}
				told = true
			}
		case <-testCtx(t).Done():
			t.Fatal("the refused offer got no busy")
		}
	}
	select {
	case p := <-ports:
		t.Fatalf("a port past the bound was opened: %v", p.Remote())
	default:
	}
	// One closes its port (strangers are not watched: see
	// TestStrangersNotWatched): there is room again.
	if err := strangers[1].c.Send(testCtx(t), v.ID(), relay.KindFrame, sealers[1].frame(0, flagClose, nil)); err != nil {
		t.Fatal(err)
	}
	for {
		o := late.offer(t, v.ID())
		got := false
		for !got {
			select {
			case <-refused:
				got = true // presence not handled yet: offer again
			case p := <-ports:
				if p.Remote() != late.key.ID() {
					t.Fatalf("a port to %v", p.Remote())
				}
				_ = o
				return
			case <-testCtx(t).Done():
				t.Fatal("no port after a stranger left")
			}
		}
	}
}

// TestStrangerOffersBounded: a stranger sending valid offers as fast as
// the relay lets it gets at most StrangerOfferBurst (and StrangerOffers a
// second) checked and answered; the rest are refused before any work.
func TestStrangerOffersBounded(t *testing.T) {
	url := relaytest.Start(t, relay.Limits{})
	v, _, refused := victim(t, url)
	s := dialStranger(t, url, identity.Seed{77})
	const n = 1000
	msgs := make([][]byte, n)
	for i := range msgs {
		_, msg, err := newOffer(s.key, v.ID())
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = msg
	}
	ctx := testCtx(t)
	for _, m := range msgs {
		if err := s.c.Send(ctx, v.ID(), relay.KindSignal, m); err != nil {
			t.Fatal(err)
		}
	}
	// Every offer is either answered or refused; some refusals are told
	// (busy), at most as many as offers are answered.
	answered, busy, refusals := 0, 0, 0
	start := time.Now()
	for answered+refusals < n {
		select {
		case ev := <-s.c.Events():
			if ev.Type != relay.FrameRecv || ev.Kind != relay.KindSignal {
				continue
			}
			e, err := decodeEnvelope(ev.Payload)
			switch {
			case err != nil:
				t.Fatalf("the victim sent a malformed envelope: %v", err)
			case e.T == envBusy:
				busy++
			default:
				answered++
			}
		case <-refused:
			refusals++
		case <-ctx.Done():
			t.Fatalf("%d answered, %d refused of %d offers", answered, refusals, n)
		}
	}
	t.Logf("%d offers answered, %d refused (%d told busy)", answered, refusals, busy)
	if answered < StrangerOfferBurst/2 || refusals == 0 {
		t.Fatalf("%d offers answered, %d refused: want the burst answered, the rest refused", answered, refusals)
	}
	if most := StrangerOfferBurst + int(time.Since(start).Seconds()*StrangerOffers) + 1; busy > most {
		t.Fatalf("%d busy envelopes for a flood of offers, at most %d", busy, most)
	}
}

// TestStrangerReusesSID: an offer that reuses the session id of another
// peer's port (the relay sees sids) is refused; that port keeps its frames.
func TestStrangerReusesSID(t *testing.T) {
	url := relaytest.Start(t, relay.Limits{})
	v, ports, refused := victim(t, url)
	ana := dialStranger(t, url, identity.Seed{70})
	sa := ana.open(t, v.ID())
	pa := (<-ports).(*Port)

	mallory := dialStranger(t, url, identity.Seed{71})
	o, _, err := newOffer(mallory.key, v.ID())
	if err != nil {
		t.Fatal(err)
	}
	o.sid = sa.sid
	eph := o.eph.PublicKey()
	sig := mallory.key.Sign(offerBytes(mallory.key.ID(), v.ID(), o.sid[:], eph))
	msg, err := encMode.Marshal(envelope{T: envOffer, SID: o.sid[:], Eph: eph, Sig: sig})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := mallory.c.Send(ctx, v.ID(), relay.KindSignal, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-refused:
	case p := <-ports:
		t.Fatalf("an offer reusing a session id opened a port to %s", p.Remote().Short())
	case <-ctx.Done():
		t.Fatal("the offer was neither refused nor answered")
	}
	if err := ana.c.Send(ctx, v.ID(), relay.KindFrame, sa.frame(0, flagLast, []byte("still mine"))); err != nil {
		t.Fatal(err)
	}
	if m, err := pa.Recv(ctx); err != nil || string(m) != "still mine" {
		t.Fatalf("the port got %q, %v", m, err)
	}
}

// TestStrangerPartialMessagesBounded: MaxStrangerPorts strangers each open
// a port and send 1 MiB of a message they never finish (64 MiB in all).
// The tab's heap grows by a few MiB at most: a stranger's port closes past
// MaxStrangerBuffer, and all of them past MaxStrangerTotal.
func TestStrangerPartialMessagesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 64 MiB through a relay")
	}
	url := relaytest.Start(t, relay.Limits{FramesPerSec: 1e7, BytesPerSec: 1e11, SendQueue: 1 << 14})
	v, ports, refused := victim(t, url)
	type open struct {
		s  *stranger
		sl *sealer
	}
	var all []open
	var opened []*Port
	for i := range MaxStrangerPorts {
		s := dialStranger(t, url, identity.Seed{120, byte(i)})
		all = append(all, open{s, s.open(t, v.ID())})
		opened = append(opened, (<-ports).(*Port))
	}

	before := heapAlloc()
	const perPort = 1 << 20
	chunk := make([]byte, ChunkSize)
	ctx := testCtx(t)
	for _, o := range all {
		for seq := uint64(0); seq < perPort/ChunkSize; seq++ {
			if err := o.s.c.Send(ctx, v.ID(), relay.KindFrame, o.sl.frame(seq, flagMore, chunk)); err != nil {
				t.Fatal(err)
			}
		}
		// Handled in order: once this is refused, the frames before it were handled.
		if err := o.s.c.Send(ctx, v.ID(), relay.KindSignal, []byte("sync")); err != nil {
			t.Fatal(err)
		}
	}
	for range all {
		select {
		case <-refused:
		case <-ctx.Done():
			t.Fatal("the victim did not handle the frames")
		}
	}
	after := heapAlloc()
	growth := int64(after) - int64(before)
	t.Logf("heap %d → %d bytes (%+d) after %d MiB of unfinished messages", before, after, growth, MaxStrangerPorts*perPort>>20)
	if growth > 3*MaxStrangerTotal {
		t.Fatalf("the heap grew by %d MiB while strangers sent %d MiB of unfinished messages", growth>>20, MaxStrangerPorts*perPort>>20)
	}
	for _, p := range opened {
		<-p.Done()
		if !errors.Is(p.Err(), ErrOverflow) {
			t.Fatalf("a stranger's port closed with %v, want ErrOverflow", p.Err())
		}
	}
	if n := v.strangerBytes.Load(); n != 0 {
		t.Fatalf("closed strangers' ports still count %d bytes", n)
	}
	runtime.KeepAlive(opened)
}

// TestStrangersNotWatched: ports strangers open do not use up the relay's
// watches (MaxWatch of them here): a member dialled afterwards is still
// watched, and reached. A stranger's port asked for with At is watched.
func TestStrangersNotWatched(t *testing.T) {
	const maxWatch = 4
	url := relaytest.Start(t, relay.Limits{MaxWatch: maxWatch})
	v, ports, _ := victim(t, url)
	for i := range 2 * maxWatch {
		s := dialStranger(t, url, identity.Seed{130, byte(i)})
		s.open(t, v.ID())
		<-ports
	}
	member := New("member", identity.Seed{140}, Config{Relay: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := member.On(testCtx(t), func(port.Port) {}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { member.Close() })
	if _, err := v.At(testCtx(t), member.ID()); err != nil {
		t.Fatalf("At a member after %d strangers: %v", 2*maxWatch, err)
	}

	// A stranger asked for is watched: it leaving closes its port.
	s := dialStranger(t, url, identity.Seed{150})
	s.open(t, v.ID())
	var p *Port
	for p == nil || p.Remote() != s.key.ID() {
		p = (<-ports).(*Port) // the member's port came first
	}
	if q, err := v.At(testCtx(t), s.key.ID()); err != nil || q != port.Port(p) {
		t.Fatalf("At the stranger: %v, %v; want its port", q, err)
	}
	s.c.Close()
	select {
	case <-p.Done():
	case <-testCtx(t).Done():
		t.Fatal("the port of a stranger asked for did not close when it left")
	}
}

// TestAtRefusedBusy: a peer whose strangers' ports are all taken answers
// an offer from an IO it did not ask for with busy: that IO's At returns
// ErrBusy at once (it waited for an answer that never came, as long as its
// context lasted); once a stranger leaves, At opens a port.
func TestAtRefusedBusy(t *testing.T) {
	url := relaytest.Start(t, relay.Limits{})
	v, ports, _ := victim(t, url)
	var strangers []*stranger
	var sealers []*sealer
	var opened []port.Port
	for i := range MaxStrangerPorts {
		s := dialStranger(t, url, identity.Seed{100, byte(i)})
		sealers = append(sealers, s.open(t, v.ID()))
		opened = append(opened, <-ports)
		strangers = append(strangers, s)
	}
	asker := New("asker", identity.Seed{42}, Config{Relay: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := asker.On(testCtx(t), func(port.Port) {}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { asker.Close() })
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	if _, err := asker.At(ctx, v.ID()); !errors.Is(err, ErrBusy) {
		t.Fatalf("At to a peer full of strangers: %v, want ErrBusy", err)
	}
	if err := strangers[1].c.Send(ctx, v.ID(), relay.KindFrame, sealers[1].frame(0, flagClose, nil)); err != nil {
		t.Fatal(err)
	}
	<-opened[1].(interface{ Done() <-chan struct{} }).Done()
	for {
		p, err := asker.At(ctx, v.ID())
		if err == nil {
			if p.Remote() != v.ID() {
				t.Fatalf("a port to %v", p.Remote())
			}
			return
		}
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("At once a stranger left: %v", err)
		}
	}
}
