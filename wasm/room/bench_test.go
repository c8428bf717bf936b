package room

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// BenchmarkOpenRoom1M opens a room whose two books hold 1,000,000 messages
// in all (memory store): the newest 50, merged. The books are read from a
// reopened DB, so every page comes from the store, not from the pages a
// book keeps in memory after its appends.
func BenchmarkOpenRoom1M(b *testing.B) {
	var sources []Source
	clock := uint64(0)
	for n := range 2 {
		st := store.NewMemory()
		seed := identity.Seed{byte(n + 1)}
		db, err := journal.Open(ctx, st, seed, nil)
		if err != nil {
			b.Fatal(err)
		}
		book, _ := db.Author(ctx, "room", nil)
		batch := make([][]byte, 0, 10_000)
		for i := range 500_000 {
			clock++
			m := Message{Head: Head{By: db.ID(), Mid: uint64(i) + 1}, Type: TypeChat, Data: []byte(`{"text":"hello there"}`), Meta: Meta{Date: MinDate, Clock: clock}}
			p, _ := m.Encode()
			batch = append(batch, p)
			if len(batch) == cap(batch) {
				book.Append(ctx, batch...)
				batch = batch[:0]
			}
		}
		// Reopen: a new DB over the same store, as a tab reloaded.
		reopened, err := journal.Open(ctx, st, seed, nil)
		if err != nil {
			b.Fatal(err)
		}
		if book, err = reopened.Get(ctx, book.Key()); err != nil {
			b.Fatal(err)
		}
		sources = append(sources, BookSource{Book: book, Author: db.ID()})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		page, err := Page(ctx, sources, nil, 50)
		if err != nil || len(page) != 50 {
			b.Fatalf("%d messages, %v", len(page), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms")
}
