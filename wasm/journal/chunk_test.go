package journal_test

import (
	"bytes"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// storedSpans returns the pages [first, last] of each chunk of book in st,
// in key order, and checks that no two overlap.
func storedSpans(t *testing.T, st store.Store, book identity.ID) [][2]uint64 {
	t.Helper()
	end := append(book[:len(book):len(book)], bytes.Repeat([]byte{0xff}, 9)...)
	es, err := st.Scan(ctx, store.TablePages, book[:], end, 0)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := journal.StoredPages(book, es)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(spans); i++ {
		if spans[i][0] <= spans[i-1][1] {
			t.Fatalf("chunks %v and %v overlap", spans[i-1], spans[i])
		}
	}
	return spans
}

// checkStored reads every page of book from a DB opened again on st (so
// from the store, not from memory), one by one and as one range, and
// proves each against the head.
func checkStored(t *testing.T, st store.Store, n byte, key identity.ID, want [][]byte) {
	t.Helper()
	db, err := journal.Open(ctx, st, seed(n), &journal.Options{RecentPages: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	head := b.Head()
	if head.Length != uint64(len(want)) {
		t.Fatalf("length %d, want %d", head.Length, len(want))
	}
	all, err := b.GetRange(ctx, 0, head.Length)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		p, err := b.Get(ctx, uint64(i))
		if err != nil {
			t.Fatalf("Get(%d): %v", i, err)
		}
		if !bytes.Equal(p, want[i]) || !bytes.Equal(all[i], want[i]) {
			t.Fatalf("page %d = %.12q / %.12q, want %.12q", i, p, all[i], want[i])
		}
		proof, err := b.Proof(ctx, uint64(i), head.Length)
		if err != nil {
			t.Fatalf("Proof(%d): %v", i, err)
		}
		if err := tlog.CheckRecord(proof, int64(head.Length), head.Root, int64(i), tlog.RecordHash(p)); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
	}
	for _, r := range [][2]uint64{{0, 1}, {3, 40}, {15, 17}, {head.Length - 1, head.Length}, {1, head.Length}} {
		got, err := b.GetRange(ctx, r[0], r[1])
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", r[0], r[1], err)
		}
		for i, p := range got {
			if !bytes.Equal(p, want[r[0]+uint64(i)]) {
				t.Fatalf("GetRange(%d, %d)[%d] differs", r[0], r[1], i)
			}
		}
	}
}

// A batch of small pages is stored in a few chunks; a page larger than a
// chunk is a chunk of its own; every page reads back and proves.
func TestChunks(t *testing.T) {
	st := newStore(t)
	db := openDB(t, st, 1)
	b, err := db.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := b.Get(ctx, 0)
	want := [][]byte{g}
	for _, batch := range [][][]byte{pages(100, 1024, "a"), pages(3, 40<<10, "big"), pages(1, 10, "one"), pages(200, 50, "small")} {
		if _, err := b.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		want = append(want, batch...)
	}
	spans := storedSpans(t, st, b.Key())
	if len(spans) > 20 {
		t.Fatalf("%d pages in %d chunks: %v", len(want), len(spans), spans)
	}
	for _, s := range spans {
		if s[1]-s[0] >= 64 {
			t.Fatalf("a chunk of %d pages", s[1]-s[0]+1)
		}
		if s[0] <= 103 && s[1] >= 101 && s[1] != s[0] { // pages 101-103 are of 40 KiB
			t.Fatalf("a page of 40 KiB shares chunk %v", s)
		}
	}
	checkStored(t, st, 1, b.Key(), want)
}

// A replica that gets a range, then one around it, writes only the pages
// it lacks: no chunk lies inside another, and every page reads back.
func TestChunksReplicaOverlap(t *testing.T) {
	ana := openDB(t, newStore(t), 1)
	bst := newStore(t)
	bob, err := journal.Open(ctx, bst, seed(2), &journal.Options{RecentPages: 1})
	if err != nil {
		t.Fatal(err)
	}
	book := taskBook(t, ana, bob)
	book.Append(ctx, pages(299, 100, "a")...)
	rep, _ := bob.Reader(ctx, book.Key())
	replicate(t, book, rep, 100, 110)
	replicate(t, book, rep, 105, 150)
	replicate(t, book, rep, 0, 300)
	replicate(t, book, rep, 0, 300)
	spans := storedSpans(t, bst, book.Key())
	if spans[0][0] != 0 || spans[len(spans)-1][1] != 299 {
		t.Fatalf("chunks %v", spans)
	}
	want, _ := book.GetRange(ctx, 0, 300)
	checkStored(t, bst, 2, book.Key(), want)
}

// A book exported and imported into a replica holding part of it is
// stored without overlapping chunks.
func TestChunksImportOverHeld(t *testing.T) {
	ana := openDB(t, newStore(t), 1)
	bst := newStore(t)
	bob := openDB(t, bst, 2)
	book := taskBook(t, ana, bob)
	book.Append(ctx, pages(150, 100, "a")...)
	rep, _ := bob.Reader(ctx, book.Key())
	replicate(t, book, rep, 40, 60)
	ex, err := ana.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Import(ctx, ex); err != nil {
		t.Fatal(err)
	}
	storedSpans(t, bst, book.Key())
	want, _ := book.GetRange(ctx, 0, book.Len())
	checkStored(t, bst, 2, book.Key(), want)
}
