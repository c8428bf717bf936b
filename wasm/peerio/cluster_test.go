//go:build !js

package peerio_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// A clusterNode is a relay node on 127.0.0.1 joined to the others over
// its own embedded NATS server.
type clusterNode struct {
	url  string
	srv  *relay.Server
	node *cluster.Node
}

// startCluster runs k relay nodes that see each other. A node is given up
// only after a minute without heartbeats, so a busy machine makes none go
// (the test says when one does).
func startCluster(t *testing.T, k int) []*clusterNode {
	t.Helper()
	addrs, routes := make([]string, k), make([]string, k)
	for i := range addrs {
		addrs[i] = relaytest.FreeAddr(t)
		routes[i] = "nats://" + addrs[i]
	}
	nodes := make([]*clusterNode, k)
	for i := range nodes {
		nn, err := natsnode.Start(natsnode.Options{Name: fmt.Sprintf("n%d", i), Cluster: addrs[i], Routes: routes}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := relay.NewServer(quiet, relay.DefaultLimits())
		hs := httptest.NewServer(srv.Handler())
		url := "ws" + strings.TrimPrefix(hs.URL, "http")
		node, err := cluster.Join(srv, nn, cluster.Config{URL: url, Every: 100 * time.Millisecond, Expire: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close(); srv.Close(); hs.Close(); nn.Close() })
		nodes[i] = &clusterNode{url: url, srv: srv, node: node}
	}
	c := ctx(t)
	for _, n := range nodes {
		for len(n.node.Members()) != k {
			select {
			case <-c.Done():
				t.Fatal("the nodes never saw each other")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nodes
}

// TestOfferAfterOneSidedOffline: Ana (the lower id) opened the port to
// Bob, each on a node of a cluster. Bob's node alone gives Ana's node up
// for a moment (as when its heartbeats come late), so Bob drops the port
// and Ana keeps hers. As soon as Ana is back for Bob's node, Bob offers a
// port again: Ana takes it in place of hers (an offer is never the late
// half of the race that opened hers), and it carries data both ways.
func TestOfferAfterOneSidedOffline(t *testing.T) {
	nodes := startCluster(t, 2)
	ana := newPeerWith(t, "ana", 1, peerio.Config{Relay: nodes[0].url, Logger: quiet, Retry: 10 * time.Millisecond})
	bob := newPeerWith(t, "bob", 2, peerio.Config{Relay: nodes[1].url, Logger: quiet, Retry: 10 * time.Millisecond})
	if ana.ID().String() >= bob.ID().String() {
		t.Fatal("the test wants Ana's id below Bob's")
	}
	ana.online(t)
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	<-ana.ports
	pb := bob.accept(t) // Bob asks for Ana too: he reopens a port that breaks
	exchange(t, pa, pb, []byte("hello bob"))
	exchange(t, pb, pa, []byte("hello ana"))

	anaNode := nodes[0].node.Name()
	nodes[1].srv.RemoteNodeGone(anaNode)
	if _, err := pb.Recv(ctx(t)); err == nil {
		t.Fatal("Bob's port stood while Ana was offline for his node")
	}
	// Ana's node is heard again: its list of sessions, as the cluster
	// asks for it then.
	nodes[0].srv.Sync(16, func(peers []relay.RemotePeer, last bool) {
		nodes[1].srv.RemoteSync(anaNode, 1<<32, peers, last)
	})

	na, nb := nextPort(t, ana), nextPort(t, bob)
	exchange(t, nb, na, []byte("bob again"))
	exchange(t, na, nb, []byte("ana again"))
	if _, err := pa.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Ana's former port: %v, want it closed", err)
	}
}
