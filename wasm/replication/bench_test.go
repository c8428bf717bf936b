package replication_test

import (
	"slices"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// BenchmarkReplicate copies a book of 20,000 pages of 1 KiB to a fresh
// replica per op, verified and stored, over the in-memory port.
func BenchmarkReplicate(b *testing.B) {
	const n = 20_000
	ana := openDB(b, 1)
	book, err := ana.Author(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, book, n, 1024, "r")
	length := book.Len()
	payload := 0
	for i := uint64(0); i < length; i++ {
		p, _ := book.Get(ctx, i)
		payload += len(p)
	}
	var wire int
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bob, rep := freshReader(b, ana, book)
		l := connect(b, ana, bob, replication.Config{}, replication.Config{}, nil)
		l.A.Share(book)
		waitFor(b, bob, "replica", holds(rep, length))
		l.stop()
		st := l.A.Stats().Sent
		wire += st.Bytes + l.B.Stats().Sent.Bytes
	}
	b.ReportMetric(float64(int(length)*b.N)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(100*float64(wire-payload*b.N)/float64(payload*b.N), "overhead-%")
}

// BenchmarkReplicateFromHolder is BenchmarkReplicate served by a holder
// (version 2) that does not author the book, the author offline: the same
// verification, proofs from the holder's stored tree hashes.
func BenchmarkReplicateFromHolder(b *testing.B) {
	const n = 20_000
	ana, mirror := openDB(b, 1), openDB(b, 3)
	book, err := ana.Author(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, book, n, 1024, "r")
	pin(b, ana, mirror, book).stop()
	length := book.Len()
	b.SetBytes(int64(n * 1024))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bob, rep := freshReader(b, ana, book)
		l := connect(b, mirror, bob, serveAll, viaAll, nil)
		waitFor(b, bob, "replica", holds(rep, length))
		l.stop()
	}
	b.ReportMetric(float64(int(length)*b.N)/b.Elapsed().Seconds(), "pages/s")
}

// freshReader opens, off the clock, a new profile following book.
func freshReader(b *testing.B, author *journal.DB, book *journal.Book) (*journal.DB, *journal.Book) {
	b.StopTimer()
	defer b.StartTimer()
	db := openDB(b, 2)
	rep, err := db.ReaderFrom(ctx, book.Key(), author.ID())
	if err != nil {
		b.Fatal(err)
	}
	return db, rep
}

// BenchmarkSparseLast50of1M fetches the newest 50 pages of a
// 1,000,000-page book into a fresh sparse replica: connect, head, fetch.
func BenchmarkSparseLast50of1M(b *testing.B) {
	ana := openDB(b, 1)
	bob0 := openDB(b, 2)
	book, _ := bookFor(b, ana, bob0, "big")
	fill(b, book, 1_000_000-1, 64, "s")
	length := book.Len()
	sparse := replication.Config{Sparse: func(*journal.Book) bool { return true }}
	var pages, hashes int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bob, rep := freshReader(b, ana, book)
		l := connect(b, ana, bob, replication.Config{}, sparse, nil)
		waitFor(b, bob, "head", func() bool { return rep.Len() == length })
		l.B.Fetch(rep.Key(), length-50, length)
		waitFor(b, bob, "last 50", func() bool { return rep.Have().Count() == 50 })
		l.stop()
		st := l.B.Stats().Recv
		pages, hashes = st.Pages, st.Hashes
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms")
	b.ReportMetric(float64(pages), "pages")
	b.ReportMetric(float64(hashes), "hashes")
}

// BenchmarkAppendToReader is the latency from a single 1 KiB append to the
// reader holding it verified, over a live session.
func BenchmarkAppendToReader(b *testing.B) {
	ana, bob := openDB(b, 1), openDB(b, 2)
	book, rep := bookFor(b, ana, bob, "live")
	l := connect(b, ana, bob, replication.Config{}, replication.Config{}, nil)
	waitFor(b, bob, "genesis", holds(rep, 1))
	arrived := make(chan uint64, 1)
	cancel := bob.Subscribe(func(e journal.Event) {
		if e.Type == journal.EventPut && e.Book == rep.Key() {
			arrived <- e.Index + uint64(len(e.Pages))
		}
	})
	defer cancel()
	page := make([]byte, 1024)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		i, err := book.Append(ctx, page)
		if err != nil {
			b.Fatal(err)
		}
		for got := uint64(0); got <= i; {
			got = <-arrived
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	l.stop()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkHaveCodec encodes and decodes the have an author sends a live
// reader for each new 1 KiB page (the upgrade from the length before, the
// page pushed with its proof), in a book of 100,000 pages.
func BenchmarkHaveCodec(b *testing.B) {
	db := openDB(b, 1)
	book, err := db.Author(ctx, "codec", nil)
	if err != nil {
		b.Fatal(err)
	}
	page := make([]byte, 1024)
	pages := make([][]byte, 1000)
	for i := range pages {
		pages[i] = page
	}
	for range 100 {
		if _, err := book.Append(ctx, pages...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := book.Append(ctx, page); err != nil {
		b.Fatal(err)
	}
	n := book.Len()
	up, err := book.MakeUpgrade(ctx, n-1)
	if err != nil {
		b.Fatal(err)
	}
	proof, err := book.RangeProof(ctx, n-1, n, n)
	if err != nil {
		b.Fatal(err)
	}
	key := book.Key()
	have := &replication.Have{Upgrade: *up, Push: &replication.Data{Key: key[:], Start: n - 1, Length: n, Pages: [][]byte{page}, Proof: *proof}}
	msg, err := replication.EncodeVersion(replication.Version, replication.TypeHave, have)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := replication.EncodeVersion(replication.Version, replication.TypeHave, have); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := replication.DecodeVersion(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
