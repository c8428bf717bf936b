package peerio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// logBuffer is a slog handler's output that tests read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sealer makes the frames the other end of a port would send.
type sealer struct {
	sid  sessionID
	send cipherState
}

func (s *sealer) frame(seq uint64, flag byte, chunk []byte) []byte {
	out := append(append([]byte(nil), s.sid[:]...), binary.BigEndian.AppendUint64(nil, seq)...)
	return s.send.aead.Seal(out, nonce(seq), append([]byte{flag}, chunk...), s.sid[:])
}

// testPort returns a port of an IO that is not online, with keys from a
// real handshake, and the sealer of its other end. The IO's log goes to
// the returned buffer.
func testPort(t testing.TB, n byte) (*IO, *Port, *sealer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	io := New("test", identity.Seed{1}, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	p, s := addPort(t, io, n)
	return io, p, s, logs
}

// addPort adds a port to io from the peer with seed n.
func addPort(t testing.TB, io *IO, n byte) (*Port, *sealer) {
	t.Helper()
	other := identity.New(identity.Seed{n})
	o, msg, err := newOffer(io.key, other.ID())
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEnvelope(msg)
	if err != nil {
		t.Fatal(err)
	}
	answer, theirs, err := answerOffer(other, io.key.ID(), e)
	if err != nil {
		t.Fatal(err)
	}
	ae, err := decodeEnvelope(answer)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := o.finish(io.key, other.ID(), ae)
	if err != nil {
		t.Fatal(err)
	}
	return newPort(io, other.ID(), o.sid, ours), &sealer{sid: o.sid, send: theirs.send}
}

// closedWith fails unless p closed with an error wrapping want.
func closedWith(t *testing.T, p *Port, want error) {
	t.Helper()
	select {
	case <-p.Done():
	default:
		t.Fatalf("the port is open; want it closed with %v", want)
	}
	if !errors.Is(p.Err(), want) {
		t.Fatalf("the port closed with %v; want %v", p.Err(), want)
	}
}

func recvAll(t *testing.T, p *Port, n int) []string {
	t.Helper()
	var got []string
	for range n {
		m, err := p.Recv(context.Background())
		if err != nil {
			t.Fatalf("Recv after %d messages: %v", len(got), err)
		}
		got = append(got, string(m))
	}
	return got
}

// TestDeliverReordersAndDropsRepeats: frames shuffled, each sent twice
// (as on both paths), come out as the messages sent, in order, and nothing
// stays held.
func TestDeliverReordersAndDropsRepeats(t *testing.T) {
	io, p, s, _ := testPort(t, 2)
	var frames [][]byte
	var want []string
	seq := uint64(0)
	for i := range 20 {
		msg := strings.Repeat(string(rune('a'+i)), i*1000) // up to two chunks
		want = append(want, msg)
		for rest := []byte(msg); ; {
			n := min(len(rest), ChunkSize)
			flag := byte(flagLast)
			if n < len(rest) {
				flag = flagMore
			}
			frames = append(frames, s.frame(seq, flag, rest[:n]))
			seq++
			rest = rest[n:]
			if flag == flagLast {
				break
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	// Shuffle within windows of 8 frames, and repeat every frame.
	for i := 0; i < len(frames); i += 8 {
		w := frames[i:min(i+8, len(frames))]
		r.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	for _, f := range frames {
		p.deliver(f)
		p.deliver(f)
	}
	if got := recvAll(t, p, len(want)); !slicesEqual(got, want) {
		t.Fatal("messages out of order or changed")
	}
	if p.Err() != nil {
		t.Fatalf("the port closed: %v", p.Err())
	}
	if len(p.held) != 0 || p.heldBytes != 0 || io.held.Load() != 0 {
		t.Fatalf("held %d frames, %d bytes, IO %d after the gaps filled", len(p.held), p.heldBytes, io.held.Load())
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeliverTamperedAheadCloses: a tampered frame ahead of sequence
// closes the port when it arrives, not when (if ever) its turn comes.
func TestDeliverTamperedAheadCloses(t *testing.T) {
	_, p, s, logs := testPort(t, 2)
	f := s.frame(5, flagLast, []byte("forged"))
	f[len(f)-1] ^= 1
	p.deliver(f)
	closedWith(t, p, ErrBadFrame)
	if !strings.Contains(logs.String(), "failed authentication") {
		t.Fatalf("the reason was not logged: %q", logs.String())
	}
}

// TestDeliverTamperedInOrderCloses: the next frame, tampered, closes the
// port; the messages before it are still received.
func TestDeliverTamperedInOrderCloses(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	p.deliver(s.frame(0, flagLast, []byte("fine")))
	f := s.frame(1, flagLast, []byte("forged"))
	f[sidSize+8] ^= 1
	p.deliver(f)
	closedWith(t, p, ErrBadFrame)
	if got := recvAll(t, p, 1); got[0] != "fine" {
		t.Fatalf("got %q", got[0])
	}
	if _, err := p.Recv(context.Background()); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Recv after the messages: %v", err)
	}
}

// TestDeliverFrameOfAnotherPort: a frame with another port's sid is
// ignored; one with this port's sid sealed with another key closes it.
func TestDeliverFrameOfAnotherPort(t *testing.T) {
	io, p, s, _ := testPort(t, 2)
	_, other := addPort(t, io, 3)
	p.deliver(other.frame(0, flagLast, []byte("not yours")))
	if p.Err() != nil {
		t.Fatalf("a frame of another session closed the port: %v", p.Err())
	}
	p.deliver(s.frame(0, flagLast, []byte("yours")))
	other.sid = s.sid // a replay under this sid, but sealed with another key
	p.deliver(other.frame(1, flagLast, []byte("forged")))
	closedWith(t, p, ErrBadFrame)
}

// TestDeliverShortFrames: frames too short for a header, or with an empty
// sealed part, do not crash; the empty one closes the port.
func TestDeliverShortFrames(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	p.deliver(nil)
	p.deliver(s.sid[:])
	if p.Err() != nil {
		t.Fatalf("a short frame closed the port: %v", p.Err())
	}
	p.deliver(append(append([]byte(nil), s.sid[:]...), make([]byte, 8)...))
	closedWith(t, p, ErrBadFrame)
}

// TestDeliverOversizedFrame: a frame carrying more than ChunkSize (which
// no sender makes) closes the port.
func TestDeliverOversizedFrame(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	p.deliver(s.frame(0, flagLast, make([]byte, ChunkSize+1)))
	closedWith(t, p, ErrBadFrame)
}

// TestDeliverOversizedMessage: chunks adding up past MaxMessage close the
// port.
func TestDeliverOversizedMessage(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	chunk := make([]byte, ChunkSize)
	seq := uint64(0)
	for ; seq <= MaxMessage/ChunkSize; seq++ {
		p.deliver(s.frame(seq, flagMore, chunk))
	}
	closedWith(t, p, ErrTooLarge)
}

// TestDeliverTinyChunks: a message in more chunks than MaxMessage takes
// in chunks of ChunkSize (each chunk is kept with its frame until the
// message is whole) closes the port, however few bytes they carry; a
// message of MaxMessage bytes in chunks of ChunkSize comes whole.
func TestDeliverTinyChunks(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	seq := uint64(0)
	for ; seq < maxChunks && p.Err() == nil; seq++ {
		p.deliver(s.frame(seq, flagMore, []byte{'x'}))
	}
	closedWith(t, p, ErrTooLarge)

	_, q, sq, _ := testPort(t, 3)
	msg := make([]byte, MaxMessage)
	seq = 0
	for off := 0; off < len(msg); off += ChunkSize {
		end := min(off+ChunkSize, len(msg))
		flag := byte(flagMore)
		if end == len(msg) {
			flag = flagLast
		}
		q.deliver(sq.frame(seq, flag, msg[off:end]))
		seq++
	}
	got, err := q.Recv(context.Background())
	if err != nil || len(got) != MaxMessage {
		t.Fatalf("a message of MaxMessage bytes: %d bytes, %v", len(got), err)
	}
}

// TestDeliverTinyMessagesBounded: messages of one byte that the reader
// does not take fill the inbox by what each costs kept (its frame, a
// slice header), not by their bytes alone: the port closes after
// MaxInbox of that, not after 16 million messages.
func TestDeliverTinyMessagesBounded(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	limit := uint64(MaxInbox/(1+inboxOverhead)) + 1
	seq := uint64(0)
	for ; seq <= limit && p.Err() == nil; seq++ {
		p.deliver(s.frame(seq, flagLast, []byte{'x'}))
	}
	closedWith(t, p, ErrOverflow)
}

// TestDeliverUnknownFlag: a frame with a flag no sender uses closes the
// port.
func TestDeliverUnknownFlag(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	p.deliver(s.frame(0, 9, nil))
	closedWith(t, p, ErrBadFrame)
}

// TestDeliverHeldBounded: a peer that sends frames ahead of sequence (and
// never the missing one) makes the port hold at most MaxHeld bytes: past
// it the port closes, says why, and gives the bytes back.
func TestDeliverHeldBounded(t *testing.T) {
	io, p, s, logs := testPort(t, 2)
	chunk := make([]byte, ChunkSize)
	for seq := uint64(1); seq <= 4*MaxHeld/ChunkSize && p.Err() == nil; seq++ {
		p.deliver(s.frame(seq, flagLast, chunk))
		if p.heldBytes > MaxHeld {
			t.Fatalf("holding %d bytes", p.heldBytes)
		}
	}
	closedWith(t, p, ErrOverflow)
	if !strings.Contains(logs.String(), "ahead of sequence") {
		t.Fatalf("the reason was not logged: %q", logs.String())
	}
	if p.held != nil || io.held.Load() != 0 {
		t.Fatalf("a closed port still holds %d frames (IO: %d bytes)", len(p.held), io.held.Load())
	}
}

// TestDeliverFarAhead: a frame too far ahead to be held closes the port.
func TestDeliverFarAhead(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	p.deliver(s.frame(1<<40, flagLast, nil))
	closedWith(t, p, ErrOverflow)
}

// TestDeliverHeldTotalBounded: many ports each holding just under MaxHeld
// hold at most MaxHeldTotal together.
func TestDeliverHeldTotalBounded(t *testing.T) {
	io, _, _, _ := testPort(t, 2)
	chunk := make([]byte, ChunkSize)
	perPort := (MaxHeld - 1) / (ChunkSize + heldOverhead)
	var refused *Port
	for n := byte(10); n < 10+2*MaxHeldTotal/MaxHeld && refused == nil; n++ {
		p, s := addPort(t, io, n)
		for seq := uint64(1); seq <= uint64(perPort); seq++ {
			p.deliver(s.frame(seq, flagLast, chunk))
		}
		if p.Err() != nil {
			refused = p
		}
		if io.held.Load() > MaxHeldTotal {
			t.Fatalf("ports hold %d bytes together", io.held.Load())
		}
	}
	if refused == nil {
		t.Fatal("no port was refused")
	}
	closedWith(t, refused, ErrOverflow)
}

// TestDeliverSlowReaderCloses: deliver never waits for the port's reader:
// a port whose reader takes nothing closes once MaxInbox bytes wait.
func TestDeliverSlowReaderCloses(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		msg := make([]byte, ChunkSize)
		for seq := uint64(0); seq < 2*MaxInbox/ChunkSize && p.Err() == nil; seq++ {
			p.deliver(s.frame(seq, flagLast, msg))
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // a fail-safe: deliver waits for a reader that never comes
		t.Fatal("deliver waits for the port's reader")
	}
	closedWith(t, p, ErrOverflow)
	// What came before still reads.
	if m, err := p.Recv(context.Background()); err != nil || len(m) != ChunkSize {
		t.Fatalf("Recv: %d bytes, %v", len(m), err)
	}
}

// TestDeliverCloseFrame: the close flag closes the port as closed by the
// other end (not an error that reopens it).
func TestDeliverCloseFrame(t *testing.T) {
	_, p, s, _ := testPort(t, 2)
	p.deliver(s.frame(1, flagClose, nil))
	p.deliver(s.frame(0, flagLast, []byte("bye")))
	if got := recvAll(t, p, 1); got[0] != "bye" {
		t.Fatalf("got %q", got[0])
	}
	if _, err := p.Recv(context.Background()); err != port.ErrClosed {
		t.Fatalf("Recv after close: %v, want port.ErrClosed itself", err)
	}
}

// FuzzDeliver feeds a port frames built from the input: each op is seq
// offset (1 byte, from the next expected), flag (1 byte), length (2 bytes)
// and whether to tamper (low bit of the flag byte's high nibble). The port
// never panics, never holds more than its bounds, and any message it
// yields is one that was sent whole.
func FuzzDeliver(f *testing.F) {
	f.Add([]byte{0, 1, 0, 5, 1, 1, 0, 3, 0, 0, 0, 0})
	f.Add([]byte{3, 1, 0xff, 0xff, 2, 0, 0x10, 0, 0, 0x11, 0, 1, 1, 2, 0, 0})
	f.Add([]byte{0, 0, 0x40, 0, 0, 0, 0x40, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		io, p, s, _ := testPort(t, 2)
		stranger := len(ops) > 0 && ops[0]&1 != 0
		p.stranger.Store(stranger)
		base := uint64(0)
		for len(ops) >= 4 && p.Err() == nil {
			off, flag, n := uint64(ops[0]), ops[1], int(binary.BigEndian.Uint16(ops[2:4]))
			ops = ops[4:]
			fr := s.frame(base+off, flag&0x0f, bytes.Repeat([]byte{'x'}, min(n, 2*ChunkSize)))
			if flag&0x10 != 0 {
				fr[len(fr)-1] ^= 1
			}
			p.deliver(fr)
			p.recvMu.Lock()
			base = p.recv.count
			p.recvMu.Unlock()
			if p.heldBytes > MaxHeld || io.held.Load() > MaxHeldTotal || p.partialN > MaxMessage || len(p.partial) >= maxChunks {
				t.Fatalf("holding %d (IO %d), partial %d bytes in %d chunks", p.heldBytes, io.held.Load(), p.partialN, len(p.partial))
			}
			if stranger && (p.partialN > MaxStrangerBuffer || io.strangerBytes.Load() > MaxStrangerBuffer) {
				t.Fatalf("a stranger's port: partial %d, charged %d", p.partialN, io.strangerBytes.Load())
			}
		}
		p.inMu.Lock()
		defer p.inMu.Unlock()
		if p.inboxBytes > MaxInbox+MaxMessage {
			t.Fatalf("inbox of %d bytes", p.inboxBytes)
		}
		for _, m := range p.inbox {
			if bytes.ContainsFunc(m, func(r rune) bool { return r != 'x' }) {
				t.Fatal("a message with bytes never sent")
			}
		}
		p.shut(port.ErrClosed)
		if io.held.Load() != 0 || io.strangerBytes.Load() != 0 {
			t.Fatalf("IO still counts %d held bytes, %d of strangers", io.held.Load(), io.strangerBytes.Load())
		}
	})
}

// BenchmarkDeliver measures the receive path without a network: a frame
// opened, queued and taken by Recv, in order and with every other pair
// swapped (one held ahead of sequence).
func BenchmarkDeliver(b *testing.B) {
	for _, tc := range []struct {
		name    string
		size    int
		swapped bool
	}{{"1KiB", 1 << 10, false}, {"16KiB", ChunkSize, false}, {"1KiB-reordered", 1 << 10, true}} {
		b.Run(tc.name, func(b *testing.B) {
			_, p, s, _ := testPort(b, 2)
			msg := make([]byte, tc.size)
			frames := make([][]byte, 1024)
			for i := range frames {
				frames[i] = s.frame(uint64(i), flagLast, msg)
			}
			if tc.swapped {
				for i := 0; i+1 < len(frames); i += 2 {
					frames[i], frames[i+1] = frames[i+1], frames[i]
				}
			}
			ctx := context.Background()
			b.SetBytes(int64(tc.size))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if n == len(frames) {
					b.StopTimer()
					p, s = addPort(b, p.io, 2)
					for i := range frames {
						j := i
						if tc.swapped {
							j ^= 1
						}
						frames[i] = s.frame(uint64(j), flagLast, msg)
					}
					n = 0
					b.StartTimer()
				}
				p.deliver(frames[n])
				n++
				if !tc.swapped || n%2 == 0 {
					for range 1 + btoi(tc.swapped) {
						if _, err := p.Recv(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// BenchmarkDeliverLarge is BenchmarkDeliver of a 256 KiB message (a
// replication data message), in chunks of ChunkSize: opened, put back
// together and taken by Recv.
func BenchmarkDeliverLarge(b *testing.B) {
	const size = 256 << 10
	_, p, s, _ := testPort(b, 2)
	msg := make([]byte, size)
	seal := func(first uint64) [][]byte {
		var frames [][]byte
		for off := 0; off < size; off += ChunkSize {
			end := min(off+ChunkSize, size)
			flag := byte(flagMore)
			if end == size {
				flag = flagLast
			}
			frames = append(frames, s.frame(first+uint64(len(frames)), flag, msg[off:end]))
		}
		return frames
	}
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		b.StopTimer()
		frames := seal(seq)
		seq += uint64(len(frames))
		b.StartTimer()
		for _, f := range frames {
			p.deliver(f)
		}
		if got, err := p.Recv(ctx); err != nil || len(got) != size {
			b.Fatalf("%d bytes, %v", len(got), err)
		}
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// TestDeliverStrangerBounded: a stranger's port closes once its message
// being reassembled and its unread messages pass MaxStrangerBuffer; the
// same port, once asked for with At (promote), carries messages up to
// MaxMessage; strangers' ports together hold at most MaxStrangerTotal.
func TestDeliverStrangerBounded(t *testing.T) {
	io, p, s, _ := testPort(t, 2)
	p.stranger.Store(true)
	chunk := make([]byte, ChunkSize)
	seq := uint64(0)
	for ; seq <= MaxStrangerBuffer/ChunkSize && p.Err() == nil; seq++ {
		p.deliver(s.frame(seq, flagMore, chunk))
	}
	closedWith(t, p, ErrOverflow)

	q, sq := addPort(t, io, 3)
	q.stranger.Store(true)
	for seq := range uint64(MaxStrangerBuffer / ChunkSize) {
		q.deliver(sq.frame(seq, flagMore, chunk))
	}
	q.promote()
	msg := 1 << 20
	for seq := uint64(MaxStrangerBuffer / ChunkSize); msg > 0; seq++ {
		flag := byte(flagMore)
		if msg <= ChunkSize {
			flag = flagLast
		}
		q.deliver(sq.frame(seq, flag, chunk[:min(msg, ChunkSize)]))
		msg -= ChunkSize
	}
	if m, err := q.Recv(context.Background()); err != nil || len(m) != MaxStrangerBuffer/ChunkSize*ChunkSize+1<<20 {
		t.Fatalf("the promoted port's message: %d bytes, %v", len(m), err)
	}

	var refused *Port
	for n := byte(10); n < 10+2*MaxStrangerTotal/MaxStrangerBuffer && refused == nil; n++ {
		r, sr := addPort(t, io, n)
		r.stranger.Store(true)
		for seq := range uint64(MaxStrangerBuffer/ChunkSize - 1) {
			r.deliver(sr.frame(seq, flagMore, chunk))
		}
		if r.Err() != nil {
			refused = r
		}
		if io.strangerBytes.Load() > MaxStrangerTotal {
			t.Fatalf("strangers' ports hold %d bytes together", io.strangerBytes.Load())
		}
	}
	if refused == nil {
		t.Fatal("no stranger's port was refused")
	}
	closedWith(t, refused, ErrOverflow)
}

// sentFrames is a data channel that keeps what is sent on it.
type sentFrames struct{ frames [][]byte }

func (s *sentFrames) Send(b []byte) error {
	s.frames = append(s.frames, append([]byte(nil), b...))
	return nil
}

// TestDrainedGoesDirect: the answer to the other end's drain goes over the
// data channel once it is open, even before this end switched to it: had
// it gone through the relay after this end's own drain, this end's frames
// over the channel would overtake it and wait ahead of sequence at the
// other end (a replication batch past MaxHeld closes the port). Here the
// IO is offline, so a frame through the relay would close the port.
func TestDrainedGoesDirect(t *testing.T) {
	_, p, _, _ := testPort(t, 2)
	dc := &sentFrames{}
	p.direct.mu.Lock()
	p.direct.dc = dc
	p.direct.mu.Unlock()
	drain, err := encMode.Marshal(rtcMsg{T: rtcDrain})
	if err != nil {
		t.Fatal(err)
	}
	p.rtcSignal(drain)
	if err := p.Err(); err != nil {
		t.Fatalf("the drained answer went through the relay: %v", err)
	}
	if len(dc.frames) != 1 {
		t.Fatalf("%d frames over the data channel, want the drained answer", len(dc.frames))
	}
}

// TestDeliverStrangerBufferRaised: with Config.StrangerBuffer raised (a
// mirror), a stranger's port carries a message past MaxStrangerBuffer
// and still closes past the raised bound.
func TestDeliverStrangerBufferRaised(t *testing.T) {
	io := New("test", identity.Seed{1}, Config{Logger: slog.New(slog.NewTextHandler(&logBuffer{}, nil)), StrangerBuffer: 1 << 20, StrangerTotal: 4 << 20})
	p, s := addPort(t, io, 2)
	p.stranger.Store(true)
	chunk := make([]byte, ChunkSize)
	msg := 512 << 10
	for seq := uint64(0); msg > 0; seq++ {
		flag := byte(flagMore)
		if msg <= ChunkSize {
			flag = flagLast
		}
		p.deliver(s.frame(seq, flag, chunk[:min(msg, ChunkSize)]))
		msg -= ChunkSize
	}
	if m, err := p.Recv(context.Background()); err != nil || len(m) != 512<<10 {
		t.Fatalf("a 512 KiB message from a stranger: %d bytes, %v", len(m), err)
	}

	q, sq := addPort(t, io, 3)
	q.stranger.Store(true)
	for seq := uint64(0); seq <= 1<<20/ChunkSize && q.Err() == nil; seq++ {
		q.deliver(sq.frame(seq, flagMore, chunk))
	}
	closedWith(t, q, ErrOverflow)
}
