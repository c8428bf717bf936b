package relaytest_test

import (
	"context"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestRestart: a stopped relay drops its clients and refuses dials; started
// again, it takes them on the same URL.
func TestRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := relaytest.Run(t, relay.DefaultLimits())
	key := identity.New(identity.Seed{1})
	c, err := relay.Dial(ctx, r.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.Stop()
	for range c.Events() { // drained until the connection ends
	}
	if c.Err() == nil {
		t.Fatal("the client's connection outlived the relay")
	}
	if _, err := relay.Dial(ctx, r.URL, key); err == nil {
		t.Fatal("a stopped relay took a dial")
	}
	r.Start()
	c2, err := relay.Dial(ctx, r.URL, key)
	if err != nil {
		t.Fatalf("dial after Start: %v", err)
	}
	c2.Close()
}
