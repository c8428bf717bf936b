package journal_test

import (
	"context"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

func TestDeleteBook(t *testing.T) {
	st := newStore(t)
	db := openDB(t, st, 1)
	gone, err := db.Author(ctx, "gone", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Append(ctx, pages(40, 2000, "gone")...); err != nil {
		t.Fatal(err)
	}
	kept, err := db.Author(ctx, "kept", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Append(ctx, pages(5, 100, "kept")...); err != nil {
		t.Fatal(err)
	}
	replica, err := db.Reader(ctx, identity.New(seed(7)).ID())
	if err != nil {
		t.Fatal(err)
	}
	keptBefore := bookSize(t, db, kept)
	size := bookSize(t, db, gone)
	if size < 40*2000 {
		t.Fatalf("BookSize = %d, want at least the pages' %d bytes", size, 40*2000)
	}
	var events []journal.Event
	defer db.Subscribe(func(ev journal.Event) {
		if ev.Type == journal.EventDelete {
			events = append(events, ev)
		}
	})()

	freed, err := db.DeleteBook(ctx, gone.Key())
	if err != nil || freed != size {
		t.Fatalf("DeleteBook = %d, %v; want %d freed", freed, err, size)
	}
	if len(events) != 1 || events[0].Book != gone.Key() || events[0].Name != "gone" {
		t.Fatalf("delete events = %+v", events)
	}
	if n := bookSize(t, db, gone); n != 0 {
		t.Fatalf("after DeleteBook: %d bytes left", n)
	}
	if _, err := db.Get(ctx, gone.Key()); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get of a deleted book: %v, want ErrNotFound", err)
	}
	if _, err := db.Lookup(ctx, "gone"); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("the name of a deleted book is still bound: %v", err)
	}
	if _, err := gone.Append(ctx, []byte("late")); !errors.Is(err, journal.ErrDeleted) {
		t.Fatalf("Append to a deleted book: %v, want ErrDeleted", err)
	}
	if n := bookSize(t, db, kept); n != keptBefore {
		t.Fatalf("the other book went from %d to %d bytes", keptBefore, n)
	}
	if _, err := db.DeleteBook(ctx, replica.Key()); err != nil {
		t.Fatalf("DeleteBook of a replica: %v", err)
	}
	if _, err := db.DeleteBook(ctx, gone.Key()); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("second DeleteBook: %v, want ErrNotFound", err)
	}
	if _, err := db.DeleteBook(ctx, db.Audit().Key()); !errors.Is(err, journal.ErrUnauthorized) {
		t.Fatalf("DeleteBook of the audit book: %v, want ErrUnauthorized", err)
	}

	// The profile opens again, with what was kept, and can author the
	// name again from page 0.
	db2 := openDB(t, st, 1)
	k2, err := db2.Author(ctx, "kept", nil)
	if err != nil || k2.Len() != 6 {
		t.Fatalf("kept book after reopen: %v, %v; want 6 pages", k2, err)
	}
	books, err := db2.Books(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bi := range books {
		if bi.Key == gone.Key() || bi.Key == replica.Key() {
			t.Fatalf("Books lists the deleted book %s", bi.Key.Short())
		}
	}
	again, err := db2.Author(ctx, "gone", nil)
	if err != nil || again.Len() != 1 {
		t.Fatalf("authoring a deleted name again: %v, %v", again, err)
	}
}

func bookSize(t *testing.T, db *journal.DB, b *journal.Book) int64 {
	t.Helper()
	n, err := db.BookSize(ctx, b.Key())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fullStore refuses every write once full is set, as a browser out of
// quota does.
type fullStore struct {
	store.Store
	full bool
}

func (s *fullStore) Write(ctx context.Context, b *store.Batch) error {
	if s.full {
		return store.ErrQuota
	}
	return s.Store.Write(ctx, b)
}

func TestQuotaReachesTheCaller(t *testing.T) {
	st := &fullStore{Store: newStore(t)}
	db := openDB(t, st, 1)
	b, err := db.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	before := storetest.Snapshot(t, st)
	st.full = true
	if _, err := b.Append(ctx, []byte("one more")); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Append on a full store: %v, want store.ErrQuota", err)
	}
	if _, err := db.Author(ctx, "new", nil); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Author on a full store: %v, want store.ErrQuota", err)
	}
	if after := storetest.Snapshot(t, st); after != before {
		t.Fatal("a refused write stored something")
	}
	// Space freed: writes go on, and the book is as it was.
	st.full = false
	if i, err := b.Append(ctx, []byte("one more")); err != nil || i != 1 {
		t.Fatalf("Append after space was freed = %d, %v; want 1", i, err)
	}
}
