package replication

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestReadUpTo: readUpTo returns what reading the whole range and cutting
// it to the byte budget returns, for pages of mixed sizes, any range and
// budgets from below one page to above the range.
func TestReadUpTo(t *testing.T) {
	ctx := context.Background()
	db, err := journal.Open(ctx, store.NewMemory(), identity.Seed{4}, &journal.Options{RecentPages: 16})
	if err != nil {
		t.Fatal(err)
	}
	book, err := db.Author(ctx, "sizes", nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var pages [][]byte
	for range 600 {
		size := 1 + rng.IntN(40)
		if rng.IntN(10) == 0 {
			size = 1 + rng.IntN(3000)
		}
		pages = append(pages, make([]byte, size))
	}
	if _, err := book.Append(ctx, pages...); err != nil {
		t.Fatal(err)
	}
	n := book.Len()
	for range 300 {
		start := rng.Uint64N(n - 1)
		end := start + 1 + rng.Uint64N(n-start-1)
		budget := 1 + rng.IntN(20_000)
		all, err := book.GetRange(ctx, start, end)
		if err != nil {
			t.Fatal(err)
		}
		want, total := 0, 0
		for i, p := range all {
			total += len(p)
			if total > budget && i > 0 {
				break
			}
			want++
		}
		got, err := readUpTo(ctx, book, start, end, budget)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Fatalf("readUpTo(%d, %d, %d bytes) = %d pages, want %d", start, end, budget, len(got), want)
		}
	}
}
