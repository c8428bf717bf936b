package journal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestPreload: the stored books among the keys open with one read of the
// records (and one of each own book's hashes), after which opening them
// reads nothing; a key with no book is skipped and stays not found; a
// book deleted is not brought back.
func TestPreload(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	seed := identity.Seed{6}
	var own, other identity.ID
	{
		db, err := journal.Open(ctx, mem, seed, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := db.Author(ctx, "mine", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, []byte("one"), []byte("two")); err != nil {
			t.Fatal(err)
		}
		own = b.Key()
		ana, err := journal.Open(ctx, store.NewMemory(), identity.Seed{7}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := ana.Author(ctx, "hers", nil)
		if err != nil {
			t.Fatal(err)
		}
		other = ab.Key()
		if _, err := db.ReaderFrom(ctx, other, ana.ID()); err != nil {
			t.Fatal(err)
		}
	}
	st := &countingStore{Store: mem}
	db, err := journal.Open(ctx, st, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	missing := identity.New(identity.Seed{8}).ID()
	before := st.reads.Load()
	if err := db.Preload(ctx, []identity.ID{own, other, missing, own}); err != nil {
		t.Fatal(err)
	}
	if got := st.reads.Load() - before; got != 1 {
		t.Errorf("preload: %d store reads, want 1 (the records: the own book's record keeps its tree hashes)", got)
	}
	before = st.reads.Load()
	b, err := db.Author(ctx, "mine", nil)
	if err != nil || b.Key() != own || b.Len() != 3 {
		t.Fatalf("own book after preload: %v, %v", b, err)
	}
	if r, err := db.Get(ctx, other); err != nil || r.Key() != other {
		t.Fatalf("replica after preload: %v", err)
	}
	if got := st.reads.Load() - before; got != 0 {
		t.Errorf("opening preloaded books read the store %d times", got)
	}
	if _, err := db.Get(ctx, missing); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("a key with no book: %v, want ErrNotFound", err)
	}
	if _, err := db.DeleteBook(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := db.Preload(ctx, []identity.ID{other}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(ctx, other); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("a deleted book after preload: %v, want ErrNotFound", err)
	}
}
