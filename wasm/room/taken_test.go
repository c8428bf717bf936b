package room

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestStoredWhileClosedIsTaken: a member's edit stored in Bob's replica
// but not yet read by his messenger when it closed (a tab closed or
// crashed between the write and the worker) is read when his messenger
// opens again, so the edit is applied. Before cursors (taken.go) the
// pages were in the book, the edited message showed, its edit never did.
func TestStoredWhileClosedIsTaken(t *testing.T) {
	bob, ana, task := pair(t)
	ctx := testCtx(t)
	msg := ana.send(task, "helo", nil)
	eventually(t, "bob has ana's message", func() bool { _, _, ok := bob.chat(task, msg.Ref()); return ok })
	bobID := bob.ID()
	bob.stop()
	if _, err := ana.Edit(ctx, task, msg.Ref(), "hello"); err != nil {
		t.Fatal(err)
	}
	ana.mu.Lock()
	out := ana.tasks[task].members[bobID].out
	ana.mu.Unlock()
	n := out.Len()
	storeWhileClosed(t, bob, ana.ID(), out)

	bob.start()
	eventually(t, "bob sees the edit", func() bool {
		got, v, _ := bob.chat(task, msg.Ref())
		return strings.Contains(string(got.Data), `"hello"`) && v.Edited != 0
	}, state(task, bob, ana))
	bob.mu.Lock()
	cur := bob.taken[out.Key()]
	bob.mu.Unlock()
	if cur != n {
		t.Errorf("bob's cursor of ana's book is at %d, want %d", cur, n)
	}
}

// TestUntaken: what the worker reads of an event of a member's book,
// from the book's cursor: pages below it dropped, a gap before the event
// read from the book, a gap too large or of pages not held left to the
// book's next opening, and a book with no cursor (paired before cursors)
// starting one.
func TestUntaken(t *testing.T) {
	bob, ana, task := pair(t)
	ctx := testCtx(t)
	var last Message
	for i := range 4 {
		last = ana.send(task, fmt.Sprint("m", i), nil)
	}
	eventually(t, "bob has ana's messages", func() bool { _, _, ok := bob.chat(task, last.Ref()); return ok })
	bob.mu.Lock()
	in := bob.tasks[task].members[ana.ID()].in
	bob.mu.Unlock()
	eventually(t, "bob took every page", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		return bob.taken[in.Key()] == in.Len()
	})
	n := in.Len()
	pages, err := in.GetRange(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(from, to uint64) journal.Event {
		return journal.Event{Type: journal.EventPut, Book: in.Key(), Index: from, Pages: pages[from:to]}
	}
	for _, c := range []struct {
		name      string
		cursor    uint64 // 0: none
		ev        journal.Event
		from, end uint64 // the pages left to read
		took      bool
	}{
		{"all taken", n, ev(2, n), 0, 0, false},
		{"the first taken", 3, ev(2, n), 3, n, true},
		{"in order", 3, ev(3, n), 3, n, true},
		{"a gap read from the book", 2, ev(4, n), 2, n, true},
		{"no cursor", 0, ev(3, n), 3, n, true},
	} {
		bob.mu.Lock()
		if c.cursor == 0 {
			delete(bob.taken, in.Key())
		} else {
			bob.taken[in.Key()] = c.cursor
		}
		bob.mu.Unlock()
		got, took := bob.untaken(ctx, in, c.ev)
		if took != c.took || (c.end > 0 && (got.Index != c.from || uint64(len(got.Pages)) != c.end-c.from)) || (c.end == 0 && len(got.Pages) != 0) {
			t.Errorf("%s: pages %d from %d, took %v; want [%d, %d), %v", c.name, len(got.Pages), got.Index, took, c.from, c.end, c.took)
			continue
		}
		for i, p := range got.Pages {
			if !bytes.Equal(p, pages[got.Index+uint64(i)]) {
				t.Errorf("%s: page %d is not the book's", c.name, got.Index+uint64(i))
			}
		}
	}
	// A gap of pages not held, and one past maxGap, are read as they
	// come, the cursor left where it is.
	for _, c := range []struct {
		name           string
		cursor, expect uint64
	}{{"a gap not held", n, n + 2}, {"a gap past maxGap", 1, maxGap + 2}} {
		bob.mu.Lock()
		bob.taken[in.Key()] = c.cursor
		bob.mu.Unlock()
		e := journal.Event{Type: journal.EventPut, Book: in.Key(), Index: c.expect, Pages: pages[1:2]}
		if got, took := bob.untaken(ctx, in, e); took || got.Index != c.expect || len(got.Pages) != 1 {
			t.Errorf("%s: pages %d from %d, took %v", c.name, len(got.Pages), got.Index, took)
		}
	}
	bob.mu.Lock()
	bob.taken[in.Key()] = n
	bob.mu.Unlock()
}

// TestStoredWhileClosedAfterFirstPage: a tab closed while a catch-up was
// being taken in (600 pages stored, none read by the worker) shows its
// first page at once when it opens again: the pages past the cursor are
// read for the worker in the background. Here the reads of the older
// pages are held: the page comes; once they go, every page is taken.
func TestStoredWhileClosedAfterFirstPage(t *testing.T) {
	bob, ana, task := pair(t)
	ctx := testCtx(t)
	bobID := bob.ID()
	bob.stop()
	texts := make([]string, 600)
	for i := range texts {
		texts[i] = fmt.Sprintf("line %d", i)
	}
	if _, err := ana.SendMany(ctx, task, texts); err != nil {
		t.Fatal(err)
	}
	ana.mu.Lock()
	out := ana.tasks[task].members[bobID].out
	ana.mu.Unlock()
	storeWhileClosed(t, bob, ana.ID(), out)

	held := &heldOldPages{Store: bob.st, book: out.Key(), below: out.Len() - 2*receiptScan, holding: make(chan struct{}), release: make(chan struct{})}
	bob.st = held
	defer held.let()
	bob.start()
	bob.showsNewest(task, texts[len(texts)-1], "the pages stored while closed to be read")
	held.let()
	eventually(t, "every page taken", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		return bob.taken[out.Key()] == out.Len()
	})
}

// storeWhileClosed stores at n the pages of out (a book of author to n)
// that n lacks, as replication would while n's worker is not running.
func storeWhileClosed(t *testing.T, n *node, author identity.ID, out *journal.Book) {
	t.Helper()
	ctx := testCtx(t)
	db, err := journal.Open(ctx, n.st, n.seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := db.ReaderFrom(ctx, out.Key(), author)
	if err != nil {
		t.Fatal(err)
	}
	from, end := in.Len(), out.Len()
	if from >= end {
		t.Fatalf("%s holds %d pages of a book of %d already", n.name, from, end)
	}
	up, err := out.MakeUpgrade(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := out.GetRange(ctx, from, end)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := out.RangeProof(ctx, from, end, end)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.AcceptHeadPages(ctx, up, from, pages, proof); err != nil {
		t.Fatal(err)
	}
}
