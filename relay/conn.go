package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A conn is one client's websocket on the server.
type conn struct {
	s  *Server
	ws *websocket.Conn

	// Set by the handler goroutine during the handshake, before the conn
	// is registered or its other goroutines start; immutable after.
	id  identity.ID
	log *slog.Logger

	// cancel ends the connection with a cause (a *closeError says how to
	// close); any goroutine may call it. done is closed once it is called.
	cancel context.CancelCauseFunc
	done   <-chan struct{}

	// sendq holds encoded frames for the writer, which alone receives.
	// Routing sends with enqueue (waiting at most queueGrace), the reader
	// its answers to the client's own frames with reply.
	sendq chan []byte

	// Presence to tell the client: any goroutine holding s.mu sets it
	// (notePresence), the writer takes it. A watcher learns the latest
	// state of each id; a flap shorter than a write may not show.
	pmu      sync.Mutex
	pending  map[identity.ID]bool // guarded by pmu
	presence chan struct{}        // capacity 1: pending may not be empty

	watching map[identity.ID]struct{} // guarded by s.mu: ids c watches

	// The pinger (ping) runs in its timer's goroutine, only while a ping
	// is out; stopPinging stops it and waits for it.
	pingTimer   *time.Timer // guarded by pingMu once started
	pingStopped bool        // guarded by pingMu
	pingMu      sync.Mutex
	pinging     sync.WaitGroup // one for the timer while it is set or running

	frames, bytes *rate.Limiter // the reader's
	limited       bool          // the reader's: the last frame broke a rate (and was answered)
}

// readBufs holds buffers for one frame and one byte more, taken only while
// a frame is read and decoded, so an idle connection holds none.
var readBufs = sync.Pool{New: func() any {
	b := make([]byte, MaxFrameSize+1)
	return &b
}}

// serve runs one upgraded connection until it ends, and returns it and
// why it ended.
func (s *Server) serve(ws *websocket.Conn, remote string) (*conn, error) {
	ws.SetReadLimit(MaxFrameSize + 1) // our own check (readMessage) closes with 1008 first
	cctx, cancel := context.WithCancelCause(s.ctx)
	g, ctx := errgroup.WithContext(cctx)
	c := &conn{
		s:        s,
		ws:       ws,
		log:      s.log.With("remote", remote),
		cancel:   cancel,
		done:     ctx.Done(),
		sendq:    make(chan []byte, s.lim.SendQueue),
		presence: make(chan struct{}, 1),
		frames:   rate.NewLimiter(rate.Limit(s.lim.FramesPerSec), max(1, int(2*s.lim.FramesPerSec))),
		bytes:    rate.NewLimiter(rate.Limit(s.lim.BytesPerSec), max(MaxFrameSize, int(2*s.lim.BytesPerSec))),
	}
	// Whatever ends the connection, this closes the websocket with its
	// cause, which unblocks the reader (it reads without a context, so
	// that closing can send the reason first).
	closed := make(chan struct{})
	context.AfterFunc(ctx, func() {
		defer close(closed)
		c.closeWS(context.Cause(ctx))
	})

	err := c.handshake()
	if err == nil {
		g.Go(c.readLoop)
		g.Go(func() error { return c.writeLoop(ctx) })
		c.startPinging()
		err = g.Wait()
		s.unregister(c)
	}
	if err == nil {
		err = errDone
	}
	cancel(err)
	<-closed
	c.stopPinging()
	cause := context.Cause(ctx)
	c.ended(cause)
	return c, cause
}

// closeWS closes the websocket as cause says: with a status and reason, or
// at once.
func (c *conn) closeWS(cause error) {
	var ce *closeError
	if errors.As(cause, &ce) && ce.code != 0 {
		c.ws.Close(ce.code, ce.reason)
		return
	}
	c.ws.CloseNow()
}

// ended counts and logs the end of the connection.
func (c *conn) ended(cause error) {
	var ce *closeError
	if !errors.As(cause, &ce) {
		c.log.Info("relay: disconnected", "err", cause)
		return
	}
	if ce.reject != "" {
		c.s.m.reject(ce.reject)
	}
	switch {
	case ce.drop:
		c.s.m.drops.Add(1)
		c.log.Warn("relay: dropped", "reason", ce.reason)
	case ce.reject != "":
		c.log.Warn("relay: rejected", "reason", ce.reason)
	default:
		c.log.Info("relay: closed", "reason", ce.reason)
	}
}

// handshake sends the challenge, checks the hello, registers the
// connection and welcomes it.
func (c *conn) handshake() error {
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := c.write(mustEncode(&Frame{Type: FrameChallenge, Nonce: nonce})); err != nil {
		return err
	}
	t := time.AfterFunc(c.s.lim.HandshakeTimeout, func() { c.cancel(errHandshake) })
	bp, n, err := c.readMessage()
	if !t.Stop() {
		err = errHandshake
	}
	if err != nil {
		if bp != nil {
			readBufs.Put(bp)
		}
		return err
	}
	f, err := Decode((*bp)[:n])
	readBufs.Put(bp)
	switch {
	case err != nil:
		return policy(RejectHello, err.Error())
	case f.Type != FrameHello:
		return policy(RejectHello, fmt.Sprintf("expected hello, got frame type %d", f.Type))
	case f.ID.Check() != nil:
		return policy(RejectHello, "bad id: "+f.ID.Check().Error())
	case !f.ID.Verify(HelloMessage(nonce), f.Sig):
		return policy(RejectHello, "bad signature")
	}
	c.id = f.ID
	c.log = c.log.With("peer", f.ID.Short())
	c.s.register(c)
	if err := c.write(mustEncode(&Frame{Type: FrameWelcome})); err != nil {
		c.s.unregister(c)
		return err
	}
	c.log.Info("relay: connected")
	return nil
}

// readMessage reads one message into a buffer from readBufs (nil on
// error), counting it in.
func (c *conn) readMessage() (*[]byte, int, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, 0, err
	}
	if typ != websocket.MessageBinary {
		return nil, 0, policy(RejectBadFrame, "text message")
	}
	bp := readBufs.Get().(*[]byte)
	buf, n := *bp, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			readBufs.Put(bp)
			return nil, 0, err
		}
	}
	c.s.m.in(n)
	if n > MaxFrameSize {
		readBufs.Put(bp)
		return nil, 0, policy(RejectBadFrame, fmt.Sprintf("frame over %d bytes", MaxFrameSize))
	}
	return bp, n, nil
}

// readLoop reads and acts on the client's frames until the connection
// fails or a frame breaks the protocol.
func (c *conn) readLoop() error {
	for {
		bp, n, err := c.readMessage()
		if err != nil {
			return err
		}
		over, err := c.throttle(n)
		if err != nil {
			readBufs.Put(bp)
			return err
		}
		if over != nil {
			c.s.m.reject(RejectRate)
			if !c.limited {
				c.limited = true
				c.reply(over)
			}
		} else {
			c.limited = false
		}
		f, err := Decode((*bp)[:n])
		readBufs.Put(bp)
		if err != nil {
			return policy(RejectBadFrame, err.Error())
		}
		switch f.Type {
		case FrameSend:
			if len(f.Payload) > MaxPayload {
				return policy(RejectBadFrame, fmt.Sprintf("payload of %d bytes, at most %d", len(f.Payload), MaxPayload))
			}
			c.s.route(c, f)
		case FrameWatch:
			if !c.s.watch(c, f.IDs) {
				c.s.m.reject(RejectWatch)
				c.reply(c.s.limitWatch)
			}
		case FrameHello:
			return policy(RejectBadFrame, "hello after welcome")
		default:
			return policy(RejectBadFrame, fmt.Sprintf("frame type %d from a client", f.Type))
		}
	}
}

// throttle takes a frame of n bytes from the token buckets. A client over
// its rate is slowed down, not cut off: the reader waits for the tokens
// (so the client's websocket fills and its sends wait), and the first frame
// of a run over the rate is answered with a limit error, for the client to
// know. Frames are never dropped: a port over the relay stays reliable.
func (c *conn) throttle(n int) (notice []byte, err error) {
	now := time.Now()
	rf, rb := c.frames.ReserveN(now, 1), c.bytes.ReserveN(now, n)
	if !rf.OK() || !rb.OK() {
		return nil, policy(RejectBadFrame, "frame larger than the byte rate's burst")
	}
	delay := max(rf.DelayFrom(now), rb.DelayFrom(now))
	if delay == 0 {
		return nil, nil
	}
	notice = c.s.limitFrames
	if rb.DelayFrom(now) >= rf.DelayFrom(now) {
		notice = c.s.limitBytes
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return notice, nil
	case <-c.done:
		return nil, context.Canceled
	}
}

// queueGrace is how long routing waits for room in a full send queue
// before it drops the client as too slow. A client that reads keeps up
// with a burst larger than its queue as long as its writer gets a CPU;
// one whose writer is stuck on a full socket does not.
const queueGrace = 100 * time.Millisecond

// enqueue queues b for the writer. If the queue stays full for queueGrace,
// the client is too slow: it is dropped. It reports whether b was queued.
func (c *conn) enqueue(b []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.sendq <- b:
		return true
	default:
	}
	t := time.NewTimer(queueGrace)
	defer t.Stop()
	select {
	case c.sendq <- b:
		return true
	case <-c.done:
		return false
	case <-t.C:
		c.cancel(errSlow)
		return false
	}
}

// reply queues an answer to the client's own frame. Unlike enqueue it
// waits for room: a client that sends faster than it reads is slowed down,
// not dropped (its writer's timeout still bounds the wait).
func (c *conn) reply(b []byte) {
	select {
	case c.sendq <- b:
	case <-c.done:
	}
}

// notePresence records that id is online or not, for the writer to tell.
func (c *conn) notePresence(id identity.ID, online bool) {
	c.pmu.Lock()
	if c.pending == nil {
		c.pending = make(map[identity.ID]bool)
	}
	c.pending[id] = online
	c.pmu.Unlock()
	select {
	case c.presence <- struct{}{}:
	default:
	}
}

func (c *conn) takePresence() map[identity.ID]bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	p := c.pending
	c.pending = nil
	return p
}

// writeLoop writes queued frames and presence until ctx ends or a write
// fails.
func (c *conn) writeLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-c.sendq:
			if err := c.write(b); err != nil {
				return err
			}
		case <-c.presence:
			for id, online := range c.takePresence() {
				if err := c.write(mustEncode(&Frame{Type: FramePresence, ID: id, Online: online})); err != nil {
					return err
				}
			}
		}
	}
}

// write writes one frame within the write timeout. A write in progress is
// not cut short when the connection ends, so the close frame can follow.
func (c *conn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.lim.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		if ctx.Err() != nil {
			return errWriteSlow
		}
		return err
	}
	c.s.m.out(len(b))
	return nil
}

// startPinging starts pinging the client every PingInterval. The pinger
// needs no goroutine between pings.
func (c *conn) startPinging() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pinging.Add(1)
	c.pingTimer = time.AfterFunc(c.s.lim.PingInterval, c.ping)
}

// stopPinging stops the pinger and waits for a ping in flight, which ends
// at once once the websocket is closed.
func (c *conn) stopPinging() {
	c.pingMu.Lock()
	c.pingStopped = true
	if c.pingTimer != nil && c.pingTimer.Stop() {
		c.pinging.Done() // it will not run
	}
	c.pingMu.Unlock()
	c.pinging.Wait()
}

// ping pings the client (in the timer's goroutine) and ends the connection
// if the pong does not come back in time, or sets the timer again.
func (c *conn) ping() {
	defer c.pinging.Done()
	// Not derived from the connection's context: a ping cut short mid-write
	// would close the websocket before the reason is sent. Closing the
	// websocket ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), c.s.lim.pongTimeout())
	err := c.ws.Ping(ctx)
	timedOut := ctx.Err() != nil
	cancel()
	if err != nil {
		if timedOut {
			c.cancel(errIdle)
		} // else the websocket is closed, and the reader or writer says why
		return
	}
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if !c.pingStopped {
		c.pinging.Add(1)
		c.pingTimer.Reset(c.s.lim.PingInterval)
	}
}
