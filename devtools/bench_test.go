package devtools_test

import (
	"bufio"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/devtools"
)

// BenchmarkIngest: a peer appends 1 KiB pages as fast as it can (8
// writers, sharing heads through the journal's group commit); its
// reporter streams them to the server, which verifies every page and
// serves them: a feed subscriber reads the live feed, and the clock stops
// when the API shows the whole book verified. events/s counts appended
// pages (one journal event each). server-MiB is the heap the server holds
// at the end, at the retention cap (1000 pages per book), with the peer's
// own store gone.
func BenchmarkIngest(b *testing.B) {
	base := heapAlloc()
	e := newEnv(b, devtools.Config{})
	db := openDB(b, 1)
	book, err := db.Author(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	key := book.Key()
	r := startReporter(b, e, db, "bench", nil)
	waitFor(b, "book listed", e.bookIs(b, key, 1, devtools.StatusVerified))
	feed := subscribeFeed(b, e)
	page := make([]byte, 1024)
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := book.Append(ctx, page); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	appended := time.Since(start)
	// Polling the API is part of what is measured.
	tick := time.NewTicker(time.Millisecond)
	deadline := time.After(5 * time.Minute)
	for d := e.book(b, key); d.Length != uint64(b.N)+1 || d.Status != devtools.StatusVerified || d.Retention.Last != uint64(b.N); d = e.book(b, key) {
		select {
		case <-tick.C:
		case <-deadline:
			b.Fatalf("the server holds %d pages, status %s, of %d", d.Length, d.Status, b.N+1)
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/appended.Seconds(), "appends/s")
	st := e.S.Stats()
	b.ReportMetric(float64(st.Verified)/float64(st.Frames), "pages/frame")
	b.ReportMetric(float64(feed.Load()), "feed-msgs")
	b.ReportMetric(float64(st.RetainedBytes)/(1<<20), "retained-MiB")
	b.ReportMetric(float64(st.TreeBytes)/(1<<20), "tree-MiB")

	r.stop()
	book, db = nil, nil
	b.ReportMetric(float64(heapAlloc()-base)/(1<<20), "server-MiB")
	runtime.KeepAlive(e)
}

// subscribeFeed reads the live feed until the test ends, counting messages.
func subscribeFeed(b *testing.B, e *env) *atomic.Int64 {
	var n atomic.Int64
	resp, err := http.Get(e.URL + "/api/events")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if len(sc.Bytes()) > 0 && sc.Bytes()[0] == 'd' {
				n.Add(1)
			}
		}
	}()
	b.Cleanup(func() {
		resp.Body.Close()
		<-done
	})
	return &n
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
