//go:build !js

// Package clustertest runs relay nodes of a cluster on 127.0.0.1 for
// tests: each node a relay.Server behind httptest with its own embedded
// NATS server, routed to the others'.
package clustertest

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/relay/relaytest"
)

// A Node is one relay node of the cluster.
type Node struct {
	URL  string // its websocket URL
	Srv  *relay.Server
	Node *cluster.Node
	Kill func() // as a crash: no word to the others
}

// Start runs k nodes with limits lim, joined with cfg (its URL is each
// node's own), and waits until each sees all k. They stop when the test
// ends.
func Start(t testing.TB, k int, log *slog.Logger, lim relay.Limits, cfg cluster.Config) []*Node {
	t.Helper()
	addrs, routes := make([]string, k), make([]string, k)
	for i := range addrs {
		addrs[i] = relaytest.FreeAddr(t)
		routes[i] = "nats://" + addrs[i]
	}
	nodes := make([]*Node, k)
	for i := range nodes {
		nn, err := natsnode.Start(natsnode.Options{Name: fmt.Sprintf("n%d", i), Cluster: addrs[i], Routes: routes}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := relay.NewServer(log, lim)
		hs := httptest.NewServer(srv.Handler())
		c := cfg
		c.URL = "ws" + strings.TrimPrefix(hs.URL, "http")
		node, err := cluster.Join(srv, nn, c)
		if err != nil {
			t.Fatal(err)
		}
		killed := false
		kill := func() {
			if !killed {
				killed = true
				nn.Close()
				srv.Close()
				hs.Close()
			}
		}
		t.Cleanup(func() { node.Close(); kill() })
		nodes[i] = &Node{URL: c.URL, Srv: srv, Node: node, Kill: kill}
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
