package journal_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// pageSeeks counts the reads of the pages table by Seek: how an own book
// reads its tree's newest hashes when its record does not keep them.
type pageSeeks struct {
	store.Store
	n atomic.Int64
}

func (s *pageSeeks) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	if table == store.TablePages {
		s.n.Add(1)
	}
	return s.Store.Seek(ctx, table, end, keys...)
}

// TestOpenFrontierFromRecord: an own book's record keeps the tree hashes
// its next append extends, so opening the book reads nothing of its pages;
// appends after such an open extend the same tree (an upgrade proof from
// the head before verifies). A record without them (an older build's), or
// with a hash that does not give the head's root, has the book read them
// from its pages, as before.
func TestOpenFrontierFromRecord(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	seed := identity.Seed{31}
	db, err := journal.Open(ctx, mem, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := b.Append(ctx, []byte(fmt.Sprint("page ", i))); err != nil {
			t.Fatal(err)
		}
	}
	batch := make([][]byte, 300)
	for i := range batch {
		batch[i] = []byte(fmt.Sprint("batch ", i))
	}
	if _, err := b.Append(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	head := b.Head()

	// open opens the profile again and the book in it, counting the
	// book's reads of its pages.
	open := func() (*journal.Book, int64) {
		t.Helper()
		st := &pageSeeks{Store: mem}
		db, err := journal.Open(ctx, st, seed, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.n.Store(0)
		b, err := db.Author(ctx, "notes", nil)
		if err != nil {
			t.Fatal(err)
		}
		return b, st.n.Load()
	}
	// appendChecked appends a page to b and checks the new head against
	// the one before with an upgrade proof.
	appendChecked := func(b *journal.Book, page string) {
		t.Helper()
		prev := b.Head()
		if _, err := b.Append(ctx, []byte(page)); err != nil {
			t.Fatal(err)
		}
		h := b.Head()
		up, err := b.MakeUpgrade(ctx, prev.Length)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(up.Proof, int64(h.Length), h.Root, int64(prev.Length), prev.Root); err != nil {
			t.Fatalf("after %s: head %d does not extend head %d: %v", page, h.Length, prev.Length, err)
		}
	}

	b2, seeks := open()
	if seeks != 0 {
		t.Errorf("opening the book read its pages %d times; its record keeps its tree's newest hashes", seeks)
	}
	if h := b2.Head(); h.Length != head.Length || h.Root != head.Root {
		t.Fatalf("head %d after opening, want %d", b2.Head().Length, head.Length)
	}
	appendChecked(b2, "after an open from the record")

	for _, c := range []struct {
		name   string
		change func(map[any]any)
	}{
		{"without hashes", func(rec map[any]any) { delete(rec, uint64(10)) }},
		{"with a wrong hash", func(rec map[any]any) {
			hs := rec[uint64(10)].([]any)
			h := append([]byte(nil), hs[0].([]byte)...)
			h[0] ^= 1
			hs[0] = h
		}},
		{"with a hash too few", func(rec map[any]any) {
			hs := rec[uint64(10)].([]any)
			rec[uint64(10)] = hs[1:]
		}},
	} {
		key := b2.Key()
		vs, err := mem.Get(ctx, store.TableBooks, key[:])
		if err != nil {
			t.Fatal(err)
		}
		var rec map[any]any
		if err := journal.Unmarshal(vs[0], &rec); err != nil {
			t.Fatal(err)
		}
		if _, ok := rec[uint64(10)]; !ok {
			t.Fatalf("%s: the record keeps no hashes to change", c.name)
		}
		c.change(rec)
		v, err := journal.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var w store.Batch
		w.Put(store.TableBooks, key[:], v)
		if err := mem.Write(ctx, &w); err != nil {
			t.Fatal(err)
		}
		want := b2.Head()
		b3, seeks := open()
		if seeks == 0 {
			t.Errorf("%s: opening the book read nothing of its pages", c.name)
		}
		if h := b3.Head(); h.Length != want.Length || h.Root != want.Root {
			t.Fatalf("%s: head %d after opening, want %d", c.name, b3.Head().Length, want.Length)
		}
		appendChecked(b3, "after an open "+c.name)
		b2 = b3
	}
}
