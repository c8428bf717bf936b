package journal

import (
	"context"
	"fmt"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

func TestRecentPages(t *testing.T) {
	var r recentPages
	rec := func(i int) []byte { return []byte(fmt.Sprint(i)) }
	for i := 0; i < recentMax+10; i++ {
		r.add(uint64(i), [][]byte{rec(i)}, recentMax)
	}
	if _, ok := r.get(9); ok {
		t.Fatal("page 9 kept past the bound")
	}
	if v, ok := r.get(10); !ok || string(v) != "10" {
		t.Fatalf("page 10: %q %v", v, ok)
	}
	if got, ok := r.span(recentMax, recentMax+10); !ok || len(got) != 10 || string(got[9]) != fmt.Sprint(recentMax+9) {
		t.Fatalf("span: %q %v", got, ok)
	}
	if _, ok := r.span(5, 20); ok {
		t.Fatal("span reaching before the kept pages")
	}
	r.add(1000, [][]byte{rec(1000)}, recentMax) // not contiguous: replaces
	if _, ok := r.get(100); ok {
		t.Fatal("kept pages after a gap")
	}
	if v, ok := r.get(1000); !ok || string(v) != "1000" {
		t.Fatalf("page 1000: %q %v", v, ok)
	}
}

// TestRecentPagesOption: a DB opened with RecentPages keeps that many of
// a book's newest pages in memory.
func TestRecentPagesOption(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, store.NewMemory(), identity.Seed{1}, &Options{RecentPages: 4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := b.Append(ctx, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := b.recent.get(b.Len() - 5); ok {
		t.Fatal("a fifth page kept in memory")
	}
	if v, ok := b.recent.get(b.Len() - 1); !ok || string(v[len(v)-1:]) != "9" {
		t.Fatalf("the newest page: %q %v", v, ok)
	}
}

// TestRecentHashesAndRoots: the kept hashes are bounded, the newest
// rootsKept heads' roots are kept, and reset forgets both.
func TestRecentHashesAndRoots(t *testing.T) {
	var r recentPages
	const max = 100
	for i := range int64(max + 10) {
		r.keepHashes([]int64{i}, []Hash{{byte(i)}}, max)
	}
	if len(r.hashes) > max {
		t.Fatalf("%d hashes kept, want at most %d", len(r.hashes), max)
	}
	if h, ok := r.hash(max + 9); !ok || h[0] != max+9 {
		t.Fatalf("the newest hash: %x %v", h, ok)
	}
	for n := uint64(1); n <= 20; n++ {
		r.keepRoot(n, Hash{byte(n)})
	}
	for n := uint64(1); n <= 20; n++ {
		h, ok := r.root(n)
		if want := n > 20-rootsKept; ok != want || ok && h[0] != byte(n) {
			t.Errorf("root of %d: %x %v, want kept %v", n, h, ok, want)
		}
	}
	if _, ok := r.root(0); ok {
		t.Error("a root for the empty tree")
	}
	r.reset()
	if _, ok := r.root(20); ok {
		t.Error("a root kept after reset")
	}
	if _, ok := r.hash(max + 9); ok {
		t.Error("a hash kept after reset")
	}
}
