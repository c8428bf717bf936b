package replication_test

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/internal/cputime"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/seal/sealtest"
)

// BenchmarkReplicateSealing is BenchmarkReplicate (20,000 pages of 1 KiB
// to a fresh replica, verified and stored) with the pages plain and
// sealed (issue #13): a sealed page is the same KiB encrypted, 45 bytes
// longer. Replication neither seals nor opens; it carries and verifies
// the sealed bytes.
func BenchmarkReplicateSealing(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "sealed"}[sealed], func(b *testing.B) {
			const n = 20_000
			ana := openDB(b, 1)
			if sealed {
				ana.SetSealer(sealtest.BookSealer(b))
			}
			book, err := ana.Author(ctx, "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			fill(b, book, n, 1024, "r")
			length := book.Len()
			stored := 0
			for i := uint64(0); i < length; i++ {
				p, _ := book.Get(ctx, i)
				stored += len(p)
			}
			b.SetBytes(int64(n * 1024)) // the payload, the same both ways
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cputime.Start(b, n, "page") // the fresh reader's set-up too (off the clock)
			for b.Loop() {
				bob, rep := freshReader(b, ana, book)
				l := connect(b, ana, bob, replication.Config{}, replication.Config{}, nil)
				l.A.Share(book)
				waitFor(b, bob, "replica", holds(rep, length))
				l.stop()
			}
			cpu()
			b.ReportMetric(float64(int(length)*b.N)/b.Elapsed().Seconds(), "pages/s")
			b.ReportMetric(float64(stored)/float64(length), "B/page")
		})
	}
}
