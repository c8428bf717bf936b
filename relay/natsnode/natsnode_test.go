//go:build !js

package natsnode

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/task-messenger/task-messenger/relay/relaytest"
)

func start(t *testing.T, o Options) *Node {
	t.Helper()
	n, err := Start(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// roundTrip publishes on a fresh subject from a and waits for b to get it.
func roundTrip(t *testing.T, a, b *Node) {
	t.Helper()
	subj := nats.NewInbox()
	got := make(chan *nats.Msg, 1)
	sub, err := b.Conn.ChanSubscribe(subj, got)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Interest crosses a route asynchronously: publish until it arrives.
		if err := a.Conn.Publish(subj, []byte("hi")); err != nil && err != nats.ErrReconnectBufExceeded {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if string(m.Data) != "hi" {
				t.Fatalf("got %q", m.Data)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("no message crossed")
		}
	}
}

func TestEmbeddedDefault(t *testing.T) {
	n := start(t, Options{})
	if !n.Embedded() || n.ClientURL() != "" || !n.Connected() {
		t.Fatalf("embedded %v, url %q, connected %v", n.Embedded(), n.ClientURL(), n.Connected())
	}
	roundTrip(t, n, n)
}

// TestEmbeddedNameWithSpaces: a name with spaces (the mirror's "mirror
// <id>") names an embedded server too; nats-server refused it, and every
// mirror started without -nats (make run's) failed.
func TestEmbeddedNameWithSpaces(t *testing.T) {
	n := start(t, Options{Name: "mirror 5dyr 7ask"})
	if !n.Connected() {
		t.Fatal("not connected")
	}
	if got := n.Conn.Opts.Name; got != "mirror 5dyr 7ask" {
		t.Fatalf("connection named %q", got)
	}
	roundTrip(t, n, n)
}

func TestClusterOfEmbedded(t *testing.T) {
	c1, c2, c3 := relaytest.FreeAddr(t), relaytest.FreeAddr(t), relaytest.FreeAddr(t)
	n1 := start(t, Options{Name: "n1", Listen: relaytest.FreeAddr(t), Cluster: c1})
	n2 := start(t, Options{Name: "n2", Cluster: c2, Routes: []string{"nats://" + c1}})
	n3 := start(t, Options{Name: "n3", Cluster: c3, Routes: []string{"nats://" + c1, "nats://" + c2}})
	roundTrip(t, n2, n3)
	roundTrip(t, n3, n1)
	// A node that joins node 1's listener as a client.
	n4 := start(t, Options{Name: "n4", URLs: []string{n1.ClientURL()}})
	if n4.Embedded() {
		t.Fatal("a -nats node embeds a server")
	}
	roundTrip(t, n4, n2)
}

// TestClusterPortTaken: an embedded server whose cluster port is taken
// does not start, and the error says why (it said only "did not start").
func TestClusterPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	was := startTimeout
	startTimeout = time.Second
	defer func() { startTimeout = was }()
	n, err := Start(Options{Name: "taken", Cluster: l.Addr().String()}, nil)
	if err == nil {
		n.Close()
		t.Fatal("an embedded server started on a taken cluster port")
	}
	if !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "router port") {
		t.Fatalf("error %q does not say the cluster port failed", err)
	}
}

func TestUnreachableThenBack(t *testing.T) {
	addr := relaytest.FreeAddr(t)
	changes := make(chan bool, 16)
	n := start(t, Options{Name: "client", URLs: []string{"nats://" + addr}, ReconnectWait: 50 * time.Millisecond})
	n.OnChange(func(up bool) { changes <- up })
	if n.Connected() {
		t.Fatal("connected to nothing")
	}
	if err := n.Conn.Publish("x", nil); err == nil {
		t.Fatal("a publish with NATS unreachable did not fail")
	}
	srv := start(t, Options{Name: "server", Listen: addr})
	select {
	case up := <-changes:
		if !up {
			t.Fatal("went down before up")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("never connected")
	}
	roundTrip(t, n, srv)
}

func TestCheck(t *testing.T) {
	for _, o := range []Options{
		{URLs: []string{"nats://x"}, Listen: "127.0.0.1:1"},
		{Creds: "f"},
		{URLs: []string{"nats://x"}, Creds: "a", NKey: "b"},
		{Routes: []string{"nats://127.0.0.1:1"}},
		{Listen: "nope"},
	} {
		if err := o.Check(); err == nil {
			t.Errorf("%+v: no error", o)
		} else {
			t.Log(err)
		}
	}
}

// With -nats-token, the embedded server's listener lets in only the
// clients that send it.
func TestToken(t *testing.T) {
	srv := start(t, Options{Name: "server", Listen: relaytest.FreeAddr(t), Token: "s3cret"})
	roundTrip(t, srv, srv)
	for _, opts := range [][]nats.Option{nil, {nats.Token("wrong")}} {
		if nc, err := nats.Connect(srv.ClientURL(), opts...); err == nil {
			nc.Close()
			t.Fatalf("a client with %d options got in", len(opts))
		}
	}
	n := start(t, Options{Name: "client", URLs: []string{srv.ClientURL()}, Token: "s3cret"})
	roundTrip(t, n, srv)
}
