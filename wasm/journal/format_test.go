package journal_test

import (
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestGenesisEmptyMetaIsNull: no meta is CBOR null, in one form only. A
// genesis with an empty byte string as meta, even well signed, is refused;
// a book created with empty meta has null in its genesis.
func TestGenesisEmptyMetaIsNull(t *testing.T) {
	author, book := identity.New(seed(7)), identity.New(seed(8))
	name := "notes"
	unsigned := fzGenesisPage(author.ID(), book.ID(), name, []byte{}, nil)
	sig := author.Sign(append([]byte("taskmessenger/genesis/v1\n"), unsigned...))
	page := fzGenesisPage(author.ID(), book.ID(), name, []byte{}, sig)
	if _, err := journal.DecodeGenesis(page); !errors.Is(err, journal.ErrMalformed) || !errors.Is(err, journal.ErrBadGenesis) {
		t.Fatalf("genesis with meta as an empty byte string: %v, want ErrBadGenesis and ErrMalformed", err)
	}

	db := openDB(t, newStore(t), 1)
	b, err := db.Author(ctx, "empty meta", []byte{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Get(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := journal.DecodeGenesis(p)
	if err != nil {
		t.Fatal(err)
	}
	if g.Meta != nil || p[len(p)-2-64-1] != 0xf6 {
		t.Fatalf("genesis of a book with empty meta: meta %x, page %x", g.Meta, p)
	}
}
