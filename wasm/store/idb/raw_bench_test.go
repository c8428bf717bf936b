//go:build js && wasm

package idb_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/idb"
)

// BenchmarkWrite101 is the store alone: batches like a 100-page append
// (100 records of 1 KiB and one small record) in one transaction each.
func BenchmarkWrite101(b *testing.B) {
	ctx := context.Background()
	st, err := idb.Open(ctx, "bench-write101")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { st.Close(); idb.Delete(ctx, "bench-write101") }()
	page := make([]byte, 1024)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		var batch store.Batch
		for range 100 {
			k := binary.BigEndian.AppendUint64(make([]byte, 32, 40), uint64(n))
			n++
			batch.Put(store.TablePages, k, page)
		}
		batch.Put(store.TableBooks, []byte("book"), page[:200])
		if err := st.Write(ctx, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "pages/s")
}
