package relay

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

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

	frames, bytes bucket // the reader's
	limited       bool   // the reader's: the last frame broke a rate (and was answered)

	// batch is set (immutable) for a client that takes batches. Then the
	// writer's: the message being built (out), of batched frames
	// (presence included), among them the queued frames held.
	batch   bool
	out     batchOut
	batched int
	held    []outFrame
}

// An outFrame is a frame waiting for the writer.
type outFrame struct {
	b       []byte
	buf     *[]byte // b's buffer, from frameBufs (nil: not pooled)
	counted bool    // a recv: its bytes are taken from the server's queue budget
}

// frameBufs holds buffers for the recv frames routing queues; a frame
// larger than pooledFrame gets a buffer of its own.
var frameBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, pooledFrame)
	return &b
}}

const pooledFrame = 2 << 10

// newRecv encodes a recv frame into a buffer from frameBufs (or its own).
func newRecv(from identity.ID, kind Kind, payload []byte) outFrame {
	if sendRecvHeader+len(payload) > pooledFrame {
		return outFrame{b: appendSendRecv(nil, FrameRecv, from, kind, payload)}
	}
	bp := frameBufs.Get().(*[]byte)
	return outFrame{b: appendSendRecv((*bp)[:0], FrameRecv, from, kind, payload), buf: bp}
}

// batchBufs holds the buffers the writer builds a batch in, taken only
// while it writes.
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, MaxFrameSize)
	return &b
}}

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
	ctx, cancel := context.WithCancelCause(s.ctx)
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
		frames:   newBucket(s.lim.FramesPerSec, max(1, 2*s.lim.FramesPerSec)),
		bytes:    newBucket(s.lim.BytesPerSec, max(MaxFrameSize, 2*s.lim.BytesPerSec)),
		batch:    ws.Subprotocol() == BatchProtocol,
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

	// The handler's goroutine does the handshake, then reads; one more
	// writes. The first to end gives the cause and ends the other.
	err := c.handshake()
	if err == nil {
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			if err := c.writeLoop(ctx); err != nil {
				cancel(err)
			}
		}()
		c.startPinging()
		cancel(c.readLoop())
		<-wrote
		s.unregister(c)
	}
	cancel(cmp.Or(err, errDone))
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
	if err := c.write(mustEncode(&Frame{Type: FrameChallenge, Nonce: nonce}), 1); err != nil {
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
	if err := c.write(mustEncode(&Frame{Type: FrameWelcome}), 1); err != nil {
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
		b := (*bp)[:n]
		if t, to, kind, payload, m, ok := parseSendRecv(b); ok && m == n && t == FrameSend {
			err = c.send(to, kind, payload) // payload is read before the buffer goes back
		} else {
			err = c.handle(b)
		}
		readBufs.Put(bp)
		if err != nil {
			return err
		}
	}
}

// send routes a send frame from the client.
func (c *conn) send(to identity.ID, kind Kind, payload []byte) error {
	if len(payload) > MaxPayload {
		return policy(RejectBadFrame, fmt.Sprintf("payload of %d bytes, at most %d", len(payload), MaxPayload))
	}
	c.s.route(c, to, kind, payload)
	return nil
}

// handle decodes a frame from the client, other than a send in its
// usual form (readLoop's fast path), and acts on it.
func (c *conn) handle(b []byte) error {
	f, err := Decode(b)
	if err != nil {
		return policy(RejectBadFrame, err.Error())
	}
	switch f.Type {
	case FrameSend:
		return c.send(f.ID, f.Kind, f.Payload)
	case FrameWatch:
		if !c.s.watch(c, f.IDs) {
			c.s.m.reject(RejectWatch)
			c.reply(c.s.limitWatch)
		}
		return nil
	case FrameHello:
		return policy(RejectBadFrame, "hello after welcome")
	default:
		return policy(RejectBadFrame, fmt.Sprintf("frame type %d from a client", f.Type))
	}
}

// throttle takes a frame of n bytes from the token buckets. A client over
// its rate is slowed down, not cut off: the reader waits for the tokens
// (so the client's websocket fills and its sends wait), and the first frame
// of a run over the rate is answered with a limit error, for the client to
// know. Frames are never dropped: a port over the relay stays reliable.
func (c *conn) throttle(n int) (notice []byte, err error) {
	now := time.Now()
	df, okf := c.frames.take(now, 1)
	db, okb := c.bytes.take(now, float64(n))
	if !okf || !okb {
		return nil, policy(RejectBadFrame, "frame larger than the byte rate's burst")
	}
	delay := max(df, db)
	if delay == 0 {
		return nil, nil
	}
	notice = c.s.limitFrames
	if db >= df {
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

// enqueue queues the recv frame f for the writer (which then owns it),
// taking its bytes from the server's queue budget and its address's share
// (errBudget or errBudgetIP if exhausted: f is not queued, the client
// stays). If the
// queue is full, it waits for room; if the client is stuck (it takes
// nothing over stallWindows windows while its writer is in one write), it
// is dropped (errSlow).
func (c *conn) enqueue(f outFrame) error {
	select {
	case <-c.done:
		return errGone
	default:
	}
	if err := c.s.take(c.addr, len(f.b)); err != nil {
		return err
	}
	f.counted = true
	err := c.push(f)
	if err != nil {
		c.s.give(c.addr, len(f.b))
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
	since := time.Now()
	defer func() { c.s.m.noteWait(time.Since(since)) }()
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
			c.release(f)
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
// fails. To a client that takes batches, it writes what is queued at
// once in one message (up to MaxFrameSize bytes).
func (c *conn) writeLoop(ctx context.Context) error {
	defer c.discard()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-c.sendq:
			if err := c.writeQueued(f); err != nil {
				return err
			}
		case <-c.presence:
			if err := c.writePresence(); err != nil {
				return err
			}
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// writeQueued writes f and, to a client that takes batches, the frames
// queued behind it.
func (c *conn) writeQueued(f outFrame) error {
	for {
		// Presence noted before this frame was queued goes first: a
		// peer's offer must not reach a watcher before the watcher
		// learns that the peer's session is new (it would answer it,
		// then drop the port when the "went offline" arrives).
		select {
		case <-c.presence:
			if err := c.writePresence(); err != nil {
				c.release(f)
				return err
			}
		default:
		}
		if err := c.add(f); err != nil {
			return err
		}
		if !c.batch {
			return nil
		}
		select {
		case f = <-c.sendq:
		default:
			return c.flush()
		}
	}
}

// The message being built for a client that takes batches: held are its
// queued frames, released once it is written; msg is in a buffer from
// batchBufs while it holds anything. The writer's.
type batchOut struct {
	msg []byte
	buf *[]byte
}

// add writes f, or adds it to the batch being built (writing the batch
// first if f would not fit), and releases it once written.
func (c *conn) add(f outFrame) error {
	if !c.batch {
		err := c.write(f.b, 1)
		c.release(f)
		return err
	}
	if err := c.addBytes(f.b); err != nil {
		c.release(f)
		return err
	}
	c.held = append(c.held, f)
	return nil
}

// addBytes adds frame b to the batch being built, writing the batch first
// if b would not fit (or writes b, to a client that takes no batches).
func (c *conn) addBytes(b []byte) error {
	if !c.batch {
		return c.write(b, 1)
	}
	if c.out.buf != nil && len(c.out.msg)+len(b) > MaxFrameSize {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if c.out.buf == nil {
		c.out.buf = batchBufs.Get().(*[]byte)
		c.out.msg = (*c.out.buf)[:0]
	}
	c.out.msg = append(c.out.msg, b...)
	c.batched++
	return nil
}

// flush writes the batch being built, if any, and releases its frames.
func (c *conn) flush() error {
	if c.out.buf == nil {
		return nil
	}
	err := c.write(c.out.msg, c.batched)
	batchBufs.Put(c.out.buf)
	c.out = batchOut{}
	c.batched = 0
	for i, f := range c.held {
		c.release(f)
		c.held[i] = outFrame{}
	}
	c.held = c.held[:0]
	return err
}

// discard releases a batch that a failed write left.
func (c *conn) discard() {
	for _, f := range c.held {
		c.release(f)
	}
	c.held = nil
	if c.out.buf != nil {
		batchBufs.Put(c.out.buf)
		c.out = batchOut{}
	}
}

// release gives back what a queued frame holds: its bytes of the queue
// budget, and its buffer.
func (c *conn) release(f outFrame) {
	if f.counted {
		c.s.give(c.addr, len(f.b))
	}
	if f.buf != nil {
		*f.buf = f.b[:0]
		frameBufs.Put(f.buf)
	}
}

// writePresence writes (or adds to the batch) the presence noted since
// the last time.
func (c *conn) writePresence() error {
	for id, p := range c.takePresence() {
		if p.went {
			if err := c.addBytes(mustEncode(&Frame{Type: FramePresence, ID: id, Online: false})); err != nil {
				return err
			}
		}
		if err := c.addBytes(mustEncode(&Frame{Type: FramePresence, ID: id, Online: p.online})); err != nil {
			return err
		}
	}
	return nil
}

// write writes one message of n frames, noting the writer's progress
// (writes, writeStart). The socket bounds each of its writes by the
// write timeout (sockConn), so a write in progress is not cut short when
// the connection ends, and the close frame can follow.
func (c *conn) write(b []byte, n int) error {
	if c.s.beforeWrite != nil && !c.id.IsZero() {
		c.s.beforeWrite(c)
	}
	c.writeStart.Store(time.Now().UnixNano())
	err := c.ws.Write(context.Background(), websocket.MessageBinary, b)
	c.writeStart.Store(0)
	c.writes.Add(1)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errWriteSlow
		}
		return err
	}
	c.s.m.out(n, len(b))
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
