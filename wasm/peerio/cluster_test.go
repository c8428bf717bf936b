//go:build !js

package peerio_test

import (
	"errors"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/cluster/clustertest"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// startCluster runs k relay nodes that see each other. A node is given up
// only after a minute without heartbeats, so a busy machine makes none go
// (the test says when one does).
func startCluster(t *testing.T, k int) []*clustertest.Node {
	return clustertest.Start(t, k, quiet, relay.DefaultLimits(), cluster.Config{Every: 100 * time.Millisecond, Expire: time.Minute})
}

// TestOfferAfterOneSidedOffline: Ana (the lower id) opened the port to
// Bob, each on a node of a cluster. Bob's node alone gives Ana's node up
// for a moment (as when its heartbeats come late), so Bob drops the port
// and Ana keeps hers. As soon as Ana is back for Bob's node, Bob offers a
// port again: Ana takes it in place of hers (an offer is never the late
// half of the race that opened hers), and it carries data both ways.
func TestOfferAfterOneSidedOffline(t *testing.T) {
	nodes := startCluster(t, 2)
	ana := newPeerWith(t, "ana", 1, peerio.Config{Relay: nodes[0].URL, Logger: quiet, Retry: 10 * time.Millisecond})
	bob := newPeerWith(t, "bob", 2, peerio.Config{Relay: nodes[1].URL, Logger: quiet, Retry: 10 * time.Millisecond})
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

	anaNode := nodes[0].Node.Name()
	nodes[1].Srv.RemoteNodeGone(anaNode)
	if _, err := pb.Recv(ctx(t)); err == nil {
		t.Fatal("Bob's port stood while Ana was offline for his node")
	}
	// Ana's node is heard again: its list of sessions, as the cluster
	// asks for it then.
	nodes[0].Srv.Sync(16, func(peers []relay.RemotePeer, last bool) {
		nodes[1].Srv.RemoteSync(anaNode, 1<<32, peers, last)
	})

	na, nb := nextPort(t, ana), nextPort(t, bob)
	exchange(t, nb, na, []byte("bob again"))
	exchange(t, na, nb, []byte("ana again"))
	if _, err := pa.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Ana's former port: %v, want it closed", err)
	}
}
