package relay

import (
	"bytes"
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// payloadOf returns a payload of n bytes (n < 0: nil).
func payloadOf(n int) []byte {
	if n < 0 {
		return nil
	}
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}

// TestAppendSendRecv: the hand-written encoder writes what Encode writes,
// and the hand-written parser reads it back, at every length boundary.
func TestAppendSendRecv(t *testing.T) {
	id := key(1).ID()
	for _, n := range []int{-1, 0, 1, 23, 24, 255, 256, 1000, MaxPayload} {
		for _, typ := range []FrameType{FrameSend, FrameRecv} {
			f := &Frame{Type: typ, ID: id, Kind: KindFrame, Payload: payloadOf(n)}
			want := mustEncode(f)
			got := appendSendRecv(nil, typ, id, KindFrame, f.Payload)
			if !bytes.Equal(got, want) {
				t.Fatalf("type %d, payload %d: encoded\n%x\nwant\n%x", typ, n, got, want)
			}
			pt, pid, kind, payload, m, ok := parseSendRecv(append(got, 0x81, 0x03))
			if !ok || m != len(got) || pt != typ || pid != id || kind != KindFrame ||
				!bytes.Equal(payload, f.Payload) || (payload == nil) != (f.Payload == nil) {
				t.Fatalf("type %d, payload %d: parsed %v %d %d %d, %d of %d bytes", typ, n, ok, pt, kind, len(payload), m, len(got))
			}
		}
	}
}

// TestRouteNoAllocs: parsing a send and queuing its recv allocates
// nothing; the buffers come from pools.
func TestRouteNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled buffers at random")
	}
	b := mustEncode(&Frame{Type: FrameSend, ID: key(1).ID(), Kind: KindSignal, Payload: payloadOf(200)})
	c := &conn{}
	if n := testing.AllocsPerRun(100, func() {
		_, to, kind, payload, _, _ := parseSendRecv(b)
		c.release(newRecv(to, kind, payload))
	}); n != 0 {
		t.Errorf("%v allocations per send routed", n)
	}
}

func TestDecodeBatch(t *testing.T) {
	recv := mustEncode(&Frame{Type: FrameRecv, ID: key(1).ID(), Kind: KindSignal, Payload: []byte("x")})
	presence := mustEncode(&Frame{Type: FramePresence, ID: key(2).ID(), Online: true})
	fs, err := DecodeBatch(bytes.Join([][]byte{recv, presence, recv}, nil))
	if err != nil || len(fs) != 3 || fs[0].Type != FrameRecv || fs[1].Type != FramePresence || !fs[1].Online || string(fs[2].Payload) != "x" {
		t.Fatalf("got %+v, %v", fs, err)
	}
	bad := map[string][]byte{
		"empty":          {},
		"too big":        bytes.Repeat(recv, MaxFrameSize/len(recv)+1),
		"cut short":      append(append([]byte{}, recv...), presence[:len(presence)-1]...),
		"not cbor":       append(append([]byte{}, recv...), 0xff),
		"bad frame":      append(append([]byte{}, recv...), 0x82, 0x01, 0x40), // a challenge without its nonce
		"not an array":   append(append([]byte{}, recv...), 0x05),
		"indef in batch": append(append([]byte{}, recv...), 0x9f, 0x03, 0xff),
	}
	for name, b := range bad {
		if fs, err := DecodeBatch(b); err == nil {
			t.Errorf("%s: decoded %d frames", name, len(fs))
		}
	}
	// Without batches agreed, a message is one frame.
	if _, err := decodeMessage(append(append([]byte{}, recv...), recv...), false); err == nil {
		t.Error("two frames in a message decoded without batches")
	}
}

// holdFirst makes the relay's writer for the connection whose id it is
// given wait, before its first write after the handshake, until release
// is closed; held is closed once it waits.
type holdFirst struct {
	id       atomic.Pointer[identity.ID]
	done     atomic.Bool
	held     chan struct{}
	release  chan struct{}
	released bool
}

func newHoldFirst(t *testing.T) *holdFirst {
	h := &holdFirst{held: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(h.let)
	return h
}

func (h *holdFirst) hook(c *conn) {
	if id := h.id.Load(); id != nil && c.id == *id && h.done.CompareAndSwap(false, true) {
		close(h.held)
		<-h.release
	}
}

func (h *holdFirst) let() {
	if !h.released {
		h.released = true
		close(h.release)
	}
}

// batchScenario has a send four frames to b while b's writer is held in
// its first write (of frame 0), until frames 1 to 3 wait in b's queue; it
// then lets the writer go and returns b's connection on the relay.
func batchScenario(t *testing.T, r *testRelay, h *holdFirst, a *Client, b identity.ID) *conn {
	t.Helper()
	h.id.Store(&b)
	send(t, a, b, KindFrame, []byte{0})
	select {
	case <-h.held:
	case <-time.After(wait):
		t.Fatal("b's writer never wrote")
	}
	for i := 1; i <= 3; i++ {
		send(t, a, b, KindFrame, []byte{byte(i)})
	}
	bc := r.lookup(b)
	deadline := time.Now().Add(wait)
	for len(bc.sendq) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d frames queued for b, want 3", len(bc.sendq))
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	h.let()
	return bc
}

// TestBatchesToClient: what waits in a connection's queue goes in one
// message to a client that took BatchProtocol, and Client reads it.
func TestBatchesToClient(t *testing.T) {
	h := newHoldFirst(t)
	r := newRelay(t, Limits{}, func(s *Server) { s.beforeWrite = h.hook })
	a, b := dial(t, r, key(1)), dial(t, r, key(2))
	if !b.Batches() {
		t.Fatal("Client did not take batches")
	}
	bc := batchScenario(t, r, h, a, b.ID())
	for i := range 4 {
		expectRecv(t, b, a.ID(), KindFrame, []byte{byte(i)})
	}
	// challenge, welcome, frame 0, frames 1-3 (the writer counts a
	// write just after b may have read it)
	deadline := time.Now().Add(wait)
	for bc.writes.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	if n := bc.writes.Load(); n != 4 {
		t.Errorf("%d writes to b, want 4", n)
	}
	if st := r.Stats(); st.FramesOut < 6 {
		t.Errorf("%d frames out, want at least 6 (counted one by one)", st.FramesOut)
	}
	exchange(t, a, b, "after the batch")
}

// TestNoBatchesUnasked: a client that does not offer BatchProtocol (an
// older one) gets one frame per message.
func TestNoBatchesUnasked(t *testing.T) {
	h := newHoldFirst(t)
	r := newRelay(t, Limits{}, func(s *Server) { s.beforeWrite = h.hook })
	a := dial(t, r, key(1))
	ws := rawAuth(t, r, key(2))
	if p := ws.Subprotocol(); p != "" {
		t.Fatalf("subprotocol %q chosen, none offered", p)
	}
	batchScenario(t, r, h, a, key(2).ID())
	for i := range 4 {
		f := rawRead(t, ws) // Decode takes exactly one frame
		if f.Type != FrameRecv || !bytes.Equal(f.Payload, []byte{byte(i)}) {
			t.Fatalf("message %d: %+v", i, f)
		}
	}
}

// TestClientWithoutBatches: Client works with a relay that does not
// choose BatchProtocol (one from before it).
func TestClientWithoutBatches(t *testing.T) {
	r := newRelay(t, Limits{}, func(s *Server) { s.noBatch = true })
	a, b := dial(t, r, key(1)), dial(t, r, key(2))
	if a.Batches() || b.Batches() {
		t.Fatal("batches taken from a relay that did not choose them")
	}
	exchange(t, a, b, "no batches")
}

// TestRawBatchClient: a client of another make that offers BatchProtocol
// gets a batch it can split with DecodeBatch.
func TestRawBatchClient(t *testing.T) {
	h := newHoldFirst(t)
	r := newRelay(t, Limits{}, func(s *Server) { s.beforeWrite = h.hook })
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.url, &websocket.DialOptions{Subprotocols: []string{"other", BatchProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != BatchProtocol {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	k := key(2)
	nonce := rawRead(t, ws).Nonce
	rawWrite(t, ws, &Frame{Type: FrameHello, ID: k.ID(), Sig: k.Sign(HelloMessage(r.host, nonce)), Host: r.host})
	if f := rawRead(t, ws); f.Type != FrameWelcome {
		t.Fatalf("got frame type %d, want welcome", f.Type)
	}
	a := dial(t, r, key(1))
	batchScenario(t, r, h, a, k.ID())
	var got []*Frame
	for len(got) < 4 {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := DecodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fs...)
	}
	for i, f := range got {
		want := &Frame{Type: FrameRecv, ID: a.ID(), Kind: KindFrame, Payload: []byte{byte(i)}}
		if !reflect.DeepEqual(f, want) {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
}

// FuzzParseSendRecv: the hand-written parser takes only what Decode
// takes, and reads it as Decode does; the hand-written encoder writes
// exactly what it parsed.
func FuzzParseSendRecv(f *testing.F) {
	for _, n := range []int{-1, 0, 23, 24, 300} {
		f.Add(mustEncode(&Frame{Type: FrameSend, ID: key(1).ID(), Kind: KindSignal, Payload: payloadOf(n)}))
	}
	f.Add(mustEncode(&Frame{Type: FrameWatch, IDs: []identity.ID{key(1).ID()}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, id, kind, payload, n, ok := parseSendRecv(b)
		if !ok {
			return
		}
		fr, err := Decode(b[:n])
		if err != nil {
			t.Fatalf("parsed %x, which Decode refuses: %v", b[:n], err)
		}
		if fr.Type != typ || fr.ID != id || fr.Kind != kind || !bytes.Equal(fr.Payload, payload) || (fr.Payload == nil) != (payload == nil) {
			t.Fatalf("parsed %d %d %x, Decode %+v", typ, kind, payload, fr)
		}
		if enc := appendSendRecv(nil, typ, id, kind, payload); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("parsed %x, encodes as %x", b[:n], enc)
		}
	})
}

// FuzzDecodeBatch: a batch decodes to frames that Decode takes one by
// one, and whose encodings, put back to back, decode the same.
func FuzzDecodeBatch(f *testing.F) {
	recv := mustEncode(&Frame{Type: FrameRecv, ID: key(1).ID(), Kind: KindSignal, Payload: []byte("x")})
	presence := mustEncode(&Frame{Type: FramePresence, ID: key(2).ID(), Online: true})
	errf := mustEncode(&Frame{Type: FrameError, Code: CodeOffline, ID: key(2).ID(), Detail: "not connected"})
	f.Add(recv)
	f.Add(bytes.Join([][]byte{recv, presence, errf}, nil))
	f.Add(append(append([]byte{}, presence...), 0x9f, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		var again []byte
		for _, fr := range fs {
			enc, err := Encode(fr)
			if err != nil {
				t.Fatalf("decoded %+v but cannot encode it: %v", fr, err)
			}
			if _, err := Decode(enc); err != nil {
				t.Fatalf("frame %+v of a batch does not decode alone: %v", fr, err)
			}
			again = append(again, enc...)
		}
		fs2, err := DecodeBatch(again)
		if err != nil || !reflect.DeepEqual(fs, fs2) {
			t.Fatalf("round trip: %+v, %v; was %+v", fs2, err, fs)
		}
	})
}
