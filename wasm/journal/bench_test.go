package journal_test

import (
	"context"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

func reportPages(b *testing.B, pages int) {
	b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkAppendSingle appends 1 KiB pages one at a time, each signed and
// committed before the next.
func BenchmarkAppendSingle(b *testing.B) {
	db := openDB(b, newStore(b), 1)
	book, _ := db.Author(ctx, "bench", nil)
	page := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	for b.Loop() {
		if _, err := book.Append(ctx, page); err != nil {
			b.Fatal(err)
		}
	}
	reportPages(b, b.N)
}

// BenchmarkAppendBatch100 appends 1 KiB pages 100 at a time: one head per batch.
func BenchmarkAppendBatch100(b *testing.B) {
	db := openDB(b, newStore(b), 1)
	book, _ := db.Author(ctx, "bench", nil)
	batch := pages(100, 1024, "x")
	b.ReportAllocs()
	b.SetBytes(100 * 1024)
	b.ResetTimer()
	for b.Loop() {
		if _, err := book.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	reportPages(b, 100*b.N)
}

type step struct {
	up    *journal.Upgrade
	start uint64
	pages [][]byte
	proof *journal.RangeProof
}

// BenchmarkVerifyBatch100 is a replica following its author batch by batch:
// per op it checks a new signed head and its consistency proof, then
// verifies and stores 100 pages of 1 KiB with their range proof.
func BenchmarkVerifyBatch100(b *testing.B) {
	const batches = 500
	db := openDB(b, newStore(b), 1)
	book, _ := db.Author(ctx, "bench", nil)
	steps := make([]step, batches)
	for i := range steps {
		from := book.Len()
		ps := pages(100, 1024, "v")
		start, _ := book.Append(ctx, ps...)
		up, err := book.MakeUpgrade(ctx, from)
		if err != nil {
			b.Fatal(err)
		}
		proof, err := book.RangeProof(ctx, start, start+100, book.Len())
		if err != nil {
			b.Fatal(err)
		}
		steps[i] = step{up, start, ps, proof}
	}
	g0, _ := book.Get(ctx, 0)
	g0proof, _ := book.RangeProof(ctx, 0, 1, 1)
	g0head := headAt(b, book, 1)

	var rep *journal.Book
	fresh := func() {
		r := openDB(b, newStore(b), 2)
		rep, _ = r.Reader(ctx, book.Key())
		if _, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: g0head}); err != nil {
			b.Fatal(err)
		}
		if err := rep.PutRange(ctx, 0, [][]byte{g0}, 1, g0proof); err != nil {
			b.Fatal(err)
		}
	}
	fresh()
	b.ReportAllocs()
	b.SetBytes(100 * 1024)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == batches {
			b.StopTimer()
			fresh()
			i = 0
			b.StartTimer()
		}
		s := steps[i]
		if _, err := rep.AcceptHead(ctx, s.up); err != nil {
			b.Fatal(err)
		}
		if err := rep.PutRange(ctx, s.start, s.pages, s.up.Head.Length, s.proof); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportPages(b, 100*b.N)
}

// BenchmarkProof1M builds and checks the inclusion proof of a page of a
// 1,000,000-page book.
func BenchmarkProof1M(b *testing.B) {
	const n = 1_000_000
	db := openDB(b, newStore(b), 1)
	book, _ := db.Author(ctx, "big", nil)
	batch := pages(10_000, 16, "s")
	for book.Len() < n {
		k := min(len(batch), int(n-book.Len()))
		if _, err := book.Append(ctx, batch[:k]...); err != nil {
			b.Fatal(err)
		}
	}
	root := book.Head().Root
	b.ReportAllocs()
	b.ResetTimer()
	var hashes int
	i := uint64(7919)
	for b.Loop() {
		i = (i*7919 + 104729) % n
		p, err := book.Proof(ctx, i, n)
		if err != nil {
			b.Fatal(err)
		}
		page, _ := book.Get(ctx, i)
		if err := tlog.CheckRecord(p, n, root, int64(i), tlog.RecordHash(page)); err != nil {
			b.Fatal(err)
		}
		hashes = max(hashes, len(p))
	}
	b.ReportMetric(float64(hashes), "hashes")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/proof")
}

// BenchmarkAppendSingleParallel is many callers appending single 1 KiB
// pages at once: group commit gives them shared heads.
func BenchmarkAppendSingleParallel(b *testing.B) {
	db := openDB(b, newStore(b), 1)
	book, _ := db.Author(ctx, "bench", nil)
	b.ReportAllocs()
	b.SetBytes(1024)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		page := make([]byte, 1024)
		for pb.Next() {
			if _, err := book.Append(ctx, page); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportPages(b, b.N)
}

// BenchmarkReadLast50of100k reads the newest 50 pages (1 KiB) of a
// 100,000-page book from a reopened DB: what a room does when it opens.
// The book written keeps its newest pages in memory; the reopened one has
// only the store (in the browser, IndexedDB), which every read must reach.
func BenchmarkReadLast50of100k(b *testing.B) {
	st := &countingStore{Store: newStore(b)}
	db := openDB(b, st, 1)
	book, _ := db.Author(ctx, "read", nil)
	batch := pages(1000, 1024, "r")
	for book.Len() < 100_000 {
		if _, err := book.Append(ctx, batch[:min(len(batch), int(100_000-book.Len()))]...); err != nil {
			b.Fatal(err)
		}
	}
	n := book.Len()
	book, _ = openDB(b, st, 1).Author(ctx, "read", nil) // nothing in memory
	reads := st.reads.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ps, err := book.GetRange(ctx, n-50, n)
		if err != nil || len(ps) != 50 {
			b.Fatalf("GetRange: %d pages, %v", len(ps), err)
		}
	}
	b.StopTimer()
	if got := st.reads.Load() - reads; got < int64(b.N) {
		b.Fatalf("%d reads of the store for %d reads of the book: pages came from memory", got, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms")
}

// countingStore counts the reads (Get, Scan and Seek calls) that reach a
// store.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	s.reads.Add(1)
	return s.Store.Get(ctx, table, keys...)
}

func (s *countingStore) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	s.reads.Add(1)
	return s.Store.Scan(ctx, table, start, end, limit)
}

func (s *countingStore) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	s.reads.Add(1)
	return s.Store.Seek(ctx, table, end, keys...)
}
