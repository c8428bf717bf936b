package replication

import (
	"context"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestSizeHint: a message's buffer, sized by sizeHint, holds the whole
// message (it is allocated once, never grown), and is not much larger:
// haves with and without pushed pages, from near and far, previews and
// data messages of one to many pages.
func TestSizeHint(t *testing.T) {
	ctx := context.Background()
	db, err := journal.Open(ctx, store.NewMemory(), identity.Seed{5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	book, err := db.Author(ctx, "hint", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := book.Append(ctx, make([]byte, 1+i*7%1500)); err != nil {
			t.Fatal(err)
		}
	}
	n := book.Len()
	key := book.Key()
	data := func(start, end uint64) *Data {
		pages, err := book.GetRange(ctx, start, end)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := book.RangeProof(ctx, start, end, n)
		if err != nil {
			t.Fatal(err)
		}
		return &Data{Key: key[:], Start: start, Length: n, Pages: pages, Proof: *proof}
	}
	upgrade := func(from uint64) journal.Upgrade {
		up, err := book.MakeUpgrade(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		return *up
	}
	bodies := map[string]any{
		"have, from 0":           &Have{Upgrade: upgrade(0)},
		"have, from n-1, pushed": &Have{Upgrade: upgrade(n - 1), Push: data(n-1, n)},
		"have, from 1, no push":  &Have{Upgrade: upgrade(1)},
		"have, from n-9, pushed": &Have{Upgrade: upgrade(n - 9), Push: data(n-9, n)},
		"preview, from n-1":      &Preview{Upgrade: upgrade(n - 1), Push: data(n-1, n)},
		"data, one page":         data(7, 8),
		"data, 200 pages":        data(50, 250),
		"data, the whole book":   data(0, n),
	}
	for name, body := range bodies {
		msg, err := EncodeVersion(Version, TypeHave, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		hint := sizeHint(body)
		if hint < len(msg) || hint > 2*len(msg)+256 {
			t.Errorf("%s: %d bytes, size hint %d", name, len(msg), hint)
		}
	}
}
