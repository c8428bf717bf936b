//go:build !js

// Package clustertest runs relay nodes of a cluster on 127.0.0.1 for
// tests: each node a relay.Server behind httptest with its own embedded
// NATS server, routed to the others'. A node can be killed and restarted
// on the same addresses.
package clustertest

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/relay/relaytest"
)

// A Node is one relay node of the cluster.
type Node struct {
	URL       string           // its websocket URL; the same after a Restart
	Srv       *relay.Server    // the running incarnation's; Restart replaces it
	Node      *cluster.Node    // the running incarnation's; Restart replaces it
	Kill      func()           // as a crash: no word to the others; idempotent
	opts      natsnode.Options // immutable: its NATS server's name, cluster address and routes
	addr      string           // immutable: the relay's host:port
	log       *slog.Logger     // immutable
	lim       relay.Limits     // immutable
	relayOpts []relay.Option   // immutable
	cfg       cluster.Config   // immutable; URL set
	i         int              // immutable: its index
	wrap      Wrap             // immutable: nil for the relay alone
	all       []string         // immutable: every node's URL, for WithPageHosts

	mu   sync.Mutex // guards the running incarnation below
	stop func()     // closes the running incarnation; nil once killed
}

// Start runs k nodes with limits lim and the relay's options opts,
// joined with cfg (its URL is each node's own), and waits until each sees
// all k. They stop when the test ends.
func Start(t testing.TB, k int, log *slog.Logger, lim relay.Limits, cfg cluster.Config, opts ...relay.Option) []*Node {
	t.Helper()
	return StartServing(t, k, log, lim, cfg, nil, opts...)
}

// A Wrap gives node i's HTTP handler around its relay's: to serve the
// page beside it, say. urls are every node's URL.
type Wrap func(i int, urls []string, relay http.Handler) http.Handler

// StartServing is Start with each node's handler made by wrap (nil: the
// relay's alone); the relays then let the pages of every node open them
// (relay.WithPageHosts), as a cluster serving its page does.
func StartServing(t testing.TB, k int, log *slog.Logger, lim relay.Limits, cfg cluster.Config, wrap Wrap, opts ...relay.Option) []*Node {
	t.Helper()
	addrs, routes := make([]string, k), make([]string, k)
	for i := range addrs {
		addrs[i] = relaytest.FreeAddr(t)
		routes[i] = "nats://" + addrs[i]
	}
	nodes := make([]*Node, k)
	urls := make([]string, k)
	for i := range nodes {
		nodes[i] = &Node{opts: natsnode.Options{Name: fmt.Sprintf("n%d", i), Cluster: addrs[i], Routes: routes},
			addr: relaytest.FreeAddr(t), log: log, lim: lim, cfg: cfg, relayOpts: opts, i: i, wrap: wrap, all: urls}
		urls[i] = "ws://" + nodes[i].addr
	}
	for i, n := range nodes {
		n.URL = urls[i]
		n.cfg.URL = n.URL
		n.Kill = n.kill
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.kill)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for len(n.Node.Members()) != k {
			if time.Now().After(deadline) {
				t.Fatal("the nodes never saw each other")
			}
			time.Sleep(10 * time.Millisecond) // a poll of the directory
		}
	}
	return nodes
}

// Restart starts a killed node again on the same relay and NATS
// addresses, with a new relay.Server (it knows no one, as after a crash).
// It does not wait for the others to see it. Srv and Node change: read
// them only from the goroutine that calls Kill and Restart.
func (n *Node) Restart() error {
	n.mu.Lock()
	running := n.stop != nil
	n.mu.Unlock()
	if running {
		return fmt.Errorf("clustertest: restart of %s: it runs", n.URL)
	}
	return n.start()
}

// start runs a new incarnation of the node.
func (n *Node) start() error {
	nn, err := natsnode.Start(n.opts, nil)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", n.addr)
	if err != nil {
		nn.Close()
		return err
	}
	opts := n.relayOpts
	if n.wrap != nil {
		opts = append(slices.Clone(opts), relay.WithPageHosts(n.pageHosts))
	}
	srv := relay.NewServer(n.log, n.lim, opts...)
	h := srv.Handler()
	if n.wrap != nil {
		h = n.wrap(n.i, n.all, h)
	}
	hs := httptest.NewUnstartedServer(h)
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	node, err := cluster.Join(srv, nn, n.cfg)
	if err != nil {
		srv.Close()
		hs.Close()
		nn.Close()
		return err
	}
	n.mu.Lock()
	n.Srv, n.Node = srv, node
	n.stop = func() {
		nn.Close()
		srv.Close()
		hs.Close()
		node.Close()
	}
	n.mu.Unlock()
	return nil
}

// kill stops the running incarnation, if any.
func (n *Node) kill() {
	n.mu.Lock()
	stop := n.stop
	n.stop = nil
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// pageHosts are the hosts of every node's URL.
func (n *Node) pageHosts() []relay.Host {
	var out []relay.Host
	for _, u := range n.all {
		if h, err := relay.RelayURLHost(u); err == nil {
			out = append(out, h)
		}
	}
	return out
}
