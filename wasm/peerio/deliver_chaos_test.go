package peerio_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// A mitm is a relay in the middle: a websocket server on 127.0.0.1 in
// front of a real relay. It passes every relay frame both ways, and lets a
// test rewrite the port frames the relay sends down to its clients: repeat,
// reorder, hold, garble or add them, as a broken or hostile relay could
// (it holds no port keys, so it cannot forge one).
type mitm struct {
	url   string // immutable: the mitm's ws:// URL
	relay string // immutable: the real relay's ws:// URL
	wg    sync.WaitGroup

	mu      sync.Mutex
	rewrite func(f *relay.Frame) []*relay.Frame // guarded by mu, and called with it held; nil passes frames as they are
	down    *websocket.Conn                     // guarded by mu: the last client's connection
}

// startMITM runs a relay on 127.0.0.1 that answers to the mitm's address
// too, and the mitm in front of it, until the test ends.
func startMITM(t *testing.T) *mitm {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, err := relay.ParseHost(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.NewServer(nil, relay.DefaultLimits(), relay.WithHosts(host))
	hs := httptest.NewServer(srv.Handler())
	m := &mitm{url: "ws://" + ln.Addr().String(), relay: "ws" + strings.TrimPrefix(hs.URL, "http")}
	ps := httptest.NewUnstartedServer(http.HandlerFunc(m.serve))
	ps.Listener.Close()
	ps.Listener = ln
	ps.Start()
	t.Cleanup(func() {
		ps.Close()
		srv.Close()
		hs.Close()
		m.wg.Wait()
	})
	return m
}

// serve connects one client to the relay and copies frames both ways
// until either side ends.
func (m *mitm) serve(w http.ResponseWriter, r *http.Request) {
	m.wg.Add(1)
	defer m.wg.Done()
	down, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer down.CloseNow()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up, _, err := websocket.Dial(ctx, m.relay, nil)
	if err != nil {
		return
	}
	defer up.CloseNow()
	down.SetReadLimit(2 * relay.MaxFrameSize)
	up.SetReadLimit(2 * relay.MaxFrameSize)
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		copyFrames(ctx, up, down, func(b []byte) [][]byte { return [][]byte{b} })
	}()
	copyFrames(ctx, down, up, m.pass)
	cancel()
	<-done
}

// copyFrames copies messages from src to dst, each as pass makes it,
// until either fails.
func copyFrames(ctx context.Context, dst, src *websocket.Conn, pass func([]byte) [][]byte) {
	for {
		typ, b, err := src.Read(ctx)
		if err != nil {
			return
		}
		for _, out := range pass(b) {
			if dst.Write(ctx, typ, out) != nil {
				return
			}
		}
	}
}

// pass rewrites a frame on its way down, if it carries a port frame.
func (m *mitm) pass(b []byte) [][]byte {
	f, err := relay.Decode(b)
	if err != nil || f.Type != relay.FrameRecv || f.Kind != relay.KindFrame {
		return [][]byte{b}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rewrite == nil {
		return [][]byte{b}
	}
	var out [][]byte
	for _, g := range m.rewrite(f) {
		e, err := relay.Encode(g)
		if err != nil {
			panic(err)
		}
		out = append(out, e)
	}
	return out
}

// setRewrite sets how port frames going down are rewritten.
func (m *mitm) setRewrite(f func(*relay.Frame) []*relay.Frame) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rewrite = f
}

// locked runs f with the mitm's lock held: what a rewrite keeps is then
// the test's to read.
func (m *mitm) locked(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

// inject sends port frames down to the last client, as the relay would.
func (m *mitm) inject(t *testing.T, frames ...*relay.Frame) {
	t.Helper()
	m.mu.Lock()
	down := m.down
	m.mu.Unlock()
	for _, f := range frames {
		b, err := relay.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := down.Write(ctx(t), websocket.MessageBinary, b); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}
}

// seqOf is the seq of a port frame.
func seqOf(f *relay.Frame) uint64 {
	return binary.BigEndian.Uint64(f.Payload[peerio.FrameHeader-8:])
}

// withPayload is a copy of f carrying payload.
func withPayload(f *relay.Frame, payload []byte) *relay.Frame {
	g := *f
	g.Payload = payload
	return &g
}

// chaosPair returns Ana online at the relay and Bob behind the mitm, with
// Ana's port to Bob and the one Bob's handler got: what the relay sends
// Bob, the mitm may change.
func chaosPair(t *testing.T) (m *mitm, ana, bob *peer, pa, pb port.Port) {
	t.Helper()
	m = startMITM(t)
	ana, bob = newPeer(t, m.relay, "ana", 1), newPeer(t, m.url, "bob", 2)
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	pb = bob.accept(t)
	if out := <-ana.ports; out != pa {
		t.Fatal("Ana's handler did not get her port")
	}
	return m, ana, bob, pa, pb
}

// chaosMessages are n messages, every fourth cut in three chunks.
func chaosMessages(n int) []string {
	msgs := make([]string, n)
	for i := range msgs {
		size := 10 + i
		if i%4 == 3 {
			size = 2*peerio.ChunkSize + 100
		}
		msgs[i] = fmt.Sprintf("%03d:", i) + strings.Repeat(string(rune('a'+i%26)), size)
	}
	return msgs
}

func sendAll(t *testing.T, p port.Port, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		if err := p.Send(ctx(t), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

// receive returns the next n messages of p.
func receive(t *testing.T, p port.Port, n int) []string {
	t.Helper()
	var got []string
	for range n {
		m, err := p.Recv(ctx(t))
		if err != nil {
			t.Fatalf("Recv after %d messages: %v", len(got), err)
		}
		got = append(got, string(m))
	}
	return got
}

// sameMessages fails unless got are want, in order.
func sameMessages(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("message %d is %.8q, want %.8q (%d received, %d sent)", i, got[i], want[i], len(got), len(want))
		}
	}
	t.Fatalf("%d messages received, %d sent", len(got), len(want))
}

// nothingMore fails if p has a message ready, or closed.
func nothingMore(t *testing.T, p port.Port) {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := p.Recv(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv: %.8q, %v; want nothing yet", m, err)
	}
}

// stillOpen checks that p carries a message each way after the chaos,
// and that the next message to b is that one: nothing was queued twice.
func stillOpen(t *testing.T, a, b port.Port) {
	t.Helper()
	exchange(t, a, b, []byte("after the chaos"))
	exchange(t, b, a, []byte("and back"))
}

// TestChaosRepeatedFrames: every port frame the relay sends twice, and all
// of them sent again at the end (replays of frames already taken), are
// each taken once: the messages arrive once, in order, and the port stays
// open.
func TestChaosRepeatedFrames(t *testing.T) {
	m, _, _, pa, pb := chaosPair(t)
	var seen []*relay.Frame
	m.setRewrite(func(f *relay.Frame) []*relay.Frame {
		seen = append(seen, f)
		return []*relay.Frame{f, f}
	})
	msgs := chaosMessages(12)
	sendAll(t, pa, msgs)
	sameMessages(t, receive(t, pb, len(msgs)), msgs)
	m.setRewrite(nil)
	var replay []*relay.Frame
	m.locked(func() { replay = slices.Clone(seen) })
	if len(replay) <= len(msgs) {
		t.Fatalf("the mitm saw %d frames for %d messages", len(replay), len(msgs))
	}
	m.inject(t, replay...)
	stillOpen(t, pa, pb)
	if n := peerio.Held(pb); n != 0 {
		t.Fatalf("Bob holds %d frames", n)
	}
}

// TestChaosReorderedFrames: port frames the relay sends in reverse order,
// five at a time, are put back in order, messages cut in chunks included.
func TestChaosReorderedFrames(t *testing.T) {
	m, _, _, pa, pb := chaosPair(t)
	const window = 5
	var buf []*relay.Frame
	reversed := func() []*relay.Frame {
		out := slices.Clone(buf)
		slices.Reverse(out)
		buf = buf[:0]
		return out
	}
	m.setRewrite(func(f *relay.Frame) []*relay.Frame {
		if buf = append(buf, f); len(buf) < window {
			return nil
		}
		return reversed()
	})
	msgs := chaosMessages(15)
	sendAll(t, pa, msgs)
	// The frames still in the window go down last, reversed too.
	var rest []*relay.Frame
	m.locked(func() {
		m.rewrite = nil
		rest = reversed()
	})
	m.inject(t, rest...)
	sameMessages(t, receive(t, pb, len(msgs)), msgs)
	stillOpen(t, pa, pb)
	if n := peerio.Held(pb); n != 0 {
		t.Fatalf("Bob holds %d frames", n)
	}
}

// TestChaosGapFilled: while the relay holds back one frame, the frames
// after it wait at the port, and no message past the gap is delivered;
// once the frame comes, they all are, in order.
func TestChaosGapFilled(t *testing.T) {
	m, _, _, pa, pb := chaosPair(t)
	var late *relay.Frame
	m.setRewrite(func(f *relay.Frame) []*relay.Frame {
		if seqOf(f) == 1 {
			late = f
			return nil
		}
		return []*relay.Frame{f}
	})
	msgs := []string{"zero", "one", "two", "three", "four", "five"}
	sendAll(t, pa, msgs)
	sameMessages(t, receive(t, pb, 1), msgs[:1])
	deadline := time.Now().Add(30 * time.Second)
	for peerio.Held(pb) != len(msgs)-2 {
		if time.Now().After(deadline) {
			t.Fatalf("Bob holds %d frames ahead of the gap, want %d", peerio.Held(pb), len(msgs)-2)
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
	nothingMore(t, pb)
	var f *relay.Frame
	m.locked(func() { f = late })
	m.inject(t, f)
	sameMessages(t, receive(t, pb, len(msgs)-1), msgs[1:])
	stillOpen(t, pa, pb)
	if n := peerio.Held(pb); n != 0 {
		t.Fatalf("Bob holds %d frames", n)
	}
}

// TestChaosForeignFrames: frames the relay makes up or misattributes are
// dropped without harm: one too short for a header, one of a session
// that is not open, and this port's own frames (even garbled) said to come
// from another peer. The port's messages arrive once, in order.
func TestChaosForeignFrames(t *testing.T) {
	m, _, _, pa, pb := chaosPair(t)
	carol := identity.New(identity.Seed{3}).ID()
	m.setRewrite(func(f *relay.Frame) []*relay.Frame {
		short := withPayload(f, f.Payload[:peerio.FrameHeader-9])
		other := withPayload(f, bytes.Clone(f.Payload))
		other.Payload[0] ^= 0xff // another session id
		fromCarol := withPayload(f, f.Payload)
		fromCarol.ID = carol
		garbled := withPayload(fromCarol, bytes.Clone(f.Payload))
		garbled.Payload[len(garbled.Payload)-1] ^= 1
		return []*relay.Frame{short, other, fromCarol, garbled, f}
	})
	msgs := chaosMessages(8)
	sendAll(t, pa, msgs)
	sameMessages(t, receive(t, pb, len(msgs)), msgs)
	m.setRewrite(nil)
	stillOpen(t, pa, pb)
}

// TestChaosBadFrameClosesPort: a frame of this port the relay garbled,
// made oversized or moved far ahead closes the port at once with the
// reason (after the messages before it); both ends then open a new port,
// which works.
func TestChaosBadFrameClosesPort(t *testing.T) {
	for _, c := range []struct {
		name string
		bad  func(f *relay.Frame) *relay.Frame
		want error
		text string
	}{
		{"tampered", func(f *relay.Frame) *relay.Frame {
			g := withPayload(f, bytes.Clone(f.Payload))
			g.Payload[peerio.FrameHeader] ^= 1
			return g
		}, peerio.ErrBadFrame, "failed authentication"},
		{"oversized", func(f *relay.Frame) *relay.Frame {
			return withPayload(f, append(bytes.Clone(f.Payload), make([]byte, peerio.ChunkSize)...))
		}, peerio.ErrBadFrame, "at most"},
		{"far ahead", func(f *relay.Frame) *relay.Frame {
			g := withPayload(f, bytes.Clone(f.Payload))
			binary.BigEndian.PutUint64(g.Payload[peerio.FrameHeader-8:], 1<<30)
			return g
		}, peerio.ErrOverflow, "far ahead"},
		{"truncated", func(f *relay.Frame) *relay.Frame {
			return withPayload(f, f.Payload[:peerio.FrameHeader+4])
		}, peerio.ErrBadFrame, "failed authentication"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, ana, bob, pa, pb := chaosPair(t)
			var sid []byte
			m.setRewrite(func(f *relay.Frame) []*relay.Frame {
				if sid == nil {
					sid = f.Payload[:peerio.FrameHeader-8]
				}
				if seqOf(f) == 2 && bytes.HasPrefix(f.Payload, sid) {
					return []*relay.Frame{c.bad(f)}
				}
				return []*relay.Frame{f}
			})
			msgs := []string{"zero", "one", "two"}
			sendAll(t, pa, msgs)
			sameMessages(t, receive(t, pb, 2), msgs[:2])
			_, err := pb.Recv(ctx(t))
			if !errors.Is(err, port.ErrClosed) || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("Bob's port after the bad frame: %v; want it closed with %v (%q)", err, c.want, c.text)
			}
			// Bob dials Ana again (she is a peer he asked for); her new
			// port replaces the one that broke.
			nb, na := nextPort(t, bob), nextPort(t, ana)
			select {
			case <-pa.(*peerio.Port).Done():
			case <-ctx(t).Done():
				t.Fatal("Ana's broken port stays open")
			}
			if nb == pb || na == pa {
				t.Fatal("no new port")
			}
			stillOpen(t, na, nb)
		})
	}
}
