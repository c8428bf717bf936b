package room

import (
	"errors"
	"strings"
	"testing"
)

// TestRemoveMember: the creator removes Carl. Everyone's timeline says so,
// Carl's task says he was removed and refuses his writes; the secret
// rotates, so a message Ana writes after is unreadable with everything
// Carl holds while Bob reads it; Carl's messages from before stay; a
// member who joins later reads it all. Only the creator removes.
func TestRemoveMember(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task, err := bob.CreateTask(testCtx(t), "Team", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	carl.join(ana, task.ID) // Carl learns the creator from Ana
	for _, n := range []*node{bob, ana, carl} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana, carl))
	}
	carl.send(task.ID, "carl before", nil)
	converged(t, task.ID, 6, bob, ana, carl)

	if err := ana.RemoveMember(testCtx(t), task.ID, carl.ID()); !errors.Is(err, ErrNotCreator) {
		t.Fatalf("Ana removes Carl: %v, want ErrNotCreator", err)
	}
	if err := carl.RemoveMember(testCtx(t), task.ID, ana.ID()); !errors.Is(err, ErrNotCreator) {
		t.Fatalf("Carl removes Ana: %v, want ErrNotCreator", err)
	}
	if err := bob.RemoveMember(testCtx(t), task.ID, carl.ID()); err != nil {
		t.Fatal(err)
	}
	removed := func(n *node) bool {
		ms, _ := n.Members(task.ID)
		for _, mi := range ms {
			if mi.ID == carl.ID() {
				return mi.Removed
			}
		}
		return false
	}
	eventually(t, "Ana removes Carl and has the next secret", func() bool {
		return removed(ana) && ana.info(ana.task(task.ID)).Epoch == 1
	}, state(task.ID, bob, ana, carl))
	eventually(t, "Carl's task says he was removed", func() bool {
		by := carl.info(carl.task(task.ID)).RemovedBy
		return by != nil && *by == bob.ID()
	}, state(task.ID, bob, ana, carl))
	if _, err := carl.Send(testCtx(t), task.ID, "still here?", nil); !errors.Is(err, ErrRemoved) {
		t.Fatalf("Carl writes after his removal: %v, want ErrRemoved", err)
	}
	for _, n := range []*node{bob, ana, carl} {
		found := false
		for _, m := range n.timeline(task.ID) {
			found = found || m.Type == TypeRemove && m.Head.By == bob.ID() && strings.Contains(string(m.Data), carl.ID().String())
		}
		if !found {
			t.Fatalf("%s's timeline does not say Bob removed Carl", n.name)
		}
	}

	ana.send(task.ID, "after removal", nil)
	eventually(t, "Bob reads Ana's message", func() bool { return bob.hasText(task.ID, "after removal") }, state(task.ID, bob, ana))
	if !ana.hasText(task.ID, "carl before") || !bob.hasText(task.ID, "carl before") {
		t.Fatal("Carl's message from before his removal is gone")
	}
	// Ana's message, as Bob holds it: Carl's secrets do not open it.
	in := bob.inBooks(bob.task(task.ID), ana.ID())[0]
	page, err := in.book.Get(testCtx(t), in.book.Len()-1)
	if err != nil {
		t.Fatal(err)
	}
	carlSeal := carl.sealOf(carl.task(task.ID), in.key)
	if msg, err := carlSeal.decode(page, ana.ID(), in.book.Len()-1, 0); err == nil || msg.Type != TypeInvalid {
		t.Fatalf("Carl opens Ana's message after his removal: %+v", msg)
	}
	if msg, err := bob.sealOf(bob.task(task.ID), in.key).decode(page, ana.ID(), in.book.Len()-1, 0); err != nil || !strings.Contains(string(msg.Data), "after removal") {
		t.Fatalf("Bob opens it: %+v, %v", msg, err)
	}
	if carl.hasText(task.ID, "after removal") {
		t.Fatal("Carl has Ana's message")
	}
	for _, pages := range allPages(t, carl) {
		for i, p := range pages {
			if i > 0 {
				if plain, err := carlSeal.open(uint64(i), p); err == nil && strings.Contains(string(plain), "after removal") {
					t.Fatal("a page Carl holds opens to Ana's message")
				}
			}
		}
	}

	// Carl stays removed across a restart; Dave, joining later, reads all.
	carl.stop()
	carl.start()
	if by := carl.info(carl.task(task.ID)).RemovedBy; by == nil {
		t.Fatal("Carl's removal is forgotten after a restart")
	}
	dave := newNode(t, url, "dave", 4)
	dave.join(bob, task.ID)
	eventually(t, "Dave reads Ana's message, and does not take Carl", func() bool {
		return dave.hasText(task.ID, "after removal") && removed(dave)
	}, state(task.ID, bob, ana, dave))
}
