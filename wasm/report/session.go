package report

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/internal/wsconn"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Timeouts of a session.
const (
	dialTimeout   = 10 * time.Second // dial, hello and welcome
	resultTimeout = 30 * time.Second // writing a command's answer
)

// A session is one connection to the server. Its fields are owned by the
// goroutine running Reporter.session (the sender), except ws (safe for
// concurrent writes) and cmds.
type session struct {
	r     *Reporter
	ws    *wsconn.Conn
	books map[identity.ID]*sent // what the server has of each book
	items []item                // drain buffer

	mu      sync.Mutex     // guards closing, and cmds.Add against cmds.Wait
	closing bool           // no more commands are started
	cmds    sync.WaitGroup // command goroutines
}

// sent is what this session reported of a book.
type sent struct {
	length uint64         // author: the pages the server holds; replica: the head reported
	head   uint64         // author: the head the server verified (0: length)
	have   journal.Ranges // replica: pages reported or skipped
}

// session runs one connection until it fails or ctx ends. welcomed says
// whether the server accepted the hello.
func (r *Reporter) session(ctx context.Context) (welcomed bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ws, err := wsconn.Dial(dctx, r.cfg.URL, MaxResultSize+1<<10)
	if err != nil {
		return false, fmt.Errorf("report: dial: %w", err)
	}
	s := &session{r: r, ws: ws, books: make(map[identity.ID]*sent)}
	w, err := s.handshake(dctx)
	if err != nil {
		ws.CloseNow()
		return false, err
	}
	for _, k := range w.Books {
		s.books[k.Key] = &sent{length: k.Length, head: k.Head}
	}
	r.connected.Store(true)
	defer r.connected.Store(false)

	readDone := make(chan struct{})
	var readErr error
	go func() {
		readErr = s.readLoop(ctx)
		close(readDone)
	}()
	err = s.sendLoop(ctx, readDone)
	// Commands answer before the connection closes (see Config.Reset).
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cmds.Wait()
	ws.Close(wsconn.StatusNormalClosure, "")
	<-readDone
	if err == nil {
		err = readErr
	}
	return true, err
}

// handshake answers the server's challenge with the signed hello and
// reads the welcome.
func (s *session) handshake(ctx context.Context) (*Welcome, error) {
	f, err := s.readHandshake(ctx)
	if err != nil {
		return nil, err
	}
	ch, ok := f.Body.(*Challenge)
	if !ok {
		return nil, fmt.Errorf("%w: expected challenge, got %s", ErrRefused, f.Type)
	}
	cfg := &s.r.cfg
	hello := &Hello{ID: cfg.Key.ID(), Sig: cfg.Key.Sign(HelloMessage(ch.Nonce, cfg.host)), Alias: clipText(cfg.Alias, 64), Agent: agent()}
	if err := s.write(ctx, TypeHello, s.r.now(), hello); err != nil {
		return nil, err
	}
	if f, err = s.readHandshake(ctx); err != nil {
		return nil, err
	}
	w, ok := f.Body.(*Welcome)
	if !ok {
		return nil, fmt.Errorf("%w: expected welcome, got %s", ErrRefused, f.Type)
	}
	return w, nil
}

// readHandshake reads one frame of the handshake.
func (s *session) readHandshake(ctx context.Context) (*Frame, error) {
	_, b, err := s.ws.Read(ctx)
	if err != nil {
		if code, reason, ok := wsconn.CloseStatus(err); ok {
			return nil, fmt.Errorf("%w: %s (status %d)", ErrRefused, reason, code)
		}
		return nil, fmt.Errorf("report: handshake: %w", err)
	}
	return Decode(b)
}

// write encodes and sends one frame.
func (s *session) write(ctx context.Context, t Type, at int64, body checker) error {
	b, err := Encode(&Frame{Type: t, At: at, Body: body})
	if err != nil {
		return err
	}
	if err := s.ws.Write(ctx, wsconn.Text, b); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	s.r.frames.Add(1)
	return nil
}

// sendLoop reports the books, then every queued event, until ctx ends,
// the reader ends (nil) or a write fails.
func (s *session) sendLoop(ctx context.Context, readDone <-chan struct{}) error {
	if err := s.sendBooks(ctx); err != nil {
		return err
	}
	for {
		if err := s.flush(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-readDone:
			return nil
		case <-s.r.q.wake:
		}
	}
}

// flush sends everything queued. A book's changes are read from the DB
// once per flush, however many events it had.
func (s *session) flush(ctx context.Context) error {
	var dropped, total uint64
	s.items, dropped, total = s.r.q.drain(s.items[:0])
	if dropped > 0 {
		if err := s.write(ctx, TypeDropped, s.r.now(), &Dropped{Count: dropped, Total: total}); err != nil {
			return err
		}
	}
	done := make(map[identity.ID]bool)
	for i := range s.items {
		it := &s.items[i]
		var err error
		switch {
		case it.book != nil:
			err = s.bookItem(ctx, it.at, it.book, done)
		default:
			err = s.write(ctx, typeOf(it.body), it.at, it.body)
		}
		if err != nil {
			return err
		}
		*it = item{}
	}
	return nil
}

// typeOf returns the frame type of an event body.
func typeOf(b checker) Type {
	switch b.(type) {
	case *Sync:
		return TypeSync
	case *Port:
		return TypePort
	case *App:
		return TypeApp
	}
	return TypeError
}

// readLoop runs the server's commands until the connection ends. It reads
// without a context: session closes the websocket to end it.
func (s *session) readLoop(ctx context.Context) error {
	for {
		_, b, err := s.ws.Read(context.Background())
		if err != nil {
			return err
		}
		f, err := Decode(b)
		if err != nil {
			s.ws.Close(wsconn.StatusPolicyViolation, "bad frame")
			return err
		}
		cmd, ok := f.Body.(*Command)
		if !ok {
			s.ws.Close(wsconn.StatusPolicyViolation, "unexpected frame")
			return fmt.Errorf("%w: unexpected %s frame", ErrBadFrame, f.Type)
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return nil
		}
		s.cmds.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.cmds.Done()
			s.command(ctx, cmd)
		}()
	}
}

// command runs one command and answers it.
func (s *session) command(ctx context.Context, c *Command) {
	cfg := &s.r.cfg
	res := &Result{ID: c.ID}
	var err error
	switch c.Op {
	case OpExport:
		res.Data, err = cfg.Export(ctx)
		if err == nil && len(res.Data) > MaxResultSize-1<<10 {
			res.Data, err = nil, fmt.Errorf("export of %d bytes, over the %d-byte limit", len(res.Data), MaxResultSize)
		}
	case OpImport:
		err = cfg.Import(ctx, c.Data)
	case OpReset:
		if cfg.Reset == nil {
			err = ErrUnsupported
		} else {
			err = cfg.Reset(ctx)
		}
	}
	if err != nil {
		res.Data, res.Error = nil, clipText(err.Error(), MaxText)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resultTimeout)
	defer cancel()
	if werr := s.write(wctx, TypeResult, s.r.now(), res); werr != nil {
		res.Data, res.Error = nil, clipText("answer: "+werr.Error(), MaxText)
		s.write(wctx, TypeResult, s.r.now(), res)
	}
}
