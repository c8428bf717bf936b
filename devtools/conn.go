package devtools

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// helloTimeout bounds the time from the upgrade to the hello.
const helloTimeout = 10 * time.Second

// A conn is one reporter's websocket. The reader goroutine (serve) owns
// buf and id; pending is shared with command callers.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	log    *slog.Logger
	cancel context.CancelCauseFunc
	done   <-chan struct{} // closed when the connection ends
	host   string          // the Host the peer connected to (checked by the guard), which its hello signs
	authed func()          // counts the connection out of Server.handshakes, once
	buf    bytes.Buffer
	id     identity.ID          // set by the hello, once its signature verifies
	listed map[identity.ID]bool // books listed so far by books frames

	mu      sync.Mutex // guards pending
	pending map[uint64]chan *report.Result
}

// A closeError is why the server ends a connection: the websocket status
// and the reason sent with it.
type closeError struct {
	code   websocket.StatusCode
	reason string
}

func (e *closeError) Error() string { return "devtools: " + e.reason }

var (
	errShutdown = &closeError{websocket.StatusGoingAway, "server shutting down"}
	errReplaced = &closeError{websocket.StatusPolicyViolation, "replaced by a newer connection"}
	errHello    = &closeError{websocket.StatusPolicyViolation, "no hello in time"}
	errAuth     = &closeError{websocket.StatusPolicyViolation, "the hello's signature does not verify"}
	errGone     = &closeError{websocket.StatusPolicyViolation, "replaced, and the peer forgotten"}
)

// policy returns the cause for closing with status 1008 (1009 for a frame
// too large) and reason, cut to what a close frame carries.
func policy(err error) *closeError {
	code := websocket.StatusPolicyViolation
	if errors.Is(err, report.ErrTooLarge) {
		code = websocket.StatusMessageTooBig
	}
	reason := strings.TrimPrefix(err.Error(), "report: ")
	if len(reason) > 120 {
		reason = reason[:120]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return &closeError{code, reason}
}

// servePeer upgrades a reporter's connection and serves it.
func (s *Server) servePeer(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		writeError(w, http.StatusServiceUnavailable, "server closed")
		return
	}
	defer s.wg.Done()
	// Connections that have not proven their id yet are bounded.
	if s.handshakes.Add(1) > int64(s.cfg.MaxHandshakes) {
		s.handshakes.Add(-1)
		writeError(w, http.StatusServiceUnavailable, "too many connections waiting to authenticate")
		return
	}
	var once sync.Once
	authed := func() { once.Do(func() { s.handshakes.Add(-1) }) }
	defer authed()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.OriginPatterns})
	if err != nil {
		s.log.Info("devtools: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(report.MaxResultSize + 1)
	ctx, cancel := context.WithCancelCause(s.ctx)
	c := &conn{s: s, ws: ws, authed: authed, host: strings.ToLower(r.Host), log: s.log.With("remote", r.RemoteAddr), cancel: cancel, done: ctx.Done(), pending: make(map[uint64]chan *report.Result)}
	// Whatever ends the connection closes the websocket with its cause,
	// which unblocks the reader.
	closed := make(chan struct{})
	context.AfterFunc(ctx, func() {
		defer close(closed)
		cause := context.Cause(ctx)
		if errors.Is(cause, context.Canceled) {
			cause = errShutdown
		}
		var ce *closeError
		if errors.As(cause, &ce) {
			ws.Close(ce.code, ce.reason)
		} else {
			ws.CloseNow()
		}
	})
	err = c.serve(ctx)
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		err = fmt.Errorf("closed by the peer: %s %s", ce.Code, ce.Reason)
	}
	cancel(err)
	<-closed
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) {
		cause = errShutdown
	}
	s.disconnected(c, cause)
}

// serve challenges the peer, reads its signed hello, welcomes the peer
// and ingests its frames. Nothing the peer sends is taken before its
// hello's signature verifies.
func (c *conn) serve(ctx context.Context) error {
	t := time.AfterFunc(helloTimeout, func() { c.cancel(errHello) })
	nonce := make([]byte, report.NonceSize)
	rand.Read(nonce)
	if err := c.write(ctx, report.TypeChallenge, &report.Challenge{Nonce: nonce}); err != nil {
		t.Stop()
		return err
	}
	b, err := c.read()
	if !t.Stop() {
		return errHello
	}
	if err != nil {
		return err
	}
	f, err := report.Decode(b)
	if err != nil {
		return policy(err)
	}
	hello, ok := f.Body.(*report.Hello)
	if !ok {
		return policy(fmt.Errorf("expected hello, got %s", f.Type))
	}
	if !hello.ID.Verify(report.HelloMessage(nonce, c.host), hello.Sig) {
		c.log.Warn("devtools: hello refused: bad signature", "claims", hello.ID.Short())
		return errAuth
	}
	c.authed()
	c.id = hello.ID
	c.log = c.log.With("peer", hello.ID.Short(), "alias", hello.Alias)
	welcome, err := c.s.connected(c, hello, f.At)
	if err != nil {
		return err
	}
	if err := c.write(ctx, report.TypeWelcome, welcome); err != nil {
		return err
	}
	c.log.Info("devtools: peer connected")
	for {
		b, err := c.read()
		if err != nil {
			return err
		}
		f, err := report.Decode(b)
		if err != nil {
			c.s.reject(c, err)
			return policy(err)
		}
		if err := c.s.ingest(c, f); err != nil {
			c.s.reject(c, err)
			return policy(err)
		}
	}
}

// read reads one text frame into c.buf: at most MaxFrameSize bytes, or
// MaxResultSize while a command waits for its result.
func (c *conn) read() ([]byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, policy(fmt.Errorf("%w: binary frame", report.ErrBadFrame))
	}
	if c.buf.Cap() > 2*report.MaxFrameSize {
		c.buf = bytes.Buffer{} // let a large result's buffer go
	}
	c.buf.Reset()
	n, err := io.CopyN(&c.buf, r, report.MaxFrameSize+1)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if n > report.MaxFrameSize {
		if !c.awaiting() {
			return nil, policy(fmt.Errorf("%w: frame over %d bytes", report.ErrTooLarge, report.MaxFrameSize))
		}
		m, err := io.CopyN(&c.buf, r, report.MaxResultSize-n+1)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if n+m > report.MaxResultSize {
			return nil, policy(fmt.Errorf("%w: frame over %d bytes", report.ErrTooLarge, report.MaxResultSize))
		}
	}
	return c.buf.Bytes(), nil
}

// write sends one frame to the peer.
func (c *conn) write(ctx context.Context, t report.Type, body any) error {
	b, err := report.Encode(&report.Frame{Type: t, At: c.s.cfg.Now().UnixMilli(), Body: body})
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// awaiting reports whether a command waits for its result.
func (c *conn) awaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

// result hands a command's result to its caller.
func (c *conn) result(r *report.Result) {
	c.mu.Lock()
	ch := c.pending[r.ID]
	delete(c.pending, r.ID)
	c.mu.Unlock()
	if ch == nil {
		c.log.Info("devtools: result for no command", "id", r.ID)
		return
	}
	ch <- r
}

// command sends a command and waits for its result, ctx, or the end of
// the connection.
func (c *conn) command(ctx context.Context, id uint64, op string, data []byte) (*report.Result, error) {
	ch := make(chan *report.Result, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.write(ctx, report.TypeCommand, &report.Command{ID: id, Op: op, Data: data}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOffline, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ErrTimeout
		}
		return nil, ctx.Err()
	case <-c.done:
		return nil, fmt.Errorf("%w: disconnected", ErrOffline)
	}
}
