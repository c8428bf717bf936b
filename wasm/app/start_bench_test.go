package app

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// BenchmarkStartSlowStore: tm.open's work in Go on a store that answers
// every request after 1 ms, as IndexedDB answers a tab in a few: the
// profile opened (vault.Open), the App started, then the newest page of a
// task of 200 messages (the first page the app shows). ms-open and
// ms-first-page are about the store's round trips each waits on in turn;
// requests-open and requests-first-page count them.
func BenchmarkStartSlowStore(b *testing.B) {
	ctx := testCtx(b)
	mem := store.NewMemory()
	kept := func(context.Context, string) (store.Store, error) { return unclosed{mem}, nil }
	var task string
	{
		a := startOn(b, kept)
		var info struct{ ID string }
		if err := json.Unmarshal(do(b, a, "createTask", `[{"title":"bench"}]`), &info); err != nil {
			b.Fatal(err)
		}
		task = info.ID
		for i := range 200 {
			do(b, a, "send", fmt.Sprintf(`[%q, "message %d"]`, task, i))
		}
		a.Close()
	}
	slow := &storetest.Slow{Store: unclosed{mem}, Delay: time.Millisecond}
	opener := func(context.Context, string) (store.Store, error) { return slow, nil }
	var open, first time.Duration
	var openReqs, firstReqs int64
	b.ResetTimer()
	for range b.N {
		before := slow.Requests()
		start := time.Now()
		a := startOn(b, opener)
		opened := time.Now()
		openReqs += slow.Requests() - before
		if _, err := a.Do(ctx, "tasks", json.RawMessage(`[]`)); err != nil {
			b.Fatal(err)
		}
		out, err := a.Do(ctx, "timeline", json.RawMessage(fmt.Sprintf(`[%q, {"limit": 50}]`, task)))
		if err != nil {
			b.Fatal(err)
		}
		var page []json.RawMessage
		if err := json.Unmarshal(out, &page); err != nil || len(page) != 50 {
			b.Fatalf("the first page: %d messages (%v)", len(page), err)
		}
		open += opened.Sub(start)
		first += time.Since(opened)
		firstReqs += slow.Requests() - before
		b.StopTimer()
		a.Close()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(open.Microseconds())/1000/n, "ms-open")
	b.ReportMetric(float64(first.Microseconds())/1000/n, "ms-first-page")
	b.ReportMetric(float64(openReqs)/n, "requests-open")
	b.ReportMetric(float64(firstReqs)/n, "requests-to-first-page")
}

// startOn opens the profile "ana" on the store open gives and starts its
// App, offline.
func startOn(b *testing.B, open vault.Opener) *App {
	b.Helper()
	p, err := vault.Open(testCtx(b), "ana", open, nil)
	if err != nil {
		b.Fatal(err)
	}
	a, err := Start(testCtx(b), Config{Profile: p, Relay: deadRelay(b), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// unclosed is a store whose Close does nothing: the benchmark reopens it.
type unclosed struct{ store.Store }

func (unclosed) Close() error { return nil }
