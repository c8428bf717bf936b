package relay

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// A sockConn is a client's hijacked connection as the websocket writes to
// it: it counts the bytes handed to the socket, and asks the kernel how
// many of them the client has not taken (unsent), so that routing can
// tell a client that does not read from a writer that waits for a CPU.
type sockConn struct {
	net.Conn // set by Hijack, before the websocket uses it; immutable after

	sent atomic.Uint64 // bytes written to the socket; the writing goroutine adds, any loads

	// timeout, if set, bounds each write to the socket (Limits.WriteTimeout):
	// a client that takes no byte of it in time is dropped. Immutable.
	timeout  time.Duration
	deadline time.Time // the socket's write deadline; the writing goroutine's (writes are one at a time)

	// inWrite, if set before the websocket is used, is called by each
	// socket write before it writes (tests: a writer held inside a write).
	inWrite func()
}

func (sc *sockConn) Write(p []byte) (int, error) {
	if sc.inWrite != nil {
		sc.inWrite()
	}
	if sc.timeout > 0 {
		// The deadline is set half a timeout further than needed and
		// moved only when less than a timeout is left (a timer update per
		// write costs more than the write's bookkeeping): each write gets
		// at least the timeout, at most one and a half.
		if now := time.Now(); now.After(sc.deadline.Add(-sc.timeout)) {
			sc.deadline = now.Add(sc.timeout + sc.timeout/2)
			sc.Conn.SetWriteDeadline(sc.deadline)
		}
	}
	n, err := sc.Conn.Write(p)
	sc.sent.Add(uint64(n))
	return n, err
}

// unsent returns the bytes written to the socket that the client has not
// yet taken (acknowledged), or -1 if that cannot be known here.
func (sc *sockConn) unsent() int {
	if sc == nil || sc.Conn == nil {
		return -1
	}
	return unsentBytes(sc.Conn)
}

// A hijackSock is the response writer the websocket is accepted on: its
// Hijack routes the connection's writes through sc.
type hijackSock struct {
	http.ResponseWriter
	sc *sockConn
}

func (h hijackSock) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // empty after net/http's Hijack
		nc.Close()
		return nil, nil, err
	}
	h.sc.Conn = nc
	brw.Writer.Reset(h.sc)
	return h.sc, brw, nil
}

// sentBytes returns the bytes written to the socket (0 for none).
func (sc *sockConn) sentBytes() uint64 {
	if sc == nil {
		return 0
	}
	return sc.sent.Load()
}
