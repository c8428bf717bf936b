package journal_test

import (
	"bytes"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestWriting: every append after the genesis is told to the Writing hooks
// before it is stored, with the head and proof a replica level with the
// book previews it with; it is the append the book then holds. An append
// whose write fails was told and is not in the book: the next one signs
// another head at the same length, and a replica that previewed the first
// stores the second.
func TestWriting(t *testing.T) {
	ana, bob, book, rep, push := pushedBook(t)
	var pend []*journal.Pending
	defer ana.Writing(func(p *journal.Pending) { pend = append(pend, p) })()
	previewed := 0
	defer bob.Verified(func(journal.Event) { previewed++ })()
	up, ps, proof := push(0)
	if _, err := rep.AcceptHeadPages(ctx, up, 0, ps, proof); err != nil {
		t.Fatal(err)
	}
	if len(pend) != 0 {
		t.Fatalf("the genesis was told: %+v", pend)
	}
	other, err := ana.Author(ctx, "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	pend = nil
	// Lengths across many tree shapes, single pages and runs, and an
	// AppendMany of two books.
	for i := range 70 {
		n := 1 + i%3
		start := book.Len()
		if i%10 == 9 {
			if _, err := ana.AppendMany(ctx, []journal.BookAppend{{Book: book, Pages: pages(n, 40, "m")}, {Book: other, Pages: pages(1, 40, "o")}}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := book.Append(ctx, pages(n, 40, "p")...); err != nil {
			t.Fatal(err)
		}
		var p *journal.Pending
		for _, q := range pend {
			if q.Book == book.Key() {
				p = q
			}
		}
		if p == nil || p.Start != start || len(p.Pages) != n {
			t.Fatalf("append %d at %d: told %+v", i, start, pend)
		}
		if h := book.Head(); p.Head.Length != h.Length || p.Head.Root != h.Root || !bytes.Equal(p.Head.Sig, h.Sig) {
			t.Fatalf("append %d: the head told is not the head stored", i)
		}
		stored, err := book.GetRange(ctx, start, start+uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		for j := range stored {
			if !bytes.Equal(stored[j], p.Pages[j]) {
				t.Fatalf("append %d: page %d told is not the page stored", i, j)
			}
		}
		before := previewed
		if told, err := rep.Preview(&journal.Upgrade{Head: p.Head, From: start}, start, p.Pages, &p.Proof); !told || err != nil || previewed != before+1 {
			t.Fatalf("append %d at %d: the pending pages do not preview: %v", i, start, err)
		}
		up, ps, proof := push(start)
		if _, err := rep.AcceptHeadPages(ctx, up, start, ps, proof); err != nil {
			t.Fatal(err)
		}
		pend = nil
	}
}

// TestWritingFailed: a pending append whose write fails binds the author to
// nothing: the replica that previewed it takes the other head signed at
// that length, with no fork.
func TestWritingFailed(t *testing.T) {
	mem := store.NewMemory()
	fs := &failingStore{Store: mem, ok: 100}
	ana, bob := openDB(t, fs, 1), openDB(t, store.NewMemory(), 2)
	book, err := ana.Author(ctx, "failing", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bob.Reader(ctx, book.Key())
	if err != nil {
		t.Fatal(err)
	}
	replicate(t, book, rep, 0, book.Len())
	var told *journal.Pending
	defer ana.Writing(func(p *journal.Pending) {
		if told == nil {
			told = p
		}
	})()
	defer bob.Verified(func(journal.Event) {})()
	fs.ok = 0
	if _, err := book.Append(ctx, []byte("lost")); err == nil {
		t.Fatal("append on a failing store succeeded")
	}
	if told == nil || book.Len() != 1 {
		t.Fatalf("told %v, length %d", told, book.Len())
	}
	if ok, err := rep.Preview(&journal.Upgrade{Head: told.Head, From: 1}, 1, told.Pages, &told.Proof); !ok || err != nil {
		t.Fatalf("the pending page does not preview: %v", err)
	}
	fs.ok = 100
	if _, err := book.Append(ctx, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if told.Head.Root == book.Head().Root {
		t.Fatal("the same head signed twice")
	}
	replicate(t, book, rep, 1, 2)
	if got, err := rep.Get(ctx, 1); err != nil || string(got) != "kept" {
		t.Fatalf("replica holds %q, %v", got, err)
	}
	if rep.Info().Forked {
		t.Fatal("a pending head held against the author: forked")
	}
}
