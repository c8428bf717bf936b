package store_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}

// BenchmarkMemoryWrite is the cost of a journal-like write (a page and a
// book record of ~200 bytes) without and with the condition that the
// record holds what the writer last wrote (the journal's compare-and-swap).
func BenchmarkMemoryWrite(b *testing.B) {
	for _, expect := range []bool{false, true} {
		name := "plain"
		if expect {
			name = "expect"
		}
		b.Run(name, func(b *testing.B) {
			m := store.NewMemory()
			ctx := context.Background()
			rec := make([]byte, 200)
			var last []byte
			b.ReportAllocs()
			for i := range b.N {
				next := append([]byte(nil), rec...)
				next[0], next[1], next[2] = byte(i), byte(i>>8), byte(i>>16)
				batch := store.Batch{Ops: make([]store.Op, 0, 2), Conds: make([]store.Cond, 0, 1)}
				batch.Put(store.TablePages, binary.BigEndian.AppendUint64([]byte("book"), uint64(i)), rec)
				batch.Put(store.TableBooks, []byte("book"), next)
				if expect {
					batch.Expect(store.TableBooks, []byte("book"), last)
				}
				if err := m.Write(ctx, &batch); err != nil {
					b.Fatal(err)
				}
				last = next
			}
		})
	}
}
