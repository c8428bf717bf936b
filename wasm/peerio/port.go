package peerio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/task-messenger/task-messenger/relay/wire"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Frames of a port. Each is sid (16) ‖ seq (8, big endian) ‖
// XChaCha20-Poly1305(flag ‖ chunk), sealed with the direction's key, nonce =
// seq, additional data = sid. A frame travels through the relay or, once it
// is open, over the WebRTC data channel (rtc.go). The receiver opens each
// frame as it arrives (its seq is its nonce, so a forged or tampered frame
// closes the port at once, in order or not), drops repeats, and puts frames
// back in seq order. A sender never sends out of order on purpose (it
// switches paths only once the other end has every frame of the old one,
// rtc.go), so the receiver holds at most MaxHeld bytes ahead of sequence:
// a gap it cannot fill closes the port. A message is cut into chunks of at
// most ChunkSize bytes, so a frame stays within the 16 KiB that every
// browser's data channel carries; flag says whether more chunks of the
// message follow, carries WebRTC signaling, or closes the port.
const (
	// ChunkSize is the most message bytes one frame carries.
	ChunkSize = 16<<10 - frameOverhead
	// frameOverhead is sid, seq, flag and the AEAD tag.
	frameOverhead = sidSize + 8 + 1 + 16
	// MaxMessage is the largest message a port carries.
	MaxMessage = 8 << 20
	// maxChunks is the most chunks of a message: MaxMessage in chunks of
	// ChunkSize.
	maxChunks = (MaxMessage + ChunkSize - 1) / ChunkSize

	flagMore  = 0
	flagLast  = 1
	flagClose = 2
	flagRTC   = 3 // WebRTC signaling and the switch to the data channel (rtc.go)
)

// Limits on what a peer (any relay user can open a port) makes this end
// hold. Past any of them the port closes, and the reason is logged.
const (
	// MaxHeld bounds the bytes a port holds ahead of sequence (each held
	// frame counts its chunk plus heldOverhead).
	MaxHeld = 1 << 20
	// MaxHeldTotal bounds the bytes held ahead of sequence by all the
	// ports of one IO together.
	MaxHeldTotal = 16 << 20
	// MaxInbox bounds the bytes of the messages a port has received and
	// Recv has not yet taken: a port whose reader falls this far behind
	// is closed, so that it never holds up other ports or presence.
	MaxInbox = 2 * MaxMessage
	// MaxStrangerBuffer bounds the bytes a stranger's port (one this end
	// did not ask for with At) makes this end hold in the message being
	// reassembled and the messages its reader has not taken, together.
	MaxStrangerBuffer = 256 << 10
	// MaxStrangerTotal bounds those bytes for all strangers' ports of one
	// IO together.
	MaxStrangerTotal = 4 << 20
	// heldOverhead is what a held frame costs beside its chunk (map entry,
	// slice header), so that empty frames count too.
	heldOverhead = 64
	// inboxOverhead is what a message waiting in the inbox costs beside
	// its bytes (its frame's header and tag, kept with it, a slice header),
	// so that a flood of tiny messages counts too.
	inboxOverhead = frameOverhead + 24
)

// A Port is an authenticated, encrypted, ordered connection to one peer.
// It implements port.Port.
type Port struct {
	io            *IO
	local, remote identity.ID // immutable
	sid           sessionID   // immutable
	// answer is the answer that opened the port, when the peer offered
	// it: sent again if the peer repeats its offer. The relay loop's.
	answer []byte
	// stranger is set while the peer opened the port unasked (IO.strangers
	// counts it); IO.At clears it (promote). Written under IO.mu and
	// chargeMu, read anywhere.
	stranger atomic.Bool
	chargeMu sync.Mutex
	charged  int // guarded by chargeMu: bytes of partial and inbox counted in IO.strangerBytes

	// sendMu is held while a message's frames are sent (its chunks go out
	// together) and while the port switches to the data channel.
	sendMu sync.Mutex
	// sealMu is held while one frame is numbered, sealed and handed to its
	// path, so each path carries frames in seq order. Control frames take
	// only sealMu: they may go between a message's chunks.
	sealMu sync.Mutex
	send   cipherState // guarded by sealMu

	recvMu    sync.Mutex        // deliver runs from the relay loop and the data channel
	recv      cipherState       // guarded by recvMu
	held      map[uint64][]byte // guarded by recvMu: chunks (flag first) opened ahead of recv.count
	heldBytes int               // guarded by recvMu: what held costs, counted in IO.held too
	partial   [][]byte          // guarded by recvMu: the chunks of the message being reassembled
	partialN  int               // guarded by recvMu: their bytes
	broken    bool              // guarded by recvMu: deliver refused a frame; the port is closing

	inMu       sync.Mutex
	inbox      [][]byte      // guarded by inMu: messages Recv has not taken
	inboxBytes int           // guarded by inMu
	arrived    chan struct{} // capacity 1: signalled when inbox gains a message
	taken      chan struct{} // capacity 1: signalled when Recv takes a message

	direct  directPath    // the data channel, once open (rtc.go)
	drained chan struct{} // closed when the other end has every frame sent through the relay (rtc.go)
	drainOK sync.Once
	ackOnce sync.Once // the other end's drain is answered once

	// answered is closed once the other end can take this port's frames:
	// at once for the offerer; for the answering end once its answer went
	// to the relay (a frame sent before it would reach an offerer that
	// knows no port of its sid, be dropped, and leave a gap the port never
	// fills).
	answered chan struct{}

	closed chan struct{}
	once   sync.Once
	err    error // why the port closed; set before closed is closed
}

var _ port.Port = (*Port)(nil)

// newPort returns a port whose other end takes its frames (answered).
func newPort(io *IO, remote identity.ID, sid sessionID, k *keys) *Port {
	answered := make(chan struct{})
	close(answered)
	return &Port{io: io, local: io.key.ID(), remote: remote, sid: sid, send: k.send, recv: k.recv,
		held: make(map[uint64][]byte), arrived: make(chan struct{}, 1), taken: make(chan struct{}, 1), closed: make(chan struct{}),
		drained: make(chan struct{}), direct: directPath{opened: make(chan struct{})}, answered: answered}
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
		if err := p.sendFrame(ctx, flag, msg[:n], false); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// Bounds on the relay writes of control frames, which no caller's context
// bounds.
const (
	// closeTimeout is how long Close lets the relay take the close frame.
	closeTimeout = time.Second
	// controlTimeout is how long a WebRTC signaling frame may take.
	controlTimeout = 5 * time.Second
)

// sendFrame seals and sends one frame: over the data channel once the port
// switched to it (or, if early, as soon as the channel is open), else
// through the relay.
func (p *Port) sendFrame(ctx context.Context, flag byte, chunk []byte, early bool) error {
	p.sealMu.Lock()
	defer p.sealMu.Unlock()
	return p.sendFrameLocked(ctx, flag, chunk, early)
}

// sendFrameLocked is sendFrame with sealMu held.
func (p *Port) sendFrameLocked(ctx context.Context, flag byte, chunk []byte, early bool) error {
	select {
	case <-p.answered:
	case <-p.closed:
		return p.closeErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.closed:
		return p.closeErr()
	default:
	}
	return p.writeFrameLocked(ctx, flag, chunk, early)
}

// writeFrameLocked seals and sends one frame, open port or not (the close
// frame of tellClosed goes after the port closed). Called with sealMu held
// and the port answered.
func (p *Port) writeFrameLocked(ctx context.Context, flag byte, chunk []byte, early bool) error {
	seq := p.send.count
	p.send.count++
	out := make([]byte, 0, frameOverhead+len(chunk))
	out = append(out, p.sid[:]...)
	out = binary.BigEndian.AppendUint64(out, seq)
	plain := append([]byte{flag}, chunk...)
	out = p.send.aead.Seal(out, nonce(seq), plain, p.sid[:])
	if p.direct.send(out, early) {
		return nil
	}
	c := p.io.relayClient()
	if c == nil {
		p.shut(fmt.Errorf("%w: %w", ErrOffline, port.ErrOffline))
		return p.closeErr()
	}
	// Sealed, the frame goes out whatever becomes of the caller's ctx (the
	// write is bounded by the client's own timeout): its sequence number is
	// taken, and a frame never sent would hold every later one, the close
	// frame included, at the other end for good.
	if err := c.Send(context.WithoutCancel(ctx), p.remote, wire.KindFrame, out); err != nil {
		p.shut(fmt.Errorf("peerio: port to %s: %w", p.remote.Short(), err))
		return p.closeErr()
	}
	return nil
}

// Recv implements port.Port. Messages that arrived before the port closed
// are still returned, then the error.
func (p *Port) Recv(ctx context.Context) ([]byte, error) {
	for {
		p.inMu.Lock()
		if len(p.inbox) > 0 {
			m := p.inbox[0]
			p.inbox[0] = nil
			p.inbox = p.inbox[1:]
			p.inboxBytes -= len(m) + inboxOverhead
			if len(p.inbox) == 0 {
				p.inbox = nil // let the backing array go
			}
			p.inMu.Unlock()
			p.refund(len(m))
			select {
			case p.taken <- struct{}{}:
			default:
			}
			return m, nil
		}
		p.inMu.Unlock()
		select {
		case <-p.arrived:
		case <-p.closed:
			p.inMu.Lock()
			n := len(p.inbox)
			p.inMu.Unlock()
			if n == 0 {
				return nil, p.closeErr()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements port.Port: it tells the other end (giving the relay at
// most closeTimeout to take the close frame) and closes. A message being
// sent is cut short: Close does not wait for it, and the close frame
// follows it once it is done, so the other end is told either way (a port
// it believed open would swallow what it sends).
func (p *Port) Close() error {
	select {
	case <-p.closed:
		return nil
	default:
	}
	if p.sealMu.TryLock() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = p.sendFrameLocked(ctx, flagClose, nil, false)
		cancel()
		p.sealMu.Unlock()
		p.shut(port.ErrClosed)
		return nil
	}
	p.shut(port.ErrClosed)
	go p.tellClosed()
	return nil
}

// tellClosed sends the close frame of a port that closed while a frame
// was being sent, once that send is done.
func (p *Port) tellClosed() {
	p.sealMu.Lock()
	defer p.sealMu.Unlock()
	select {
	case <-p.answered:
	default:
		return // the other end has no session to close
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = p.writeFrameLocked(ctx, flagClose, nil, false)
}

// Done is closed when the port closes.
func (p *Port) Done() <-chan struct{} { return p.closed }

// Err returns why the port closed, or nil while it is open.
func (p *Port) Err() error {
	select {
	case <-p.closed:
		return p.closeErr()
	default:
		return nil
	}
}

func (p *Port) closeErr() error {
	if errors.Is(p.err, port.ErrClosed) {
		return port.ErrClosed
	}
	return fmt.Errorf("%w: %w", port.ErrClosed, p.err)
}

// shut closes the port with err, once, forgets it in the IO and gives back
// what it held. It never waits for the port's reader or the data channel,
// and must not be called with recvMu held.
func (p *Port) shut(err error) {
	p.once.Do(func() {
		p.err = err
		// Forgotten before it reads as closed: whoever sees it closed
		// and asks At for a port again gets a new one.
		p.io.forget(p)
		close(p.closed)
		p.direct.close()
		p.recvMu.Lock()
		p.broken = true
		p.releaseHeldLocked()
		p.partial, p.partialN = nil, 0
		p.recvMu.Unlock()
		p.refund(-1)
		switch {
		case errors.Is(err, ErrBadFrame), errors.Is(err, ErrOverflow), errors.Is(err, ErrTooLarge):
			p.io.cfg.Logger.Warn("peerio: port closed", "peer", p.local.Short(), "to", p.remote.Short(), "err", err)
		default:
			p.io.cfg.Logger.Debug("peerio: port closed", "peer", p.local.Short(), "to", p.remote.Short(), "err", err)
		}
	})
}

// releaseHeldLocked drops the frames held ahead of sequence and gives
// their bytes back to the IO's budget. Called with recvMu held.
func (p *Port) releaseHeldLocked() {
	if p.heldBytes > 0 {
		p.io.held.Add(-int64(p.heldBytes))
	}
	p.held, p.heldBytes = nil, 0
}

// deliver takes a frame from the relay or the data channel and handles
// every frame that is next in order. The frame is the port's from then on:
// it is opened in place (no copy of every chunk a catch-up brings). It
// never waits: past a limit the port closes instead. A frame that does not
// open (tampered, forged, replayed from another port), an oversized one,
// one far ahead or an unknown flag closes the port; a repeat is dropped.
func (p *Port) deliver(frame []byte) {
	if len(frame) < sidSize+8 || sessionID(frame[:sidSize]) != p.sid {
		return
	}
	if err := p.deliverLocked(frame); err != nil {
		p.shut(fmt.Errorf("peerio: port to %s: %w", p.remote.Short(), err))
	}
}

// deliverLocked does deliver's work under recvMu and returns why the port
// must close, if it must.
func (p *Port) deliverLocked(frame []byte) error {
	seq := binary.BigEndian.Uint64(frame[sidSize:])
	sealed := frame[sidSize+8:]
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	if p.broken {
		return nil
	}
	if seq < p.recv.count {
		return nil // already handled: sent again on the other path
	}
	if _, dup := p.held[seq]; dup {
		return nil
	}
	if len(sealed) > 1+ChunkSize+16 {
		p.broken = true
		return fmt.Errorf("%w: frame %d of %d bytes, at most %d", ErrBadFrame, seq, len(frame), frameOverhead+ChunkSize)
	}
	if seq-p.recv.count > MaxHeld/heldOverhead {
		p.broken = true
		return fmt.Errorf("%w: frame %d far ahead of %d", ErrOverflow, seq, p.recv.count)
	}
	plain, err := p.recv.aead.Open(sealed[:0], nonce(seq), sealed, p.sid[:])
	if err != nil || len(plain) == 0 {
		p.broken = true
		return fmt.Errorf("%w: frame %d failed authentication", ErrBadFrame, seq)
	}
	if seq > p.recv.count {
		cost := len(plain) + heldOverhead
		if p.heldBytes+cost > MaxHeld {
			p.broken = true
			return fmt.Errorf("%w: over %d bytes ahead of sequence (frame %d, expected %d)", ErrOverflow, MaxHeld, seq, p.recv.count)
		}
		if p.io.held.Add(int64(cost)) > MaxHeldTotal {
			p.io.held.Add(-int64(cost))
			p.broken = true
			return fmt.Errorf("%w: all ports hold %d bytes ahead of sequence", ErrOverflow, MaxHeldTotal)
		}
		p.held[seq] = plain
		p.heldBytes += cost
		return nil
	}
	for {
		p.recv.count++
		if err := p.handle(plain[0], plain[1:]); err != nil {
			p.broken = true
			return err
		}
		next, ok := p.held[p.recv.count]
		if !ok {
			return nil
		}
		delete(p.held, p.recv.count)
		cost := len(next) + heldOverhead
		p.heldBytes -= cost
		p.io.held.Add(-int64(cost))
		plain = next
	}
}

// slowDown waits, while the port's reader is more than directInbox bytes
// behind, for it to take a message (or the port to close). The data
// channel's reader calls it after each frame, natively, so that a fast
// sender on a data channel is held back by SCTP's flow control rather
// than closed at MaxInbox. Only that port's channel waits; in the browser
// (a JS callback must not wait) it returns at once.
func (p *Port) slowDown() {
	if !canWaitInCallback {
		return
	}
	for {
		p.inMu.Lock()
		behind := p.inboxBytes > directInbox
		p.inMu.Unlock()
		if !behind {
			return
		}
		select {
		case <-p.taken:
		case <-p.closed:
			return
		}
	}
}

// directInbox is how far a port's reader may fall behind before the data
// channel stops reading (slowDown).
const directInbox = 1 << 20

// handle acts on one frame's content, in order. It returns why the port
// must close, if it must. Called with recvMu held.
func (p *Port) handle(flag byte, chunk []byte) error {
	switch flag {
	case flagClose:
		return port.ErrClosed
	case flagRTC:
		go p.rtcSignal(chunk)
		return nil
	case flagMore, flagLast:
	default:
		return fmt.Errorf("%w: unknown frame flag %d", ErrBadFrame, flag)
	}
	if p.partialN+len(chunk) > MaxMessage {
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxMessage)
	}
	if err := p.charge(len(chunk)); err != nil {
		return err
	}
	var msg []byte
	switch {
	case flag == flagMore:
		// Kept as they come (each chunk is its frame's opened plaintext,
		// ours already) and joined once at the end: appended one by one,
		// a 256 KiB message was copied into a larger array a dozen times,
		// five times its size in garbage. A sender cuts a message into
		// chunks of ChunkSize: one of many tiny chunks (each kept with its
		// frame) is refused.
		if len(p.partial) >= maxChunks-1 {
			return fmt.Errorf("%w: a message in over %d chunks", ErrTooLarge, maxChunks)
		}
		p.partial = append(p.partial, chunk)
		p.partialN += len(chunk)
		return nil
	case p.partial == nil:
		msg = chunk // a message in one frame: its opened plaintext is ours already
	default:
		msg = make([]byte, 0, p.partialN+len(chunk))
		for _, c := range p.partial {
			msg = append(msg, c...)
		}
		msg = append(msg, chunk...)
		p.partial, p.partialN = nil, 0
	}
	p.inMu.Lock()
	if len(p.inbox) > 0 && p.inboxBytes+len(msg)+inboxOverhead > MaxInbox {
		n := p.inboxBytes
		p.inMu.Unlock()
		return fmt.Errorf("%w: the reader left %d bytes unread (at most %d)", ErrOverflow, n, MaxInbox)
	}
	p.inbox = append(p.inbox, msg)
	p.inboxBytes += len(msg) + inboxOverhead
	p.inMu.Unlock()
	select {
	case p.arrived <- struct{}{}:
	default:
	}
	p.io.traceEvent(traceMessage, p.remote)
	return nil
}

// charge counts n more bytes of partial or inbox against a stranger's
// limits (Config.StrangerBuffer, StrangerTotal); a port asked for costs
// nothing here.
func (p *Port) charge(n int) error {
	p.chargeMu.Lock()
	defer p.chargeMu.Unlock()
	if !p.stranger.Load() {
		return nil
	}
	if lim := p.io.cfg.StrangerBuffer; p.charged+n > lim {
		return fmt.Errorf("%w: a stranger's port holds over %d bytes", ErrOverflow, lim)
	}
	if lim := p.io.cfg.StrangerTotal; p.io.strangerBytes.Add(int64(n)) > lim {
		p.io.strangerBytes.Add(-int64(n))
		return fmt.Errorf("%w: strangers' ports hold over %d bytes", ErrOverflow, lim)
	}
	p.charged += n
	return nil
}

// refund gives back n charged bytes (all of them if n < 0). Bytes charged
// before the port was promoted were given back then.
func (p *Port) refund(n int) {
	p.chargeMu.Lock()
	defer p.chargeMu.Unlock()
	if n < 0 || n > p.charged {
		n = p.charged
	}
	p.charged -= n
	p.io.strangerBytes.Add(-int64(n))
}

// promote makes a stranger's port one asked for: its bytes are no longer
// counted against the strangers' limits. Called with IO.mu held.
func (p *Port) promote() {
	p.chargeMu.Lock()
	p.stranger.Store(false)
	p.chargeMu.Unlock()
	p.refund(-1)
}
