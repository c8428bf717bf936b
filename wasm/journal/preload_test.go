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
	db, st, keys, other := reopenedProfile(t, identity.Seed{6}, map[string][]string{"mine": {"one", "two"}})
	own := keys["mine"]
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

// reopenedProfile stores a profile of seed with a book of each name in
// books, holding its pages, and a replica of another profile's book, as a
// tab leaves them; then opens it again on a store that counts its reads,
// with no book open but the audit. It returns the own books' keys by name
// and the replica's.
func reopenedProfile(t *testing.T, seed identity.Seed, books map[string][]string) (*journal.DB, *countingStore, map[string]identity.ID, identity.ID) {
	t.Helper()
	ctx := context.Background()
	mem := store.NewMemory()
	db, err := journal.Open(ctx, mem, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := make(map[string]identity.ID, len(books))
	for name, pages := range books {
		b, err := db.Author(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if _, err := b.Append(ctx, []byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		keys[name] = b.Key()
	}
	other, err := journal.Open(ctx, store.NewMemory(), identity.Seed{0xee}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hers, err := other.Author(ctx, "hers", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReaderFrom(ctx, hers.Key(), other.ID()); err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: mem}
	if db, err = journal.Open(ctx, st, seed, nil); err != nil {
		t.Fatal(err)
	}
	return db, st, keys, hers.Key()
}
