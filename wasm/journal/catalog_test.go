package journal_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestCatalog: Catalog lists what Books lists, books opened, created,
// grown and deleted since included, and reads the store only the first
// time.
func TestCatalog(t *testing.T) {
	ctx := context.Background()
	db, st, _, _ := reopenedProfile(t, identity.Seed{8}, map[string][]string{"a": {"a"}, "b": {"b"}, "c": {"c"}})
	same := func(step string) {
		t.Helper()
		reads := st.reads.Load()
		got, err := db.Catalog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.reads.Load() - reads; n != 0 {
			t.Fatalf("%s: Catalog read the store %d times", step, n)
		}
		want, err := db.Books(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(x, y journal.BookInfo) bool {
			return x.Key == y.Key && x.Name == y.Name && x.Author == y.Author && x.Writable == y.Writable && x.Head.Length == y.Head.Length
		}) {
			t.Fatalf("%s: Catalog %v, Books %v", step, names(got), names(want))
		}
	}
	reads := st.reads.Load()
	if _, err := db.Catalog(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load() - reads; n != 1 {
		t.Fatalf("the first Catalog read the store %d times, want 1", n)
	}
	same("again")
	a, err := db.Author(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, []byte("more")); err != nil {
		t.Fatal(err)
	}
	same("a book opened and grown")
	if _, err := db.Author(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	same("a book created")
	if _, err := db.DeleteBook(ctx, db.BookKey("b")); err != nil {
		t.Fatal(err)
	}
	same("a book deleted")
}

func names(infos []journal.BookInfo) []string {
	out := make([]string, len(infos))
	for i, bi := range infos {
		out[i] = fmt.Sprintf("%s/%d", bi.Name, bi.Head.Length)
	}
	return out
}
