package room

import (
	"fmt"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestRelayRestart: the relay stops and starts again on the same address,
// twice: the messengers reconnect by themselves, and what each wrote
// while it was down reaches the other once it is back, once, in the same
// order on both.
func TestRelayRestart(t *testing.T) {
	r := relaytest.Run(t, relay.DefaultLimits())
	bob, ana := newNode(t, r.URL, "bob", 2), newNode(t, r.URL, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Restarts", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	for _, n := range []*node{bob, ana} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 1) }, state(task.ID, bob, ana))
	}
	// The task, Bob's announcement of Ana and her join.
	want := 3
	converged(t, task.ID, want, bob, ana)
	anaID, bobID := ana.ID(), bob.ID()
	var anaSent, bobSent []string
	for round := range 2 {
		r.Stop()
		for _, n := range []*node{bob, ana} {
			eventually(t, n.name+" sees the relay gone", func() bool { return n.io.RelayURL() == "" })
		}
		for i := range 3 {
			a, b := fmt.Sprintf("ana %d.%d", round, i), fmt.Sprintf("bob %d.%d", round, i)
			ana.send(task.ID, a, nil)
			bob.send(task.ID, b, nil)
			anaSent, bobSent = append(anaSent, a), append(bobSent, b)
		}
		r.Start()
		want += 6
		converged(t, task.ID, want, bob, ana)
		for _, c := range []struct {
			n    *node
			by   identity.ID
			sent []string
		}{{bob, anaID, anaSent}, {ana, bobID, bobSent}} {
			if _, got := c.n.chatsOf(task.ID, c.by); !slices.Equal(got, c.sent) {
				t.Fatalf("round %d: %s has %q, want %q", round, c.n.name, got, c.sent)
			}
		}
	}
	// And the port carries what is written after.
	ana.send(task.ID, "after", nil)
	converged(t, task.ID, want+1, bob, ana)
}
