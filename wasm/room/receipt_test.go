package room

import (
	"fmt"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// memberInfo is peer's entry in n's members of task.
func (n *node) memberInfo(task TaskID, peer identity.ID) MemberInfo {
	n.t.Helper()
	ms, err := n.Members(task)
	if err != nil {
		n.t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(mi MemberInfo) bool { return mi.ID == peer })
	if i < 0 {
		n.t.Fatalf("%s is not a member", peer.Short())
	}
	return ms[i]
}

// TestReceipts: Bob learns how far Ana holds and read his messages, from
// her receipts: as they arrive, as she reads them, and when she comes back
// online after he wrote while she was away.
func TestReceipts(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Receipts", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	var sent []Message
	for i := range 3 {
		sent = append(sent, bob.send(task.ID, fmt.Sprint("m", i), nil))
	}
	at := func(received, read uint64) func() bool {
		return func() bool {
			mi := bob.memberInfo(task.ID, ana.ID())
			return mi.Received == received && mi.Read == read
		}
	}
	info := func() string { return fmt.Sprintf("Bob's view of Ana: %+v", bob.memberInfo(task.ID, ana.ID())) }
	eventually(t, "Ana's receipt of the three", at(sent[2].Head.Mid, 0), info)

	if err := ana.MarkRead(task.ID, sent[1].Ref()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana read the second", at(sent[2].Head.Mid, sent[1].Head.Mid), info)
	if err := ana.MarkRead(task.ID, sent[0].Ref()); err != nil { // an older one: nothing moves back
		t.Fatal(err)
	}

	// Away, then back: Bob learns it on the port that opens.
	ana.stop()
	last := bob.send(task.ID, "while away", nil)
	ana.start()
	eventually(t, "Ana's receipt after she came back", at(last.Head.Mid, sent[1].Head.Mid), info)
	if err := ana.MarkRead(task.ID, Ref{By: identity.New(identity.Seed{9}).ID(), Mid: 1}); err == nil {
		t.Fatal("a read mark of a stranger's message was taken")
	}
}
