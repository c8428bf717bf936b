package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/task-messenger/task-messenger/relay/hostguard"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A conn is one client's websocket on the server.
type conn struct {
	s     *Server
	ws    *websocket.Conn
	sock  *sockConn    // immutable: ws's socket, as written to
	lport string       // immutable: the port the client reached the server on
	addr  netip.Prefix // immutable: the client's address, as MaxConnsPerIP counts it

	// Set by the handler goroutine during the handshake, before the conn
	// is registered or its other goroutines start; immutable after.
	id  identity.ID
	log *slog.Logger
	at  int64 // the session's stamp (cluster.go), set by register under s.mu

	// cancel ends the connection with a cause (a *closeError says how to
	// close); any goroutine may call it. done is closed once it is called.
	cancel context.CancelCauseFunc
	done   <-chan struct{}

	// sendq holds encoded frames for the writer, which alone receives
	// while the connection is up (then serve, and a late enqueue, drain
	// it). Routing sends with enqueue, the reader its answers to the
	// client's own frames with reply.
	sendq chan outFrame

	// The writer's progress, for enqueue to tell a client that does not
	// read from a writer that waits for a CPU (see progress): writes
	// counts the writes done, writeStart is when the write under way began
	// (UnixNano; 0: none). The writer stores, any goroutine loads.
	writes     atomic.Uint64
	writeStart atomic.Int64

	// ready is set once the handshake has set id (tests' hooks read id
	// only after it).
	ready atomic.Bool

	// shedMark is c's progress when shed last looked; guarded by s.shedMu.
	shedMark progress

	// Presence to tell the client: any goroutine holding s.mu sets it
	// (notePresence), the writer takes it. A watcher learns the latest
	// state of each id; a flap shorter than a write may not show.
	pmu      sync.Mutex
	pending  map[identity.ID]presenceNote // guarded by pmu
	presence chan struct{}                // capacity 1: pending may not be empty

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

// An outFrame is a frame waiting for the writer.
type outFrame struct {
	b       []byte
	counted bool // a recv: its bytes are taken from the server's queue budget
}

// readBufs holds buffers for one frame and one byte more, taken only while
// a frame is read and decoded, so an idle connection holds none.
var readBufs = sync.Pool{New: func() any {
	b := make([]byte, MaxFrameSize+1)
	return &b
}}

// serve runs one upgraded connection (of request r) until it ends, and
// returns it and why it ended.
func (s *Server) serve(ws *websocket.Conn, sock *sockConn, r *http.Request, addr netip.Prefix) (*conn, error) {
	ws.SetReadLimit(MaxFrameSize + 1) // our own check (readMessage) closes with 1008 first
	cctx, cancel := context.WithCancelCause(s.ctx)
	g, ctx := errgroup.WithContext(cctx)
	c := &conn{
		s:        s,
		ws:       ws,
		sock:     sock,
		lport:    hostguard.ListeningPort(r),
		addr:     addr,
		log:      s.log.With("remote", r.RemoteAddr),
		cancel:   cancel,
		done:     ctx.Done(),
		sendq:    make(chan outFrame, s.lim.SendQueue),
		presence: make(chan struct{}, 1),
		frames:   rate.NewLimiter(rate.Limit(s.lim.FramesPerSec), max(1, int(2*s.lim.FramesPerSec))),
		bytes:    rate.NewLimiter(rate.Limit(s.lim.BytesPerSec), max(MaxFrameSize, int(2*s.lim.BytesPerSec))),
	}
	if s.inWrite != nil && sock != nil {
		sock.inWrite = func() {
			if c.ready.Load() {
				s.inWrite(c)
			}
		}
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
	c.drain()
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
	case !c.s.hosts.Allowed(f.Host, c.lport):
		// Signed for another relay: a relay the client was pointed at
		// replaying its challenge here.
		return policy(RejectHello, "hello signed for another relay ("+f.Host.String()+")")
	case !f.ID.Verify(HelloMessage(f.Host, nonce), f.Sig):
		return policy(RejectHello, "bad signature")
	}
	c.id = f.ID
	c.ready.Store(true)
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

// queueGrace is the window over which routing judges a full send queue,
// and stallWindows how many windows in a row must show no progress (see
// stuck) before the client is dropped as not reading.
const (
	queueGrace   = 250 * time.Millisecond
	stallWindows = 4
)

// progress is a snapshot of a connection's writer and socket.
type progress struct {
	writes uint64 // writes done
	start  int64  // when the write under way began (UnixNano; 0: none)
	sent   uint64 // bytes handed to the socket
	unsent int    // bytes in the socket the client has not taken (-1: unknown)
	still  int    // windows in a row judged with nothing moving (stuck sets it)
}

// progress returns c's progress now (still 0).
func (c *conn) progress() progress {
	return progress{
		writes: c.writes.Load(),
		start:  c.writeStart.Load(),
		sent:   c.sock.sentBytes(),
		unsent: c.sock.unsent(),
	}
}

// stuck reports whether a client whose progress was p at least a
// queueGrace ago and is now now does not read, setting now.still. It
// does not read if, for stallWindows windows in a row, its writer stayed
// in one write with no byte written, and the socket held bytes the client
// did not take (where the kernel tells: Linux). A client that takes
// bytes (the socket's queue shrinks) is never judged stuck, however long
// its writer waits for a CPU, in a write or not.
func stuck(p progress, now *progress) bool {
	if now.start == 0 || now.start != p.start || now.writes != p.writes ||
		now.sent != p.sent || now.unsent != p.unsent || now.unsent == 0 {
		now.still = 0
		return false
	}
	now.still = p.still + 1
	return now.still >= stallWindows
}

// Reasons enqueue did not queue a frame (besides errSlow).
var (
	errBudget   = errors.New("relay: queue budget exhausted")
	errBudgetIP = errors.New("relay: queue budget of the receiver's address exhausted")
	errGone     = errors.New("relay: connection gone")
)

// enqueue queues the recv frame b for the writer, taking its bytes from
// the server's queue budget and its address's share (errBudget or
// errBudgetIP if exhausted: b is not queued, the client stays). If the
// queue is full, it waits for room; if the client is stuck (it takes
// nothing over stallWindows windows while its writer is in one write), it
// is dropped (errSlow).
func (c *conn) enqueue(b []byte) error {
	select {
	case <-c.done:
		return errGone
	default:
	}
	if err := c.s.take(c.addr, len(b)); err != nil {
		return err
	}
	err := c.push(outFrame{b: b, counted: true})
	if err != nil {
		c.s.give(c.addr, len(b))
	}
	return err
}

// push queues f, waiting for room in a full queue as enqueue says.
func (c *conn) push(f outFrame) error {
	select {
	case c.sendq <- f:
		c.afterPush()
		return nil
	default:
	}
	t := time.NewTimer(queueGrace)
	defer t.Stop()
	last := c.progress()
	for {
		select {
		case c.sendq <- f:
			c.afterPush()
			return nil
		case <-c.done:
			return errGone
		case <-t.C:
		}
		now := c.progress()
		if stuck(last, &now) {
			c.cancel(errSlow)
			return errSlow
		}
		if now.writes == last.writes && c.s.onStall != nil {
			c.s.onStall(c)
		}
		last = now
		t.Reset(queueGrace)
	}
}

// afterPush drains the queue if the connection ended meanwhile: serve's
// drain may have run before the push.
func (c *conn) afterPush() {
	select {
	case <-c.done:
		c.drain()
	default:
	}
}

// drain empties the send queue of an ended connection, giving back the
// budget of its frames. Each frame is received once, by the writer or by
// one drain.
func (c *conn) drain() {
	for {
		select {
		case f := <-c.sendq:
			if f.counted {
				c.s.give(c.addr, len(f.b))
			}
		default:
			return
		}
	}
}

// reply queues an answer to the client's own frame. Unlike enqueue it
// waits for room: a client that sends faster than it reads is slowed down,
// not dropped (its writer's timeout still bounds the wait). Replies are
// small and at most SendQueue wait, so they are not counted in the budget.
func (c *conn) reply(b []byte) {
	select {
	case c.sendq <- outFrame{b: b}:
	case <-c.done:
	}
}

// notePresence records that id is online or not, for the writer to tell.
// A presenceNote is the presence of an id still to be written: its latest
// state, and whether it went offline since the last frame written (then an
// offline frame goes first, so that a watcher sees a replaced session go
// even when it came back before the writer ran).
type presenceNote struct {
	online, went bool
}

func (c *conn) notePresence(id identity.ID, online bool) {
	c.pmu.Lock()
	if c.pending == nil {
		c.pending = make(map[identity.ID]presenceNote)
	}
	prev, had := c.pending[id]
	c.pending[id] = presenceNote{online: online, went: online && had && (prev.went || !prev.online)}
	c.pmu.Unlock()
	select {
	case c.presence <- struct{}{}:
	default:
	}
}

func (c *conn) takePresence() map[identity.ID]presenceNote {
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
		case f := <-c.sendq:
			// Presence noted before this frame was queued goes first: a
			// peer's offer must not reach a watcher before the watcher
			// learns that the peer's session is new (it would answer it,
			// then drop the port when the "went offline" arrives).
			select {
			case <-c.presence:
				if err := c.writePresence(); err != nil {
					return err
				}
			default:
			}
			err := c.write(f.b)
			if f.counted {
				c.s.give(c.addr, len(f.b))
			}
			if err != nil {
				return err
			}
		case <-c.presence:
			if err := c.writePresence(); err != nil {
				return err
			}
		}
	}
}

// writePresence writes the presence noted since the last time.
func (c *conn) writePresence() error {
	for id, p := range c.takePresence() {
		if p.went {
			if err := c.write(mustEncode(&Frame{Type: FramePresence, ID: id, Online: false})); err != nil {
				return err
			}
		}
		if err := c.write(mustEncode(&Frame{Type: FramePresence, ID: id, Online: p.online})); err != nil {
			return err
		}
	}
	return nil
}

// write writes one frame within the write timeout, noting the writer's
// progress (writes, writeStart). A write in progress is not cut short
// when the connection ends, so the close frame can follow.
func (c *conn) write(b []byte) error {
	if c.s.beforeWrite != nil && !c.id.IsZero() {
		c.s.beforeWrite(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.lim.WriteTimeout)
	defer cancel()
	c.writeStart.Store(time.Now().UnixNano())
	err := c.ws.Write(ctx, websocket.MessageBinary, b)
	c.writeStart.Store(0)
	c.writes.Add(1)
	if err != nil {
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
