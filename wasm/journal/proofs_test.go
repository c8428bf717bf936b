package journal_test

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestProofsFromMemory: what replication sends with each new page — the
// upgrade from the length a live reader holds (its root and a consistency
// proof) and the page's range proof — verifies, and comes from what the
// book keeps in memory: the roots of the complete subtrees left of the
// newest pages are read from the store once, not for every page.
func TestProofsFromMemory(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory()}
	db, err := journal.Open(ctx, st, identity.Seed{7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Author(ctx, "live", nil)
	if err != nil {
		t.Fatal(err)
	}
	const appends = 1100 // past 768: the root of [0, 512) leaves the recent pages
	var reads int64
	prev := b.Head()
	for i := range appends {
		page := []byte(fmt.Sprint("page ", i))
		if _, err := b.Append(ctx, page); err != nil {
			t.Fatal(err)
		}
		head := b.Head()
		before := st.reads.Load()
		up, err := b.MakeUpgrade(ctx, prev.Length)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := b.RangeProof(ctx, head.Length-1, head.Length, head.Length)
		if err != nil {
			t.Fatal(err)
		}
		reads += st.reads.Load() - before
		if up.FromRoot != prev.Root {
			t.Fatalf("append %d: upgrade from %d names root %x, the head of that length %x", i, prev.Length, up.FromRoot, prev.Root)
		}
		if err := tlog.CheckTree(up.Proof, int64(head.Length), head.Root, int64(prev.Length), up.FromRoot); err != nil {
			t.Fatalf("append %d: upgrade %d→%d: %v", i, prev.Length, head.Length, err)
		}
		if _, err := journal.VerifyRange(&head, head.Length-1, [][]byte{page}, proof); err != nil {
			t.Fatalf("append %d: range proof: %v", i, err)
		}
		prev = head
	}
	t.Logf("%d store reads for the proofs of %d appends", reads, appends)
	if reads > 8 {
		t.Errorf("%d store reads for the proofs of %d appends, want a few (each old subtree root once)", reads, appends)
	}
	// An upgrade from a length no longer among the newest heads is
	// computed from the stored hashes, as before.
	old, err := b.MakeUpgrade(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(old.Proof, int64(prev.Length), prev.Root, 5, old.FromRoot); err != nil {
		t.Fatalf("upgrade 5→%d: %v", prev.Length, err)
	}
}
