//go:build !js

package room

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// receiptPageCount is how many receipt pages n wrote in task.
func (n *node) receiptPageCount(task TaskID) int {
	n.t.Helper()
	t := n.task(task)
	src := n.logSource(t.log)
	l, err := src.Len(testCtx(n.t))
	if err != nil {
		n.t.Fatal(err)
	}
	msgs, err := src.GetRange(testCtx(n.t), 0, l)
	if err != nil {
		n.t.Fatal(err)
	}
	count := 0
	for _, m := range msgs {
		if m.Type == TypeReceipt {
			count++
		}
	}
	return count
}

// pageScheduled reports whether n has a receipt page of task scheduled or
// being written.
func (n *node) pageScheduled(task TaskID) bool {
	t := n.task(task)
	n.mu.Lock()
	defer n.mu.Unlock()
	return t.pages.scheduled
}

// TestReceiptsThroughMirror: Bob writes and leaves; Ana, back while he is
// away, gets his messages from the mirror and reads them, and leaves; Bob,
// back, learns from her receipt page (through the mirror) that she holds
// and read them, though they were never online together. Then, both
// online, receipt pages stop: none answers another.
func TestReceiptsThroughMirror(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{})
	const every = 50 * time.Millisecond
	bob, ana, task := mirrorPair(t, url, []identity.ID{mir.ID()}, "Read while away", func(n *node) { n.receiptEvery = every })
	bobID, anaID := bob.ID(), ana.ID()
	toAna := bob.db.BookKey(pairName(bobID, anaID, task.ID))
	toBob := ana.db.BookKey(pairName(anaID, bobID, task.ID))
	mirrored := func(n *node, key identity.ID) func() bool {
		return func() bool {
			b, err := n.db.Get(testCtx(t), key)
			return err == nil && mir.Held(key) == b.Len()
		}
	}

	ana.stop()
	var sent []Message
	var want []string
	for i := range 3 {
		want = append(want, fmt.Sprint("read while you were away ", i))
		sent = append(sent, bob.send(task.ID, want[i], nil))
	}
	eventually(t, "the mirror holds Bob's book to Ana", mirrored(bob, toAna))
	bob.stop()

	ana.start()
	eventually(t, "Ana has Bob's messages from the mirror", func() bool {
		return slices.Equal(ana.chats(task.ID, bobID), want)
	}, state(task.ID, ana))
	got, _ := ana.chatsOf(task.ID, bobID)
	last := got[len(got)-1]
	if err := ana.MarkRead(task.ID, last.Ref()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana's receipt page says she read Bob's messages", func() bool {
		mi := ana.memberInfo(task.ID, bobID)
		return mi.ToldRead >= last.Head.Mid && mi.ToldReceived >= last.Head.Mid
	}, func() string { return fmt.Sprintf("Ana's view of Bob: %+v", ana.memberInfo(task.ID, bobID)) })
	eventually(t, "the mirror holds Ana's book to Bob", mirrored(ana, toBob))
	ana.stop()

	bob.start()
	eventually(t, "Bob learns Ana holds and read his messages", func() bool {
		mi := bob.memberInfo(task.ID, anaID)
		return mi.Received >= sent[2].Head.Mid && mi.Read >= sent[2].Head.Mid
	}, func() string { return fmt.Sprintf("Bob's view of Ana: %+v", bob.memberInfo(task.ID, anaID)) })
	if got := bob.chats(task.ID, bobID); !slices.Equal(got, want) {
		t.Fatalf("Bob's timeline shows his chats %q, want %q (receipt pages are not shown)", got, want)
	}
	// Reopened, with Ana still away: Bob finds her receipt page in his
	// copy of her book.
	bob.stop()
	bob.start()
	eventually(t, "Bob, reopened, still knows Ana read his messages", func() bool {
		return bob.memberInfo(task.ID, anaID).Read >= sent[2].Head.Mid
	}, func() string { return fmt.Sprintf("Bob's view of Ana: %+v", bob.memberInfo(task.ID, anaID)) })

	// Both online: the receipt pages each wrote are answered by wire
	// receipts, never by more pages.
	ana.start()
	eventually(t, "both online, each with the other's whole book", func() bool {
		return bob.memberInfo(task.ID, anaID).Online && ana.memberInfo(task.ID, bobID).Online &&
			bob.paired(task.ID, 1) && ana.paired(task.ID, 1)
	})
	// A receipt page scheduled while the other was away is written
	// ReceiptEvery later, maybe after both are online: counted before.
	eventually(t, "no receipt page scheduled", func() bool { return !bob.pageScheduled(task.ID) && !ana.pageScheduled(task.ID) })
	counts := func() [2]int { return [2]int{bob.receiptPageCount(task.ID), ana.receiptPageCount(task.ID)} }
	before := counts()
	// Nothing is awaited here: pages that do not come. 40 intervals give
	// a ping-pong the time for many rounds.
	for range 40 {
		time.Sleep(every)
	}
	after := counts()
	t.Logf("receipt pages (Bob, Ana): %v, then %v", before, after)
	if after != before || after[0] > 2 || after[1] > 3 {
		t.Fatalf("receipt pages (Bob, Ana): %v, then %v: want a few, then no more", before, after)
	}
	if mi := bob.memberInfo(task.ID, anaID); mi.Read < sent[2].Head.Mid {
		t.Fatalf("Bob's view of Ana went back: %+v", mi)
	}
}
