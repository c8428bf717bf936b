// Package relaytest runs a real relay on 127.0.0.1 for other packages'
// tests.
package relaytest

import (
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
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
	conns := lim.MaxConns
	if conns <= 0 {
		conns = relay.DefaultLimits().MaxConns
	}
	lim.MaxConnsPerIP = max(lim.MaxConnsPerIP, conns)
	lim.MaxQueuedBytesPerIP = max(lim.MaxQueuedBytesPerIP, lim.MaxQueuedBytes, relay.DefaultLimits().MaxQueuedBytes)
	srv := relay.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lim)
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() { srv.Close(); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// FreeAddr returns a loopback address (127.0.0.1:port) whose port was
// free a moment ago, for a server a test starts and others then dial (a
// NATS listener, a relay node that must keep its address).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
