package peerio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Frames of a port. Each is sid (16) ‖ seq (8, big endian) ‖
// XChaCha20-Poly1305(flag ‖ chunk), sealed with the direction's key, nonce =
// seq, additional data = sid. A frame travels through the relay or, once it
// is open, over the WebRTC data channel (rtc.go); the receiver puts frames
// back in seq order whichever way they came, drops repeats and closes the
// port on a gap it cannot fill. A message is cut into chunks of at most
// ChunkSize bytes, so a frame stays within the 16 KiB that every browser's
// data channel carries; flag says whether more chunks of the message
// follow, carries WebRTC signaling, or closes the port.
const (
	// ChunkSize is the most message bytes one frame carries.
	ChunkSize = 16<<10 - frameOverhead
	// frameOverhead is sid, seq, flag and the AEAD tag.
	frameOverhead = sidSize + 8 + 1 + 16
	// reorderWindow bounds the frames held back waiting for a gap.
	reorderWindow = 4096
	// MaxMessage is the largest message a port carries.
	MaxMessage = 8 << 20

	flagMore  = 0
	flagLast  = 1
	flagClose = 2
	flagRTC   = 3 // a WebRTC offer or answer (rtc.go)
)

// ErrTooLarge means a message over MaxMessage.
var ErrTooLarge = errors.New("peerio: message too large")

// A Port is an authenticated, encrypted, ordered connection to one peer.
// It implements port.Port.
type Port struct {
	io            *IO
	local, remote identity.ID
	sid           sessionID
	initiator     bool      // this end offered the port
	opened        time.Time // when the handshake completed

	sendMu sync.Mutex // held while a message's frames are sealed and sent, in order
	send   cipherState

	recvMu  sync.Mutex // frames come from the relay loop and the data channel
	recv    cipherState
	held    map[uint64][]byte // frames that arrived ahead of recv.count
	partial []byte

	direct directPath // the data channel, once open (rtc.go)

	inbox  chan []byte
	closed chan struct{}
	once   sync.Once
	err    error // why the port closed; set before closed is closed
}

var _ port.Port = (*Port)(nil)

func newPort(io *IO, remote identity.ID, sid sessionID, k *keys) *Port {
	return &Port{io: io, local: io.key.ID(), remote: remote, sid: sid, send: k.send, recv: k.recv,
		held: make(map[uint64][]byte), inbox: make(chan []byte, 64), closed: make(chan struct{}),
		direct: directPath{opened: make(chan struct{})}}
}

// Local returns this end's id.
func (p *Port) Local() identity.ID { return p.local }

// Remote returns the other end's id, proven by the handshake.
func (p *Port) Remote() identity.ID { return p.remote }

// Send implements port.Port.
func (p *Port) Send(ctx context.Context, msg []byte) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(msg), MaxMessage)
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	for first := true; first || len(msg) > 0; first = false {
		n := min(len(msg), ChunkSize)
		flag := byte(flagLast)
		if n < len(msg) {
			flag = flagMore
		}
		if err := p.sendFrame(ctx, flag, msg[:n]); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// sendFrame seals and sends one frame: over the data channel when it is
// open, else through the relay. Called with sendMu held.
func (p *Port) sendFrame(ctx context.Context, flag byte, chunk []byte) error {
	select {
	case <-p.closed:
		return p.closeErr()
	default:
	}
	seq := p.send.count
	p.send.count++
	out := make([]byte, 0, frameOverhead+len(chunk))
	out = append(out, p.sid[:]...)
	out = binary.BigEndian.AppendUint64(out, seq)
	plain := append([]byte{flag}, chunk...)
	out = p.send.aead.Seal(out, nonce(seq), plain, p.sid[:])
	if p.direct.send(out) {
		return nil
	}
	c := p.io.relayClient()
	if c == nil {
		p.shut(ErrOffline)
		return p.closeErr()
	}
	if err := c.Send(ctx, p.remote, relay.KindFrame, out); err != nil {
		p.shut(fmt.Errorf("peerio: port to %s: %w", p.remote.Short(), err))
		return p.closeErr()
	}
	return nil
}

// Recv implements port.Port.
func (p *Port) Recv(ctx context.Context) ([]byte, error) {
	select {
	case m := <-p.inbox:
		return m, nil
	default:
	}
	select {
	case m := <-p.inbox:
		return m, nil
	case <-p.closed:
		return nil, p.closeErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close implements port.Port: it tells the other end and closes.
func (p *Port) Close() error {
	select {
	case <-p.closed:
		return nil
	default:
	}
	if p.sendMu.TryLock() {
		_ = p.sendFrame(context.Background(), flagClose, nil)
		p.sendMu.Unlock()
	}
	p.shut(port.ErrClosed)
	return nil
}

// Done is closed when the port closes.
func (p *Port) Done() <-chan struct{} { return p.closed }

func (p *Port) closeErr() error {
	if errors.Is(p.err, port.ErrClosed) {
		return port.ErrClosed
	}
	return fmt.Errorf("%w: %w", port.ErrClosed, p.err)
}

// shut closes the port with err, once, and forgets it in the IO.
func (p *Port) shut(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.closed)
		p.io.forget(p)
		p.direct.close()
	})
}

// deliver takes a frame from the relay or the data channel, and handles
// every frame that is next in order. A frame that does not open (tampered,
// forged) closes the port; a repeat is dropped.
func (p *Port) deliver(frame []byte) {
	if len(frame) < sidSize+8 || sessionID(frame[:sidSize]) != p.sid {
		return
	}
	seq := binary.BigEndian.Uint64(frame[sidSize:])
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	switch {
	case seq < p.recv.count:
		return // already handled: sent again on the other path
	case seq-p.recv.count > reorderWindow:
		p.shut(fmt.Errorf("peerio: port to %s: frame %d far ahead of %d", p.remote.Short(), seq, p.recv.count))
		return
	}
	p.held[seq] = frame[sidSize+8:]
	for {
		sealed, ok := p.held[p.recv.count]
		if !ok {
			return
		}
		delete(p.held, p.recv.count)
		plain, err := p.recv.aead.Open(nil, nonce(p.recv.count), sealed, p.sid[:])
		if err != nil || len(plain) == 0 {
			p.shut(fmt.Errorf("peerio: port to %s: a frame failed authentication", p.remote.Short()))
			return
		}
		p.recv.count++
		if !p.handle(plain[0], plain[1:]) {
			return
		}
	}
}

// handle acts on one frame's content. It returns false once the port closed.
func (p *Port) handle(flag byte, chunk []byte) bool {
	switch flag {
	case flagClose:
		p.shut(port.ErrClosed)
		return false
	case flagRTC:
		go p.rtcSignal(chunk)
		return true
	case flagMore, flagLast:
	default:
		p.shut(fmt.Errorf("peerio: port to %s: unknown frame flag %d", p.remote.Short(), flag))
		return false
	}
	if len(p.partial)+len(chunk) > MaxMessage {
		p.shut(fmt.Errorf("peerio: port to %s: %w", p.remote.Short(), ErrTooLarge))
		return false
	}
	p.partial = append(p.partial, chunk...)
	if flag == flagMore {
		return true
	}
	msg := p.partial
	p.partial = nil
	if msg == nil {
		msg = []byte{}
	}
	select {
	case p.inbox <- msg:
		return true
	case <-p.closed:
		return false
	}
}
