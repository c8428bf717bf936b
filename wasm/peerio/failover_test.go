package peerio_test

import (
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// A node is one relay server on 127.0.0.1 that a test can kill and start
// again on the same address, as a relay node of a cluster that dies and
// comes back.
type node struct {
	tb   testing.TB
	addr string // host:port, kept across restarts
	URL  string // websocket URL

	mu  sync.Mutex
	srv *relay.Server    // guarded by mu; nil while down
	hs  *httptest.Server // guarded by mu; nil while down
}

// startNode runs a relay on a free port of 127.0.0.1 until the test ends.
func startNode(tb testing.TB) *node {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{tb: tb, addr: ln.Addr().String()}
	n.URL = "ws://" + n.addr + "/"
	n.serve(ln)
	tb.Cleanup(n.kill)
	return n
}

func (n *node) serve(ln net.Listener) {
	lim := relay.DefaultLimits()
	lim.MaxConnsPerIP = lim.MaxConns
	lim.FramesPerSec, lim.BytesPerSec = 1e6, 1e10
	srv := relay.NewServer(quiet, lim)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	n.mu.Lock()
	n.srv, n.hs = srv, hs
	n.mu.Unlock()
}

// kill closes the relay and its listener: its clients' connections drop
// and new dials are refused.
func (n *node) kill() {
	n.mu.Lock()
	srv, hs := n.srv, n.hs
	n.srv, n.hs = nil, nil
	n.mu.Unlock()
	if srv != nil {
		srv.Close()
		hs.Close()
	}
}

// restart starts the relay again on its address.
func (n *node) restart() {
	n.tb.Helper()
	ln, err := net.Listen("tcp", n.addr)
	if err != nil {
		n.tb.Fatal(err)
	}
	n.serve(ln)
}

// clusterPeer is a peer whose IO knows every node, first on its own.
func clusterPeer(t *testing.T, alias string, seed byte, first *node, others ...*node) *peer {
	t.Helper()
	return newPeerWith(t, alias, seed, clusterConfig(first, others...))
}

func clusterConfig(first *node, others ...*node) peerio.Config {
	cfg := peerio.Config{Relay: first.URL, Logger: quiet, Retry: 10 * time.Millisecond}
	for _, o := range others {
		cfg.Relays = append(cfg.Relays, o.URL)
	}
	return cfg
}

// onRelay waits until io is connected to url.
func onRelay(t *testing.T, io *peerio.IO, url string) {
	t.Helper()
	c := ctx(t)
	for io.RelayURL() != url {
		select {
		case <-c.Done():
			t.Fatalf("%s is on %q, never on %s", io.Alias(), io.RelayURL(), url)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestFailover: a peer on a node that dies is back online on another node
// of its list, and a peer there opens a port to it that carries data.
func TestFailover(t *testing.T) {
	r1, r2 := startNode(t), startNode(t)
	cfg := clusterConfig(r1, r2)
	moves := make(chan string, 16)
	cfg.OnRelay = func(url string) { moves <- url }
	ana := newPeerWith(t, "ana", 1, cfg)
	ana.online(t)
	if got := ana.RelayURL(); got != r1.URL {
		t.Fatalf("Ana went online on %q, want the first choice %s", got, r1.URL)
	}
	r1.kill()
	onRelay(t, ana.IO, r2.URL)
	for _, want := range []string{"", r2.URL} {
		if got := <-moves; got != want {
			t.Fatalf("OnRelay told %q, want %q", got, want)
		}
	}

	bob := clusterPeer(t, "bob", 2, r2)
	bob.online(t)
	pb, err := bob.At(ctx(t), ana.ID())
	if err != nil {
		t.Fatal(err)
	}
	pa := ana.accept(t)
	exchange(t, pb, pa, []byte("hello on node 2"))
	exchange(t, pa, pb, []byte("and back"))
}

// TestFailoverFirstChoiceDown: On goes online on the next relay when the
// first cannot be reached.
func TestFailoverFirstChoiceDown(t *testing.T) {
	r1, r2 := startNode(t), startNode(t)
	r1.kill()
	ana := clusterPeer(t, "ana", 1, r1, r2)
	ana.online(t)
	if got := ana.RelayURL(); got != r2.URL {
		t.Fatalf("Ana went online on %q, want %s", got, r2.URL)
	}
}

// TestFailoverAllDown: with every node down the peer keeps trying, and is
// back online when one returns; its port to a peer asked for with At
// reopens there.
func TestFailoverAllDown(t *testing.T) {
	r1, r2 := startNode(t), startNode(t)
	ana := clusterPeer(t, "ana", 1, r1, r2)
	bob := clusterPeer(t, "bob", 2, r1, r2)
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	<-ana.ports
	pb := bob.accept(t)
	exchange(t, pa, pb, []byte("before"))

	r1.kill()
	r2.kill()
	// Each IO shuts its ports once it saw its connection drop.
	for _, pt := range []port.Port{pa, pb} {
		if _, err := pt.Recv(ctx(t)); err == nil {
			t.Fatal("a port outlived every relay")
		}
	}
	// Both keep trying: each has failed a whole round through the list.
	for _, p := range []*peer{ana, bob} {
		p.await(t, peerio.TraceNoRelay, p.ID())
		if url := p.RelayURL(); url != "" {
			t.Fatalf("%s is on %s with every relay down", p.Alias(), url)
		}
	}
	r2.restart()
	onRelay(t, ana.IO, r2.URL)
	onRelay(t, bob.IO, r2.URL)
	na, nb := nextPort(t, ana), nextPort(t, bob)
	exchange(t, na, nb, []byte("after"))
	exchange(t, nb, na, []byte("and back"))
}

// nextPort returns the next port p's handler got.
func nextPort(t *testing.T, p *peer) port.Port {
	t.Helper()
	select {
	case pt := <-p.ports:
		return pt
	case <-ctx(t).Done():
		t.Fatalf("%s got no port", p.Alias())
		return nil
	}
}
