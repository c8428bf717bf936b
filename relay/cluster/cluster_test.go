//go:build !js

package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A testNode is a relay server on 127.0.0.1 joined to a cluster.
type testNode struct {
	srv  *relay.Server
	hs   *httptest.Server
	nn   *natsnode.Node
	node *Node
	url  string // the relay's websocket URL
}

// kill stops the node without a word to the others, as a crash would.
func (n *testNode) kill() {
	n.nn.Close()
	n.srv.Close()
	n.hs.Close()
}

// every is the heartbeat of test nodes: a killed node is gone after 5.
const every = 100 * time.Millisecond

func startNode(t testing.TB, o natsnode.Options) *testNode {
	t.Helper()
	nn, err := natsnode.Start(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	lim := relay.DefaultLimits()
	lim.MaxConnsPerIP = lim.MaxConns
	lim.MaxQueuedBytesPerIP = lim.MaxQueuedBytes
	srv := relay.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lim)
	hs := httptest.NewServer(srv.Handler())
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	node, err := Join(srv, nn, Config{URL: url, Every: every})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{srv: srv, hs: hs, nn: nn, node: node, url: url}
	t.Cleanup(func() { node.Close(); n.kill() })
	return n
}

// startCluster starts k nodes whose embedded NATS servers route to each
// other.
func startCluster(t testing.TB, k int) []*testNode {
	t.Helper()
	addrs := make([]string, k)
	routes := make([]string, k)
	for i := range addrs {
		addrs[i] = relaytest.FreeAddr(t)
		routes[i] = "nats://" + addrs[i]
	}
	nodes := make([]*testNode, k)
	for i := range nodes {
		nodes[i] = startNode(t, natsnode.Options{Name: fmt.Sprintf("n%d", i), Cluster: addrs[i], Routes: routes})
	}
	waitFor(t, "every node sees the others", func() bool {
		for _, n := range nodes {
			if len(n.node.Members()) != k {
				return false
			}
		}
		return true
	})
	return nodes
}

// waitFor polls cond until it holds, or fails the test after a while.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A peer is a relay client and the events it has not looked at yet.
type peer struct {
	t       testing.TB
	key     *identity.Key
	c       *relay.Client
	backlog []relay.Event
}

func newKey(t testing.TB) *identity.Key {
	var seed identity.Seed
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	return identity.New(seed)
}

func dial(t testing.TB, url string, key *identity.Key) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := relay.Dial(ctx, url, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, key: key, c: c}
}

func (p *peer) id() identity.ID { return p.key.ID() }

// next returns the first event, seen or to come, that match accepts,
// keeping the others for later calls.
func (p *peer) next(what string, match func(relay.Event) bool) relay.Event {
	p.t.Helper()
	for i, ev := range p.backlog {
		if match(ev) {
			p.backlog = append(p.backlog[:i], p.backlog[i+1:]...)
			return ev
		}
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-p.c.Events():
			if !ok {
				p.t.Fatalf("%s: connection ended (%v)", what, p.c.Err())
			}
			if match(ev) {
				return ev
			}
			p.backlog = append(p.backlog, ev)
		case <-timeout:
			p.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// presence waits until id's presence is online, as the relay says it
// now: earlier presence events of id are history, and dropped.
func (p *peer) presence(id identity.ID, online bool) {
	p.t.Helper()
	of := func(ev relay.Event) bool { return ev.Type == relay.FramePresence && ev.From == id }
	kept := p.backlog[:0]
	var last *relay.Event
	for _, ev := range p.backlog {
		if of(ev) {
			last = &ev
		} else {
			kept = append(kept, ev)
		}
	}
	p.backlog = kept
	if last != nil && last.Online == online {
		return
	}
	p.next(fmt.Sprintf("%s online=%v", id.Short(), online), func(ev relay.Event) bool {
		return of(ev) && ev.Online == online
	})
	p.backlog = slices.DeleteFunc(p.backlog, of) // older than the one found
}

func (p *peer) send(to identity.ID, msg string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.c.Send(ctx, to, relay.KindFrame, []byte(msg)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) recv(from identity.ID, msg string) {
	p.t.Helper()
	p.next("recv "+msg, func(ev relay.Event) bool {
		return ev.Type == relay.FrameRecv && ev.From == from && string(ev.Payload) == msg
	})
}

func (p *peer) offlineError(about identity.ID) relay.Event {
	p.t.Helper()
	return p.next("offline error", func(ev relay.Event) bool {
		return ev.Type == relay.FrameError && ev.Code == relay.CodeOffline && ev.From == about
	})
}

func (p *peer) watch(ids ...identity.ID) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.c.Watch(ctx, ids...); err != nil {
		p.t.Fatal(err)
	}
}

func TestPeersOnThreeNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	a := dial(t, nodes[0].url, newKey(t))
	b := dial(t, nodes[1].url, newKey(t))
	a.watch(b.id())
	a.presence(b.id(), true)
	c := dial(t, nodes[2].url, newKey(t))
	b.watch(a.id(), c.id())
	b.presence(a.id(), true)
	b.presence(c.id(), true)

	a.send(b.id(), "a→b")
	b.recv(a.id(), "a→b")
	b.send(c.id(), "b→c")
	c.recv(b.id(), "b→c")
	c.send(a.id(), "c→a")
	a.recv(c.id(), "c→a")

	// A peer that leaves is offline for its watchers on other nodes.
	c.c.Close()
	b.presence(c.id(), false)
	b.send(c.id(), "to no one")
	if ev := b.offlineError(c.id()); ev.Detail != "not connected" {
		t.Fatalf("offline error detail %q", ev.Detail)
	}
	st := nodes[0].srv.Stats()
	if st.ClusterOut == 0 || st.ClusterIn == 0 {
		t.Fatalf("node 1 forwarded %d and delivered %d sends across nodes", st.ClusterOut, st.ClusterIn)
	}
}

// A send forwarded to a node whose peer has just left is answered
// offline, as on one node.
func TestSendToPeerThatJustLeft(t *testing.T) {
	nodes := startCluster(t, 2)
	a := dial(t, nodes[0].url, newKey(t))
	gone := newKey(t).ID()
	// Node 1's directory still says gone is on node 2, which no longer
	// has it: the state right after it left, before node 1 heard.
	nodes[0].srv.RemoteRegistered(nodes[1].node.Name(), gone, time.Now().UnixNano())
	a.send(gone, "too late")
	if ev := a.offlineError(gone); ev.Detail != "not connected" {
		t.Fatalf("offline error detail %q", ev.Detail)
	}
}

// A send forwarded to a node that is gone, before the others noticed,
// is answered offline at once (NATS's "no responders").
func TestSendToDeadNode(t *testing.T) {
	nodes := startCluster(t, 2)
	a := dial(t, nodes[0].url, newKey(t))
	lost := newKey(t).ID()
	nodes[0].srv.RemoteRegistered("deadbeefdeadbeef", lost, time.Now().UnixNano())
	a.send(lost, "into the void")
	if ev := a.offlineError(lost); ev.Detail != "not connected" {
		t.Fatalf("offline error detail %q", ev.Detail)
	}
	if n := nodes[0].node.noResponders.Load(); n != 1 {
		t.Fatalf("%d sends counted unrouted, want 1", n)
	}
}

// A node's "not there" answer about a session that has since been
// replaced is dropped: it would tell the sender the peer is offline
// right after the peer came back elsewhere.
func TestStaleUndeliveredDropped(t *testing.T) {
	nodes := startCluster(t, 2)
	srv := nodes[0].srv
	a := dial(t, nodes[0].url, newKey(t))
	x := newKey(t).ID()
	srv.RemoteRegistered("aaaaaaaaaaaaaaaa", x, 1)
	srv.RemoteRegistered("bbbbbbbbbbbbbbbb", x, 2) // x moved
	srv.Undelivered(a.id(), x, "aaaaaaaaaaaaaaaa", relay.CodeOffline, "stale")
	srv.Undelivered(a.id(), x, "bbbbbbbbbbbbbbbb", relay.CodeOffline, "fresh")
	if ev := a.offlineError(x); ev.Detail != "fresh" {
		t.Fatalf("the sender was told %q first", ev.Detail)
	}
}

// A send that comes before the directory message of its sender's session
// brings the session: the watcher learns the sender is online before its
// first frame, as on one node; and a send from a session that ended here
// already does not bring it back.
func TestSendBeforeDirectory(t *testing.T) {
	nodes := startCluster(t, 2)
	srv, other := nodes[0].srv, nodes[1].node.Name()
	a := dial(t, nodes[0].url, newKey(t))
	x := newKey(t).ID()
	a.watch(x)
	a.presence(x, false)
	if err := srv.Deliver(other, x, 5, a.id(), relay.KindFrame, []byte("first")); err != nil {
		t.Fatal(err)
	}
	ev := a.next("presence or recv", func(ev relay.Event) bool { return ev.From == x })
	if ev.Type != relay.FramePresence || !ev.Online {
		t.Fatalf("the first event about x is %+v, want it online", ev)
	}
	a.recv(x, "first")

	srv.RemoteUnregistered(other, x, 5)
	a.presence(x, false)
	if err := srv.Deliver(other, x, 5, a.id(), relay.KindFrame, []byte("late")); err != nil {
		t.Fatal(err)
	}
	a.recv(x, "late")
	if n := srv.Stats().RemotePeers; n != 0 {
		t.Fatalf("a late send brought back its ended session (%d remote peers)", n)
	}
}

// A peer that reconnects to another node replaces its old session
// everywhere.
func TestReplaceAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	w := dial(t, nodes[0].url, newKey(t))
	key := newKey(t)
	old := dial(t, nodes[1].url, key)
	w.watch(key.ID())
	w.presence(key.ID(), true)

	fresh := dial(t, nodes[2].url, key)
	w.presence(key.ID(), false)
	w.presence(key.ID(), true)
	waitFor(t, "the old session closed as replaced", func() bool { return errors.Is(old.c.Err(), relay.ErrReplaced) })

	w.send(key.ID(), "to the new session")
	fresh.recv(w.id(), "to the new session")
	if n := nodes[1].srv.Stats().Peers; n != 0 {
		t.Fatalf("the old node still holds %d peers", n)
	}
}

// A killed node's peers go offline for the others, reconnect to another
// node and are reached there.
func TestNodeKilled(t *testing.T) {
	nodes := startCluster(t, 3)
	a := dial(t, nodes[0].url, newKey(t))
	bkey := newKey(t)
	dial(t, nodes[1].url, bkey)
	a.watch(bkey.ID())
	a.presence(bkey.ID(), true)

	nodes[1].kill()
	a.presence(bkey.ID(), false)
	waitFor(t, "the others forget the killed node", func() bool {
		return len(nodes[0].node.Members()) == 2 && len(nodes[2].node.Members()) == 2
	})
	if e0, e2 := nodes[0].node.Expired(), nodes[2].node.Expired(); e0 != 1 || e2 != 1 {
		t.Errorf("the others counted %d and %d nodes expired, want 1 each", e0, e2)
	}
	b := dial(t, nodes[2].url, bkey)
	a.presence(bkey.ID(), true)
	a.send(b.id(), "after the crash")
	b.recv(a.id(), "after the crash")
}

// With NATS unreachable a node serves its own peers, says so, and routes
// across nodes again once NATS is back.
func TestNATSDownAndBack(t *testing.T) {
	addr := relaytest.FreeAddr(t)
	nats := func() *natsnode.Node {
		n, err := natsnode.Start(natsnode.Options{Name: "nats", Listen: addr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ns := nats()
	opts := natsnode.Options{URLs: []string{"nats://" + addr}, ReconnectWait: 50 * time.Millisecond}
	n1, n2 := startNode(t, opts), startNode(t, opts)
	waitFor(t, "the nodes see each other", func() bool { return len(n1.node.Members()) == 2 && len(n2.node.Members()) == 2 })
	a := dial(t, n1.url, newKey(t))
	b := dial(t, n2.url, newKey(t))
	a.watch(b.id())
	a.presence(b.id(), true)

	ns.Close()
	a.presence(b.id(), false)
	if n1.node.Connected() || !strings.Contains(n1.node.Health(), "nats: reconnecting") {
		t.Fatalf("with NATS down: connected %v, health %q", n1.node.Connected(), n1.node.Health())
	}
	a.send(b.id(), "lost")
	a.offlineError(b.id())
	// Local routing goes on.
	c := dial(t, n1.url, newKey(t))
	c.send(a.id(), "local")
	a.recv(c.id(), "local")

	ns = nats()
	t.Cleanup(ns.Close)
	a.presence(b.id(), true)
	a.send(b.id(), "back")
	b.recv(a.id(), "back")
}

// A node whose NATS is unreachable at start serves its own peers, and
// joins the others once NATS comes.
func TestNATSUnreachableAtStart(t *testing.T) {
	addr := relaytest.FreeAddr(t)
	opts := natsnode.Options{URLs: []string{"nats://" + addr}, ReconnectWait: 50 * time.Millisecond}
	n1 := startNode(t, opts)
	if n1.node.Connected() {
		t.Fatal("connected to a NATS that is not there")
	}
	a := dial(t, n1.url, newKey(t))
	c := dial(t, n1.url, newKey(t))
	c.send(a.id(), "local")
	a.recv(c.id(), "local")

	ns, err := natsnode.Start(natsnode.Options{Name: "nats", Listen: addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	n2 := startNode(t, opts)
	waitFor(t, "the nodes see each other", func() bool { return len(n1.node.Members()) == 2 && len(n2.node.Members()) == 2 })
	b := dial(t, n2.url, newKey(t))
	a.watch(b.id())
	a.presence(b.id(), true)
	b.send(a.id(), "across")
	a.recv(b.id(), "across")
}
