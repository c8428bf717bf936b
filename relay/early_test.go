package relay

import (
	"context"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/relay/client"
)

// TestEarly: a connection opened before its key (client.Predial) is, once
// dialled, a client like Dial's: the relay registers its id, and it sends
// and receives. It is dialled once; Close after that changes nothing.
func TestEarly(t *testing.T) {
	r := newRelay(t, Limits{})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	watcher := dial(t, r, key(2))
	if err := watcher.Watch(ctx, key(1).ID()); err != nil {
		t.Fatal(err)
	}
	expectPresence(t, watcher, key(1).ID(), false)

	e := client.Predial(r.url)
	if e.URL() != r.url {
		t.Fatalf("URL %q, want %q", e.URL(), r.url)
	}
	c, err := e.Dial(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectPresence(t, watcher, key(1).ID(), true)
	exchange(t, c, watcher, "early")
	if _, err := e.Dial(ctx, key(1)); !errors.Is(err, client.ErrEarlyUsed) {
		t.Fatalf("second Dial: %v, want ErrEarlyUsed", err)
	}
	e.Close()
	exchange(t, c, watcher, "after Close")
}

// TestEarlyNotDialled: an Early closed before Dial cannot be dialled, and
// its connection ends (goleak: nothing of it is left running).
func TestEarlyNotDialled(t *testing.T) {
	r := newRelay(t, Limits{})
	e := client.Predial(r.url)
	<-e.Opened()
	e.Close()
	if _, err := e.Dial(t.Context(), key(1)); !errors.Is(err, client.ErrEarlyUsed) {
		t.Fatalf("Dial after Close: %v, want ErrEarlyUsed", err)
	}
	if cause := r.waitClosed(t, [32]byte{}); cause == nil {
		t.Fatal("the relay saw the connection end without a cause")
	}
}

// TestEarlyFails: an Early whose websocket did not open fails its Dial
// with the reason; one to a URL Dial refuses fails as Dial does. (A
// connection the relay cut before the key came, past its handshake
// timeout, fails the handshake as Dial's would: the same code.)
func TestEarlyFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	bad := client.Predial("ws://127.0.0.1:1/")
	if c, err := bad.Dial(ctx, key(1)); err == nil {
		c.Close()
		t.Fatal("Dial of a connection that did not open succeeded")
	}
	host := client.Predial("ws://exa mple/relay")
	if _, err := host.Dial(ctx, key(1)); !errors.Is(err, ErrHost) {
		t.Fatalf("bad host: %v, want ErrHost", err)
	}
}
