package room

import (
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestStoredWhileClosedIsTaken: a member's edit stored in Bob's replica
// but not yet read by his messenger when it closed (a tab closed or
// crashed between the write and the worker) is read when his messenger
// opens again, so the edit is applied. Before cursors (taken.go) the
// pages were in the book, the edited message showed, its edit never did.
func TestStoredWhileClosedIsTaken(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	ctx := testCtx(t)
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "paired", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) }, state(task.ID, bob, ana))
	msg := ana.send(task.ID, "helo", nil)
	eventually(t, "bob has ana's message", func() bool { _, _, ok := bob.chat(task.ID, msg.Ref()); return ok })
	bobID := bob.ID()
	bob.stop()
	if _, err := ana.Edit(ctx, task.ID, msg.Ref(), "hello"); err != nil {
		t.Fatal(err)
	}
	ana.mu.Lock()
	out := ana.tasks[task.ID].members[bobID].out
	ana.mu.Unlock()

	// What replication would store while Bob's worker is not running.
	db, err := journal.Open(ctx, bob.st, bob.seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.ReaderFrom(ctx, out.Key(), ana.ID())
	if err != nil {
		t.Fatal(err)
	}
	from, n := in.Len(), out.Len()
	if from >= n {
		t.Fatalf("bob holds %d pages of ana's book of %d already", from, n)
	}
	up, err := out.MakeUpgrade(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := out.GetRange(ctx, from, n)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := out.RangeProof(ctx, from, n, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.AcceptHeadPages(ctx, up, from, pages, proof); err != nil {
		t.Fatal(err)
	}

	bob.start()
	eventually(t, "bob sees the edit", func() bool {
		got, v, _ := bob.chat(task.ID, msg.Ref())
		return strings.Contains(string(got.Data), `"hello"`) && v.Edited != 0
	}, state(task.ID, bob, ana))
	bob.mu.Lock()
	cur := bob.taken[out.Key()]
	bob.mu.Unlock()
	if cur != n {
		t.Errorf("bob's cursor of ana's book is at %d, want %d", cur, n)
	}
}
