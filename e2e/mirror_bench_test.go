package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/relay/mirror/boltstore"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// startMirror starts a mirror on a bbolt file (as `make run`'s) on the
// site's relay and names it in the page's /config.json until tb ends.
func startMirror(tb testing.TB) *mirror.Mirror {
	tb.Helper()
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "mirror.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	mir, err := mirror.Start(tb.Context(), mirror.Config{Store: st, Seed: identity.Seed{0xee},
		Relay: "ws" + strings.TrimPrefix(site.url, "http") + "relay", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mir.Close(); st.Close() })
	pageConfig(tb, relay.PageConfig{Mirrors: []string{mir.ID().String()}})
	return mir
}

// BenchmarkMirrorCatchUp10k (issue #13): Bob writes 10,000 messages
// (sealed) to a task Ana joined while her tab is closed; a mirror holds
// them (Bob's page has its signed word for the last one) and Bob's tab
// closes. Ana's tab opens on the task, the author offline: the time from
// its navigation until her replica of Bob's book holds all of them,
// verified, and the newest is in her timeline.
func BenchmarkMirrorCatchUp10k(b *testing.B) {
	const n = 10_000
	for range b.N {
		mir := startMirror(b)
		br := newBrowser(b)
		bob := openMessenger(b, br, "mcatchup-bob", "")
		ana := openMessenger(b, br, "mcatchup-ana", "")
		var bobID, anaID, task, code string
		bob.run(`return window.tmApp.id`, &bobID)
		ana.run(`return window.tmApp.id`, &anaID)
		bob.run(`return (await window.tmApp.createTask({ title: 'mirror catch-up' })).id`, &task)
		bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
		ana.run(script(`await window.tmApp.join({{code}}, { timeout: 30000 }); return true`, map[string]any{"code": code}), nil)
		bob.poll(script(`(async () => (await window.tmApp.members({{task}})).every((m) => m.paired))()`, map[string]any{"task": task}))
		ana.close()

		bob.run(script(`const texts = []
for (let i = 0; i < 4096; i++) texts.push('catch-up ' + i)
for (let done = 0; done < {{n}}; ) {
  const k = Math.min(4096, {{n}} - done)
  done += await window.tmApp.sendMany({{task}}, texts.slice(0, k).map((t) => t + ' ' + done))
}
return true`, map[string]any{"n": n, "task": task}), nil)
		// The mirror vouches (a receipt it signed) it holds Bob's newest
		// message for Ana.
		start := time.Now()
		for logged := start; ; time.Sleep(50 * time.Millisecond) { // a poll, as tab.poll does
			var ok bool
			bob.run(script(`const app = window.tmApp
const last = await app.timeline({{task}}, { limit: 1 })
const a = (await app.members({{task}})).find((m) => m.id === {{ana}})
return last.length > 0 && last[0].head[0] === {{bob}} && a.mirrored >= last[0].head[2]`, map[string]any{"task": task, "ana": anaID, "bob": bobID}), &ok)
			if ok {
				break
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("the mirror does not vouch for Bob's messages to Ana after 2 minutes; it holds %+v", mir.Stats())
			}
			if time.Since(logged) > 10*time.Second {
				b.Logf("waiting for the mirror: it holds %+v", mir.Stats())
				logged = time.Now()
			}
		}
		b.Logf("the mirror holds Bob's book %v after his last send (%+v)", time.Since(start).Round(time.Millisecond), mir.Stats())
		bob.close()

		ana = openMessenger(b, br, "mcatchup-ana", "&task="+task)
		stopProfile := ana.profile(os.Getenv("CATCHUP_PROFILE"))
		var got struct {
			Ms       float64   `json:"ms"`
			Progress []float64 `json:"progress"`
			Info     string    `json:"info"`
			Times    string    `json:"times"`
		}
		ana.run(script(`const app = window.tmApp
const progress = [window.taskmessenger.readyMs, window.taskmessenger.firstPageMs]
let seen = 0
for (;;) {
  const ms = await app.members({{task}})
  const b = ms.find((m) => m.id === {{bob}})
  if (b && b.have > seen) { if (seen === 0 || b.have === b.length) progress.push(performance.now(), b.have); seen = b.have }
  if (b && b.length > {{n}} && b.have === b.length) {
    const last = await app.timeline({{task}}, { limit: 1 })
    if (last.length && last[0].head[0] === {{bob}}) return { ms: performance.now(), progress, times: JSON.stringify(window.taskmessenger.times) }
  }
  if (performance.now() > 50000) return { ms: -1, progress, info: JSON.stringify(b) }
  await new Promise((r) => setTimeout(r, 5))
}`, map[string]any{"task": task, "bob": bobID, "n": n}), &got)
		if got.Ms < 0 {
			b.Fatalf("Ana's tab has not caught up after 50 s: %v, %s", got.Progress, got.Info)
		}
		stopProfile()
		b.Logf("ready, first page, then [ms, pages held] when replication started and ended: %v %s", got.Progress, got.Times)
		b.ReportMetric(got.Ms, "ms/catchup")
	}
}

// busy returns how long, in ms, t's main thread has run tasks so far
// (Chromium's Performance.getMetrics TaskDuration).
func (t *tab) busy() float64 {
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{})
	var res performance.GetMetricsResult
	if err == nil {
		res, err = chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	}
	if err != nil {
		t.tb.Fatalf("e2e: %s: performance metrics: %v", t.name, err)
	}
	for _, m := range res.Metrics {
		if m.Name == "TaskDuration" {
			return m.Value * 1000
		}
	}
	t.tb.Fatalf("e2e: %s: no TaskDuration among the performance metrics", t.name)
	return 0
}

// profile starts Chromium's CPU profiler in the tab if file is not "";
// the function returned stops it and writes the profile (.cpuprofile, as
// DevTools opens it) to file.
func (t *tab) profile(file string) func() {
	if file == "" {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, profiler.Enable, cdp.Empty{})
	if err == nil {
		_, err = chromedp.Call(ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200})
	}
	if err == nil {
		_, err = chromedp.Call(ctx, profiler.Start, cdp.Empty{})
	}
	if err != nil {
		t.tb.Fatalf("e2e: %s: profiler: %v", t.name, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
		defer cancel()
		res, err := chromedp.Call(ctx, profiler.Stop, cdp.Empty{})
		if err != nil {
			t.tb.Fatalf("e2e: %s: profiler: %v", t.name, err)
		}
		out, err := json.Marshal(res.Profile)
		if err != nil {
			t.tb.Fatal(err)
		}
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.tb.Fatal(err)
		}
	}
}
