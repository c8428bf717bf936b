package room

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
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

// TestAllowedMemberRemoves: a member the creator allowed removes another;
// everyone acts on it, and the creator makes the next secret. A member
// not allowed cannot remove, nor remove the creator.
func TestAllowedMemberRemoves(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task := threeMembers(t, bob, ana, carl)
	if err := ana.RemoveMember(testCtx(t), task, carl.ID()); !errors.Is(err, ErrNotCreator) {
		t.Fatalf("Ana removes before she is allowed: %v", err)
	}
	if err := ana.AllowRemoving(testCtx(t), task, carl.ID()); err == nil {
		t.Fatal("Ana, not the creator, allows Carl")
	}
	if err := bob.AllowRemoving(testCtx(t), task, ana.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana knows she may remove", func() bool { return ana.mayRemove(task) }, state(task, bob, ana, carl))
	if err := ana.RemoveMember(testCtx(t), task, bob.ID()); err == nil {
		t.Fatal("Ana removes the creator")
	}
	if err := ana.RemoveMember(testCtx(t), task, carl.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Bob removes Carl and makes the next secret, which Ana gets", func() bool {
		ms, _ := bob.Members(task)
		gone := false
		for _, mi := range ms {
			gone = gone || mi.ID == carl.ID() && mi.Removed
		}
		return gone && bob.info(bob.task(task)).Epoch == 1 && ana.info(ana.task(task)).Epoch == 1
	}, state(task, bob, ana, carl))
	removedBy(t, carl, task, ana, state(task, bob, ana, carl))
}

// TestRemovalReadBeforeAllow: Carl reads Ana's removal of him before
// Bob's "allow" of Ana (their books come apart): he keeps it as a claim
// and, once he reads the allow, is removed as at every other member.
func TestRemovalReadBeforeAllow(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	carl, held := newHeldNode(t, url, "carl", 3)
	task := threeMembers(t, bob, ana, carl)

	var bobs []identity.ID
	for _, bi := range bob.taskBookKeys(t, task) {
		if bi.Writable {
			bobs = append(bobs, bi.Key)
		}
	}
	var mu sync.Mutex
	read := false // Carl read Ana's removal
	unsub := carl.Subscribe(func(ev Event) {
		if ev.Type == EventMessage && ev.Message != nil && ev.Message.Type == TypeRemove && ev.Message.Head.By == ana.ID() {
			mu.Lock()
			read = true
			mu.Unlock()
		}
	})
	defer unsub()
	held.hold(bobs...) // Bob's pages wait at Carl: his allow comes last

	if err := bob.AllowRemoving(testCtx(t), task, ana.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana knows she may remove", func() bool { return ana.mayRemove(task) })
	if err := ana.RemoveMember(testCtx(t), task, carl.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Carl reads Ana's removal", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return read
	})
	if by := carl.info(carl.task(task)).RemovedBy; by != nil {
		t.Fatalf("Carl removed by %s before he read Bob's allow", by.Short())
	}
	held.release()
	removedBy(t, carl, task, ana, state(task, bob, ana, carl))
}

// TestClaimSettledAtOpen: a profile that stopped between its record of
// an allow and that of the removal claimed before it takes the removal
// when it opens again.
func TestClaimSettledAtOpen(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task := threeMembers(t, bob, ana, carl)
	// What Carl wrote before he stopped: Ana's removal of him, claimed,
	// then Bob's allow of Ana, and nothing after.
	for _, r := range []record{{Op: opClaim, Task: task, Peer: carl.ID(), By: ana.ID()}, {Op: opAllow, Task: task, Peer: ana.ID()}} {
		if err := carl.writeRecord(testCtx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	if by := carl.info(carl.task(task)).RemovedBy; by != nil {
		t.Fatal("records written, not applied, removed Carl")
	}
	carl.stop()
	carl.start()
	if by := carl.info(carl.task(task)).RemovedBy; by == nil || *by != ana.ID() {
		t.Fatalf("Carl's claim not taken at open: removed by %v", by)
	}
}

// removedBy waits for n's task to say by removed it.
func removedBy(t *testing.T, n *node, task TaskID, by *node, state func() string) {
	t.Helper()
	eventually(t, n.name+"'s task says "+by.name+" removed it", func() bool {
		got := n.info(n.task(task)).RemovedBy
		return got != nil && *got == by.ID()
	}, state)
}

// mayRemove says whether n knows it may remove members of task.
func (n *node) mayRemove(task TaskID) bool {
	tk := n.task(task)
	n.mu.Lock()
	defer n.mu.Unlock()
	return tk.removers[n.ID()]
}
