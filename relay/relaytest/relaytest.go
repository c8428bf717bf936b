// Package relaytest runs a real relay on 127.0.0.1 for other packages'
// tests.
package relaytest

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
)

// Start runs a relay with lim on 127.0.0.1, logging nothing, until the
// test ends, and returns its websocket URL. Every client of a test comes
// from 127.0.0.1, so the per-address cap (MaxConnsPerIP, 64 in
// DefaultLimits) is raised to MaxConns and the queue share of an address
// (MaxQueuedBytesPerIP) to the whole budget: a test of many peers is not
// refused for sharing an address.
func Start(tb testing.TB, lim relay.Limits) string {
	tb.Helper()
	return Run(tb, lim).URL
}

// A Relay is a relay on 127.0.0.1 that a test can stop and start again on
// the same address, as a relay process restarted.
type Relay struct {
	URL string // immutable: its websocket URL, the same across restarts

	tb   testing.TB
	lim  relay.Limits
	addr string // immutable: host:port

	mu  sync.Mutex
	srv *relay.Server    // guarded by mu; nil while stopped
	hs  *httptest.Server // guarded by mu; nil while stopped
}

// Run is Start, returning the running relay.
func Run(tb testing.TB, lim relay.Limits) *Relay {
	tb.Helper()
	conns := lim.MaxConns
	if conns <= 0 {
		conns = relay.DefaultLimits().MaxConns
	}
	lim.MaxConnsPerIP = max(lim.MaxConnsPerIP, conns)
	lim.MaxQueuedBytesPerIP = max(lim.MaxQueuedBytesPerIP, lim.MaxQueuedBytes, relay.DefaultLimits().MaxQueuedBytes)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Relay{tb: tb, lim: lim, addr: ln.Addr().String()}
	r.URL = "ws://" + r.addr
	r.serve(ln)
	tb.Cleanup(r.Stop)
	return r
}

// Stop closes the relay: its clients' connections drop, and dials are
// refused until Start. Stopping a stopped relay does nothing.
func (r *Relay) Stop() {
	r.mu.Lock()
	srv, hs := r.srv, r.hs
	r.srv, r.hs = nil, nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
		hs.Close()
	}
}

// Start runs a new relay (it knows nothing of the old one's clients) on
// the stopped relay's address.
func (r *Relay) Start() {
	r.tb.Helper()
	r.mu.Lock()
	running := r.srv != nil
	r.mu.Unlock()
	if running {
		r.tb.Fatal("relaytest: Start on a relay that runs")
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.tb.Fatalf("relaytest: listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *Relay) serve(ln net.Listener) {
	srv := relay.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), r.lim)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	r.mu.Lock()
	r.srv, r.hs = srv, hs
	r.mu.Unlock()
}

// FreeAddr returns a loopback address (127.0.0.1:port) whose port was
// free a moment ago, for a server a test starts and others then dial (a
// NATS listener, a relay node that must keep its address).
//
// The port is drawn below the kernel's ephemeral range (Linux: 32768 and
// up), which a port asked with ":0" would come from: that range is also
// where every outgoing connection takes its local port, so on a busy
// machine one of the test's own connections could take the port between
// FreeAddr and the server's bind ("address already in use", seen in the
// soak beside two CPU burners). Ports there are only ever taken on
// purpose. After a few draws that are all in use, it falls back to ":0".
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	for range 20 {
		addr := fmt.Sprintf("127.0.0.1:%d", freeLow+rand.IntN(freeHigh-freeLow))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The ports FreeAddr draws from: [freeLow, freeHigh), below the ephemeral
// range.
const (
	freeLow  = 20000
	freeHigh = 32768
)
