package vault_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// snapshot is every entry of a store, by table and key.
func snapshot(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range store.Tables {
		es, err := s.Scan(context.Background(), table, []byte{}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out[fmt.Sprintf("%s/%x", table, e.Key)] = string(e.Value)
		}
	}
	return out
}

// bobWithBooks is a profile with a "tasks" book of 3 pages and a "notes"
// book, and its export.
func bobWithBooks(t *testing.T, all stores) (*vault.Profile, *journal.Export) {
	t.Helper()
	ctx := context.Background()
	bob, err := vault.Open(ctx, "bob", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tasks", "notes"} {
		b, err := bob.DB.Author(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, []byte(`"one"`), []byte(`"two"`)); err != nil {
			t.Fatal(err)
		}
	}
	ex, err := bob.DB.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return bob, ex
}

// fresh opens a new profile as the messenger does: its audit book and an
// empty "tasks" book.
func fresh(t *testing.T, all stores, name string) *vault.Profile {
	t.Helper()
	p, err := vault.Open(context.Background(), name, all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DB.Author(context.Background(), "tasks", []byte(`{"app":"task-messenger"}`)); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	bob, ex := bobWithBooks(t, all)
	// Bob resets: a new browser profile of the same name, a new identity.
	delete(all, "bob")
	p := fresh(t, all, "bob")
	if p.ID == bob.ID {
		t.Fatal("the reset profile has the old id")
	}
	if ok, err := vault.Empty(ctx, p.DB); err != nil || !ok {
		t.Fatalf("Empty(fresh) = %v, %v", ok, err)
	}
	old := p.DB
	r, res, err := vault.Restore(ctx, p, bob.DB.Identity().Seed(), ex)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != bob.ID || r.DB.ID() != bob.ID || len(res) != 2 {
		t.Fatalf("restored id %s, %d books; want %s, 2", r.ID.Short(), len(res), bob.ID.Short())
	}
	// The old DB's writes to its books fail instead of writing beside the
	// new one (their records are gone).
	if b, err := old.Author(ctx, "tasks", nil); err != nil {
		t.Fatal(err)
	} else if _, err := b.Append(ctx, []byte(`"late"`)); err == nil {
		t.Fatal("the replaced DB still wrote its tasks book")
	}
	// Opened again, as after a reload: Bob's id and books, writable.
	again, err := vault.Open(ctx, "bob", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != bob.ID {
		t.Fatalf("reopened as %s, want %s", again.ID.Short(), bob.ID.Short())
	}
	tasks, err := again.DB.Author(ctx, "tasks", nil)
	if err != nil || tasks.Len() != 3 || tasks.Key() != bob.DB.BookKey("tasks") {
		t.Fatalf("tasks book after restore: %v, length %d", err, tasks.Len())
	}
	if _, err := tasks.Append(ctx, []byte(`"three"`)); err != nil {
		t.Fatalf("restored book refuses a write: %v", err)
	}
	infos, _ := again.DB.Books(ctx)
	for _, in := range infos {
		if in.Key != again.DB.Audit().Key() && in.Key != tasks.Key() && in.Key != again.DB.BookKey("notes") {
			t.Errorf("a book of the reset identity is left: %s %q", in.Key.Short(), in.Name)
		}
	}
}

func TestRestoreSameProfile(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	bob, ex := bobWithBooks(t, all)
	r, _, err := vault.Restore(ctx, bob, bob.DB.Identity().Seed(), ex)
	if err != nil || r != bob {
		t.Fatalf("Restore into the same profile = %v", err)
	}
}

// TestRestoreRefused: a restore that cannot be done writes nothing.
func TestRestoreRefused(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	bob, ex := bobWithBooks(t, all)
	seed := bob.DB.Identity().Seed()

	ana := fresh(t, all, "ana")
	notes, _ := ana.DB.Author(ctx, "notes", nil)
	if _, err := notes.Append(ctx, []byte(`"ana's"`)); err != nil {
		t.Fatal(err)
	}
	empty := fresh(t, all, "cat")
	tampered := *ex
	tampered.Books = append([]journal.ExportBook(nil), ex.Books...)
	for i, b := range tampered.Books {
		if b.Name == "notes" {
			pages := append([][]byte(nil), b.Pages...)
			pages[2] = []byte(`"TWO"`)
			tampered.Books[i].Pages = pages
		}
	}
	other := fresh(t, all, "dan")

	for _, c := range []struct {
		name string
		p    *vault.Profile
		seed func() [32]byte
		ex   *journal.Export
		want error
	}{
		{"into a profile with its own books", ana, func() [32]byte { return seed }, ex, vault.ErrNotEmpty},
		{"a seed of another profile", empty, func() [32]byte { return other.DB.Identity().Seed() }, ex, vault.ErrSeedMismatch},
		{"a tampered book", empty, func() [32]byte { return seed }, &tampered, journal.ErrBadProof},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, c.p.Store)
			_, _, err := vault.Restore(ctx, c.p, c.seed(), c.ex)
			if !errors.Is(err, c.want) {
				t.Fatalf("Restore = %v, want %v", err, c.want)
			}
			if after := snapshot(t, c.p.Store); !maps.Equal(before, after) {
				t.Fatal("a refused restore changed the store")
			}
		})
	}
	// A profile that only joined (a replica) is not empty either.
	eve := fresh(t, all, "eve")
	if _, err := eve.DB.Reader(ctx, bob.DB.BookKey("notes")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := vault.Empty(ctx, eve.DB); ok {
		t.Fatal("a profile holding a replica is empty")
	}
}

// racingStore runs race once, just before the first write that expects a
// book record: another writer on the store between Restore's reads and its
// write.
type racingStore struct {
	store.Store
	race func()
}

func (s *racingStore) Write(ctx context.Context, b *store.Batch) error {
	for _, c := range b.Conds {
		if c.Table == store.TableBooks && s.race != nil {
			race := s.race
			s.race = nil
			race()
			break
		}
	}
	return s.Store.Write(ctx, b)
}

// TestRestoreRace: a DB opened before the restore cannot write during it
// (the restore fences it first); a DB opened during it (a newer writer)
// makes the restore fail whole, and the profile stays as it was.
func TestRestoreRace(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	bob, ex := bobWithBooks(t, all)
	rs := &racingStore{Store: store.NewMemory()}
	p, err := vault.Open(ctx, "new", func(context.Context, string) (store.Store, error) { return rs, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := p.DB.Author(ctx, "tasks", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another DB on the same store (another tab) writes in between.
	other, err := journal.Open(ctx, rs.Store, p.DB.Identity().Seed(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A DB opened before the restore cannot write in between: the restore
	// fenced it.
	rs.race = func() {
		b, err := other.Author(ctx, "tasks", nil)
		if err == nil {
			_, err = b.Append(ctx, []byte(`"meanwhile"`))
		}
		if !errors.Is(err, journal.ErrStaleWriter) {
			t.Errorf("a write by a DB opened before the restore, during it: %v, want ErrStaleWriter", err)
		}
	}
	if _, _, err = vault.Restore(ctx, p, bob.DB.Identity().Seed(), ex); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	rs.race = nil

	// A DB opened during the restore (a newer writer) makes it fail and
	// write nothing.
	rs2 := &racingStore{Store: store.NewMemory()}
	p2, err := vault.Open(ctx, "new2", func(context.Context, string) (store.Store, error) { return rs2, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks2, err := p2.DB.Author(ctx, "tasks", nil)
	if err != nil {
		t.Fatal(err)
	}
	var newer *journal.DB
	rs2.race = func() {
		var err error
		if newer, err = journal.Open(ctx, rs2.Store, p2.DB.Identity().Seed(), nil); err != nil {
			t.Errorf("opening during the restore: %v", err)
		}
	}
	_, _, err = vault.Restore(ctx, p2, bob.DB.Identity().Seed(), ex)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Restore with a newer DB opened in between = %v, want ErrConflict", err)
	}
	b, err := newer.Author(ctx, "tasks", nil)
	if err != nil || b.Key() != tasks2.Key() {
		t.Fatalf("tasks after the refused restore: %v; want the profile as it was", err)
	}
	if _, err := b.Append(ctx, []byte(`"after"`)); err != nil {
		t.Fatalf("the newer DB after the refused restore: %v", err)
	}
	_ = tasks
}

// TestRestoreFences: every DB opened on the profile before the restore,
// the latest among them too, writes nothing after it, not even a new book
// (the journal's writer epoch only grows across a restore).
func TestRestoreFences(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	bob, ex := bobWithBooks(t, all)
	first := fresh(t, all, "new")
	p, err := vault.Open(ctx, "new", all.open, nil) // a second open: a later writer epoch
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := vault.Restore(ctx, p, bob.DB.Identity().Seed(), ex); err != nil {
		t.Fatal(err)
	}
	for _, db := range []*journal.DB{first.DB, p.DB} {
		db.Author(ctx, "late-book", nil) // may fail at any step; checked below
	}
	again, err := vault.Open(ctx, "new", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := again.DB.Books(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Author != bob.ID {
			t.Errorf("a DB opened before the restore wrote book %q after it", in.Name)
		}
	}
}
