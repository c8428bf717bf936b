package journal_test

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/internal/cputime"
	"github.com/task-messenger/task-messenger/wasm/seal/sealtest"
)

// BenchmarkAppendSealing is AppendSingle and AppendBatch100 (1 KiB pages)
// with and without a sealer (issue #13): sealed, every page is stored
// sealed under its book's key (XChaCha20-Poly1305, 45 bytes more), as
// the room's sealer does.
func BenchmarkAppendSealing(b *testing.B) {
	for _, batch := range []int{1, 100} {
		for _, sealed := range []bool{false, true} {
			name := map[int]string{1: "Single", 100: "Batch100"}[batch] + map[bool]string{false: "/plain", true: "/sealed"}[sealed]
			b.Run(name, func(b *testing.B) {
				db := openDB(b, newStore(b), 1)
				if sealed {
					db.SetSealer(sealtest.BookSealer(b))
				}
				book, _ := db.Author(ctx, "bench", nil)
				page := pages(batch, 1024, "x")
				b.ReportAllocs()
				b.SetBytes(int64(batch * 1024))
				b.ResetTimer()
				cpu := cputime.Start(b, batch, "page")
				for b.Loop() {
					if _, err := book.Append(ctx, page...); err != nil {
						b.Fatal(err)
					}
				}
				cpu()
				reportPages(b, batch*b.N)
			})
		}
	}
}
