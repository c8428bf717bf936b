package journal

import (
	"context"
	"fmt"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestBookSigners: a book's key is derived once per DB and is the one
// Derive gives; the keys kept are bounded (names may come from peers).
func TestBookSigners(t *testing.T) {
	ctx := context.Background()
	seed := identity.Seed{5}
	db, err := Open(ctx, store.NewMemory(), seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := identity.New(seed).Derive("book", "notes")
	if b.Key() != want.ID() || db.BookKey("notes") != want.ID() {
		t.Fatalf("book key %s, BookKey %s, want %s", b.Key().Short(), db.BookKey("notes").Short(), want.ID().Short())
	}
	if db.bookSigner("notes") != b.signer {
		t.Error("the book's key derived again")
	}
	for i := range signersMax + 10 {
		db.BookKey(fmt.Sprint("name-", i))
		if n := len(db.signers); n > signersMax {
			t.Fatalf("%d book keys kept, at most %d", n, signersMax)
		}
	}
}
