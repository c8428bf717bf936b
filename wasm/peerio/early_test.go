package peerio_test

import (
	"errors"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/client"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
)

// watch returns a relay client at url told of id's comings and goings,
// having been told it is offline.
func watch(t *testing.T, url string, id identity.ID) *relay.Client {
	t.Helper()
	w, err := relay.Dial(ctx(t), url, identity.New(identity.Seed{99}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Watch(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	expectOnline(t, w, id, false)
	return w
}

func expectOnline(t *testing.T, w *relay.Client, id identity.ID, online bool) {
	t.Helper()
	select {
	case ev := <-w.Events():
		if ev.Type != relay.FramePresence || ev.From != id || ev.Online != online {
			t.Fatalf("watcher got %+v, want %s online=%v", ev, id.Short(), online)
		}
	case <-ctx(t).Done():
		t.Fatalf("watcher: no presence of %s", id.Short())
	}
}

// TestEarly: an IO given a relay connection already opening
// (Config.Early) goes online on it, not on a second one (the relay takes
// three connections: the watcher's, Ana's and Bob's), and ports open to
// it and carry messages.
func TestEarly(t *testing.T) {
	url := relaytest.Start(t, relay.Limits{MaxConns: 3})
	w := watch(t, url, identity.New(identity.Seed{2}).ID())
	ana := newPeer(t, url, "ana", 1)
	ana.online(t)
	bob := newPeerWith(t, "bob", 2, peerio.Config{Relay: url, Logger: quiet, Retry: 10 * time.Millisecond, Early: client.Predial(url)})
	bob.online(t)
	expectOnline(t, w, bob.ID(), true)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	pb := bob.accept(t)
	exchange(t, pa, pb, []byte("hello bob"))
	exchange(t, pb, pa, []byte("hello ana"))
	bob.Close()
	expectOnline(t, w, bob.ID(), false)
}

// TestEarlyFailed: an early connection that did not open (the relay was
// down then) is no loss: On dials again.
func TestEarlyFailed(t *testing.T) {
	r := relaytest.Run(t, relay.DefaultLimits())
	r.Stop()
	early := client.Predial(r.URL)
	<-early.Opened()
	r.Start()
	ana := newPeer(t, r.URL, "ana", 1)
	ana.online(t)
	bob := newPeerWith(t, "bob", 2, peerio.Config{Relay: r.URL, Logger: quiet, Retry: 10 * time.Millisecond, Early: early})
	bob.online(t)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, pa, bob.accept(t), []byte("after all"))
}

// TestEarlyGivenUp: an IO closed before On gives its early connection up
// (closed: package relay's TestEarlyNotDialled), as does one for another
// relay than Config.Relay, at New.
func TestEarlyGivenUp(t *testing.T) {
	url := startRelay(t)
	early := client.Predial(url)
	bob := newPeerWith(t, "bob", 2, peerio.Config{Relay: url, Logger: quiet, Early: early})
	bob.Close()
	if _, err := early.Dial(ctx(t), identity.New(identity.Seed{2})); !errors.Is(err, client.ErrEarlyUsed) {
		t.Fatalf("an IO closed before On: its early connection's Dial %v, want ErrEarlyUsed (given up)", err)
	}

	other := client.Predial(startRelay(t))
	newPeerWith(t, "ana", 1, peerio.Config{Relay: url, Logger: quiet, Early: other})
	if _, err := other.Dial(ctx(t), identity.New(identity.Seed{1})); !errors.Is(err, client.ErrEarlyUsed) {
		t.Fatalf("an early connection to another relay: Dial %v, want ErrEarlyUsed (given up)", err)
	}
}
