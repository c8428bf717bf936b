package devtools_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/devtools"
)

// BenchmarkIngest: a peer appends 1 KiB pages as fast as it can (8
// writers, sharing heads through the journal's group commit when they
// overlap); its reporter streams them to the server, which verifies every
// page and serves them: a subscriber reads the live feed, and the clock
// stops when the API shows the whole book verified. events/s counts
// appended pages (one journal event each). server-MiB is the heap the
// server held at the end, at the retention cap (1000 pages per book):
// what closing it frees, with the peer's own store already gone.
func BenchmarkIngest(b *testing.B) {
	s := devtools.New(devtools.Config{Logger: quiet})
	hs := httptest.NewServer(s.Handler())
	e := &env{S: s, HTTP: hs, URL: hs.URL, WS: "ws" + strings.TrimPrefix(hs.URL, "http") + "/peer"}
	db := openDB(b, 1)
	book, err := db.Author(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	key := book.Key()
	r := startReporter(b, e, db, "bench", nil)
	waitFor(b, "book listed", e.bookIs(b, key, 1, devtools.StatusVerified))
	feed, stopFeed := subscribeFeed(b, e)
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
	st := s.Stats()
	b.ReportMetric(float64(st.Verified)/float64(st.Frames), "pages/frame")
	b.ReportMetric(float64(feed.Load()), "feed-msgs")
	b.ReportMetric(float64(st.RetainedBytes)/(1<<20), "retained-MiB")
	b.ReportMetric(float64(st.TreeBytes)/(1<<20), "tree-MiB")

	r.stop()
	stopFeed()
	book, db = nil, nil
	held := heapAlloc()
	s.Close()
	hs.Close()
	s, e = nil, nil
	b.ReportMetric(float64(held-min(held, heapAlloc()))/(1<<20), "server-MiB")
}

// subscribeFeed reads the live feed, counting messages, until stopped.
func subscribeFeed(b *testing.B, e *env) (*atomic.Int64, func()) {
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
	var once sync.Once
	stop := func() {
		once.Do(func() {
			resp.Body.Close()
			<-done
		})
	}
	b.Cleanup(stop)
	return &n, stop
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
