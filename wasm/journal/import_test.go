package journal_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestImportAllOrNothing: an import whose last book conflicts with a book
// held leaves the store as it was, the books before it included; without
// the conflict, everything is stored in one write with its audit entry.
func TestImportAllOrNothing(t *testing.T) {
	// Bob's book, which Ana's other device replicates; and a second "notes"
	// of Ana's on that device, written apart from the first (a fork).
	bob := openDB(t, newStore(t), 2)
	bobs, _ := bob.Author(ctx, "bob's", nil)
	bobs.Append(ctx, pages(7, 40, "b")...)
	other := openDB(t, newStore(t), 1)
	otherNotes, _ := other.Author(ctx, "notes", nil)
	otherNotes.Append(ctx, pages(4, 40, "elsewhere")...)
	rep, _ := other.ReaderFrom(ctx, bobs.Key(), bob.ID())
	replicate(t, bobs, rep, 0, bobs.Len())
	ex, err := other.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Bob's book first, the conflicting notes last.
	var ordered []journal.ExportBook
	for _, eb := range ex.Books {
		if eb.Key == bobs.Key() {
			ordered = append([]journal.ExportBook{eb}, ordered...)
		} else if eb.Key == otherNotes.Key() {
			ordered = append(ordered, eb)
		}
	}
	if len(ordered) != 2 {
		t.Fatalf("export has %d of the two books", len(ordered))
	}
	ex.Books = ordered

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, db *journal.DB)
		want  error
	}{
		{"own book forked", func(t *testing.T, db *journal.DB) {
			notes, _ := db.Author(ctx, "notes", nil)
			notes.Append(ctx, pages(6, 40, "here")...)
		}, journal.ErrForked},
		{"own book longer and forked", func(t *testing.T, db *journal.DB) {
			notes, _ := db.Author(ctx, "notes", nil)
			notes.Append(ctx, pages(2, 40, "here")...)
		}, journal.ErrForked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			ana := openDB(t, st, 1)
			tc.setup(t, ana)
			var evs []journal.Event
			defer ana.Subscribe(func(e journal.Event) { evs = append(evs, e) })()
			before := snapshot(t, st)
			if _, err := ana.Import(ctx, ex); !errors.Is(err, tc.want) {
				t.Fatalf("import: %v, want %v", err, tc.want)
			}
			if snapshot(t, st) != before {
				t.Fatal("a refused import changed the store")
			}
			if len(evs) != 0 {
				t.Fatalf("a refused import reported %d events", len(evs))
			}
			if _, err := ana.Get(ctx, bobs.Key()); !errors.Is(err, journal.ErrNotFound) {
				t.Fatalf("Bob's book after a refused import: %v, want ErrNotFound", err)
			}
		})
	}

	// Without the conflict: both books, and one audit entry, in one write.
	st := newStore(t)
	ana := openDB(t, st, 1)
	auditLen := ana.Audit().Len()
	res, err := ana.Import(ctx, ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Own || !res[1].Own {
		t.Fatalf("import: %+v", res)
	}
	if n := ana.Audit().Len(); n != auditLen+1 {
		t.Fatalf("audit grew from %d to %d, want one entry", auditLen, n)
	}
	got, _ := ana.Get(ctx, bobs.Key())
	sameBooks(t, bobs, got)
	mine, _ := ana.Author(ctx, "notes", nil)
	sameBooks(t, otherNotes, mine)
	if _, err := mine.Append(ctx, []byte("after")); err != nil {
		t.Fatalf("restored book: %v", err)
	}
	// A reopened DB sees the same.
	again := openDB(t, st, 1)
	got2, _ := again.Get(ctx, bobs.Key())
	sameBooks(t, bobs, got2)
	if info := got2.Info(); !info.Verified || info.Writable {
		t.Fatalf("imported replica after reopening: %+v", info)
	}
}

// TestImportRefusesDuplicates: a book twice in one export is malformed.
func TestImportRefusesDuplicates(t *testing.T) {
	bob := openDB(t, newStore(t), 2)
	bobs, _ := bob.Author(ctx, "bob's", nil)
	bobs.Append(ctx, pages(3, 40, "b")...)
	ex, _ := bob.Export(ctx)
	ex.Books = append(ex.Books, ex.Books...)
	st := newStore(t)
	ana := openDB(t, st, 1)
	before := snapshot(t, st)
	if _, err := ana.Import(ctx, ex); !errors.Is(err, journal.ErrMalformed) {
		t.Fatalf("import of a book twice: %v, want ErrMalformed", err)
	}
	if snapshot(t, st) != before {
		t.Fatal("a refused import changed the store")
	}
}

// forgedBook is a one-page book with a hand-made genesis: author signs a
// genesis naming name for a book key of its choice (not derived from the
// name, as the journal's would be).
func forgedBook(t *testing.T, author, book *identity.Key, name string) journal.ExportBook {
	t.Helper()
	unsigned := fzGenesisPage(author.ID(), book.ID(), name, nil, nil)
	sig := author.Sign(append([]byte("taskmessenger/genesis/v1\n"), unsigned...))
	page := fzGenesisPage(author.ID(), book.ID(), name, nil, sig)
	h := journal.Head{Key: book.ID(), Length: 1, Root: tlog.RecordHash(page)}
	msg := append([]byte("taskmessenger/head/v1\n"), h.Key[:]...)
	msg = binary.BigEndian.AppendUint64(msg, h.Length)
	h.Sig = book.Sign(append(msg, h.Root[:]...))
	hb, err := journal.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return journal.ExportBook{Key: h.Key, Name: name, Author: author.ID(), Head: hb, Pages: [][]byte{page}}
}

// TestImportNameClaimedTwice: two books of one export that claim the same
// author-bound name: the second conflicts with the first, and neither is
// stored.
func TestImportNameClaimedTwice(t *testing.T) {
	mallory := identity.New(seed(9))
	name := mallory.ID().String() + "-x"
	ex := &journal.Export{Format: journal.ExportFormat, Version: 1, Profile: mallory.ID(), Books: []journal.ExportBook{
		forgedBook(t, mallory, identity.New(seed(10)), name),
		forgedBook(t, mallory, identity.New(seed(11)), name),
	}}
	st := newStore(t)
	ana := openDB(t, st, 1)
	before := snapshot(t, st)
	if _, err := ana.Import(ctx, ex); !errors.Is(err, journal.ErrUnauthorized) {
		t.Fatalf("import of two books claiming one name: %v, want ErrUnauthorized", err)
	}
	if snapshot(t, st) != before {
		t.Fatal("a refused import changed the store")
	}
	// One of them alone is fine.
	ex.Books = ex.Books[:1]
	if _, err := ana.Import(ctx, ex); err != nil {
		t.Fatal(err)
	}
	if k, err := ana.Lookup(ctx, name); err != nil || k != identity.New(seed(10)).ID() {
		t.Fatalf("name bound to %s, %v", k.Short(), err)
	}
}
