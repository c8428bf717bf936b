package journal_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestVerified: Verified hooks see a replica's pages once they verify and
// before they are stored (then EventPut follows); pages that fail
// verification are never shown.
func TestVerified(t *testing.T) {
	ana, bob := openDB(t, store.NewMemory(), 1), openDB(t, store.NewMemory(), 2)
	book, err := ana.Author(ctx, "shown", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bob.Reader(ctx, book.Key())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	cancelV := bob.Verified(func(ev journal.Event) {
		seen = append(seen, fmt.Sprintf("verified %d+%d", ev.Index, len(ev.Pages)))
	})
	defer cancelV()
	cancel := bob.Subscribe(func(ev journal.Event) {
		if ev.Type == journal.EventPut {
			seen = append(seen, fmt.Sprintf("put %d+%d", ev.Index, len(ev.Pages)))
		}
	})
	defer cancel()
	replicate(t, book, rep, 0, 1)
	if _, err := book.Append(ctx, pages(2, 64, "v")...); err != nil {
		t.Fatal(err)
	}
	up, err := book.MakeUpgrade(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := book.GetRange(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := book.RangeProof(ctx, 1, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	forged := [][]byte{[]byte("forged"), ps[1]}
	if _, err := rep.AcceptHeadPages(ctx, up, 1, forged, proof); !errors.Is(err, journal.ErrBadProof) {
		t.Fatalf("forged page: %v", err)
	}
	if _, err := rep.AcceptHeadPages(ctx, up, 1, ps, proof); err != nil {
		t.Fatal(err)
	}
	want := "[verified 0+1 put 0+1 verified 1+2 put 1+2]"
	if got := fmt.Sprint(seen); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
}
