package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// watchMessages makes the tab note, for every chat message event of its
// app, when the first came (a member's message may come first pending,
// while it is stored, then stored: one message) (performance.timeOrigin + performance.now(),
// one clock for the tabs of a browser, and Date.now() for a clock shared
// with the test) and how many came, by text.
func (t *tab) watchMessages() {
	t.tb.Helper()
	t.run(`window.seen = {}; window.seenAt = {}; window.seenCount = {}
window.tmApp.on('message', (ev) => {
  const m = ev.message
  if (!m || m.type !== 'chat' || !m.data || typeof m.data.text !== 'string') return
  const text = m.data.text
  if (!(text in window.seen)) { window.seen[text] = performance.timeOrigin + performance.now(); window.seenAt[text] = Date.now() }
  if (!m.pending) window.seenCount[text] = (window.seenCount[text] || 0) + 1 // shown pending first, then stored: one message
})
return true`, nil)
}

// seen waits until the tab has had a message event for each of texts and
// returns when the first of each came (field: "seen" or "seenAt"). A text
// without an event after a minute, or with more than one, fails the
// benchmark.
func (t *tab) seen(texts []string, field string) map[string]float64 {
	t.tb.Helper()
	var got struct {
		Missing []string           `json:"missing"`
		At      map[string]float64 `json:"at"`
		Count   map[string]int     `json:"count"`
	}
	t.run(script(`const texts = {{texts}}
const deadline = Date.now() + 50000
let missing
for (;;) {
  missing = texts.filter((t) => !(window.seenCount[t] > 0))
  if (missing.length === 0 || Date.now() > deadline) break
  await new Promise((r) => setTimeout(r, 20))
}
// A doubled event would come right after the first: give it a moment.
await new Promise((r) => setTimeout(r, 100))
const at = {}, count = {}
for (const t of texts) { if (t in window.seen) at[t] = window[{{field}}][t]; count[t] = window.seenCount[t] || 0 }
return { missing, at, count }`, map[string]any{"texts": texts, "field": field}), &got)
	if len(got.Missing) > 0 {
		t.tb.Fatalf("%s: no message event for %d of %d messages within 50 s, first %q", t.name, len(got.Missing), len(texts), got.Missing[0])
	}
	for _, text := range texts {
		if n := got.Count[text]; n != 1 {
			t.tb.Errorf("%s: %d message events for %q; want 1", t.name, n, text)
		}
	}
	return got.At
}

// timeline is a tab's chat texts of task (up to 1,000, oldest first).
func (t *tab) timeline(task string) []string {
	t.tb.Helper()
	var texts []string
	t.run(script(`return (await window.tmApp.timeline({{task}}, { limit: 1000 })).filter((m) => m.type === 'chat').map((m) => m.data.text)`,
		map[string]any{"task": task}), &texts)
	return texts
}

// sendAll sends n messages "prefix i" from the tab through app.send, one
// at a time (each awaited, then 10 ms) and returns their texts, when each
// send was called (performance.timeOrigin + performance.now()) and how
// long each call took, in ms, sorted.
func (t *tab) sendAll(task, prefix string, n int) (texts []string, sent map[string]float64, callMs []float64) {
	t.tb.Helper()
	var got struct {
		Sent map[string]float64 `json:"sent"`
		Ms   []float64          `json:"ms"`
		Err  string             `json:"err"`
	}
	t.run(script(`const sent = {}, ms = []
for (let i = 0; i < {{n}}; i++) {
  const text = {{prefix}} + ' ' + i
  const t0 = performance.now()
  sent[text] = performance.timeOrigin + t0
  try { await window.tmApp.send({{task}}, text) } catch (e) { return { sent, ms, err: text + ': ' + e.message } }
  ms.push(performance.now() - t0)
  await new Promise((r) => setTimeout(r, 10))
}
return { sent, ms, err: '' }`, map[string]any{"n": n, "task": task, "prefix": prefix}), &got)
	if got.Err != "" {
		t.tb.Fatalf("%s: send: %s", t.name, got.Err)
	}
	for i := range n {
		texts = append(texts, fmt.Sprintf("%s %d", prefix, i))
	}
	slices.Sort(got.Ms)
	return texts, got.Sent, got.Ms
}

// latencies returns, sorted, seen[text] - sent[text] for each text.
func latencies(texts []string, sent, seen map[string]float64) []float64 {
	lat := make([]float64, 0, len(texts))
	for _, text := range texts {
		lat = append(lat, seen[text]-sent[text])
	}
	slices.Sort(lat)
	return lat
}

// quantile is the q-quantile of sorted (nearest rank below).
func quantile(sorted []float64, q float64) float64 {
	return sorted[int(float64(len(sorted)-1)*q)]
}

// BenchmarkFollowerSend: Bob's profile is open in two tabs of one browser
// (the first its writer, the second a follower) and Ana's in a third; Ana
// joined Bob's task. The follower sends 200 messages, one at a time, and
// then the writer 200: for each, the time from the call of app.send to
// the message event in the sending tab itself (follower-…, writer-…) and
// in Ana's tab (other-…, writer-other-…), p50 and p99 in ms, measured in
// the pages on one clock; and how long the send call took (…-send-p50-ms).
// Every message is one event in each tab and once in every timeline.
func BenchmarkFollowerSend(b *testing.B) {
	const n = 200
	for range b.N {
		br := newBrowser(b)
		ana, writer, _, _, task := pair(b, br, "fsend", "")
		follower := openMessenger(b, br, "fsend-bob", "&task="+task)
		if rw, rf := writer.role(), follower.role(); rw != "writer" || rf != "follower" {
			b.Fatalf("roles: first Bob tab %s, second %s; want writer, follower", rw, rf)
		}
		for _, tb := range []*tab{writer, follower, ana} {
			tb.watchMessages()
		}

		fTexts, fSent, fCall := follower.sendAll(task, "from the follower", n)
		fSelf := latencies(fTexts, fSent, follower.seen(fTexts, "seen"))
		fOther := latencies(fTexts, fSent, ana.seen(fTexts, "seen"))
		writer.seen(fTexts, "seen")

		wTexts, wSent, wCall := writer.sendAll(task, "from the writer", n)
		wSelf := latencies(wTexts, wSent, writer.seen(wTexts, "seen"))
		wOther := latencies(wTexts, wSent, ana.seen(wTexts, "seen"))
		follower.seen(wTexts, "seen")

		want := append(slices.Clone(fTexts), wTexts...)
		for _, tb := range []*tab{ana, writer, follower} {
			got := tb.timeline(task)
			if !slices.Equal(got, want) {
				b.Errorf("%s's timeline holds %d messages, %v…; want the %d sent, each once, in order", tb.name, len(got), got[:min(len(got), 5)], len(want))
			}
		}

		for _, l := range []struct {
			name string
			ms   []float64
		}{{"follower → itself", fSelf}, {"follower → Ana", fOther}, {"follower's send call", fCall},
			{"writer → itself", wSelf}, {"writer → Ana", wOther}, {"writer's send call", wCall}} {
			b.Logf("%-22s ms: min %5.1f  p10 %5.1f  p50 %5.1f  p90 %5.1f  p99 %6.1f  max %6.1f", l.name,
				l.ms[0], quantile(l.ms, 0.1), quantile(l.ms, 0.5), quantile(l.ms, 0.9), quantile(l.ms, 0.99), l.ms[len(l.ms)-1])
		}
		b.ReportMetric(quantile(fSelf, 0.5), "follower-p50-ms")
		b.ReportMetric(quantile(fSelf, 0.99), "follower-p99-ms")
		b.ReportMetric(quantile(fOther, 0.5), "other-p50-ms")
		b.ReportMetric(quantile(fOther, 0.99), "other-p99-ms")
		b.ReportMetric(quantile(fCall, 0.5), "follower-send-p50-ms")
		b.ReportMetric(quantile(wSelf, 0.5), "writer-p50-ms")
		b.ReportMetric(quantile(wSelf, 0.99), "writer-p99-ms")
		b.ReportMetric(quantile(wOther, 0.5), "writer-other-p50-ms")
		b.ReportMetric(quantile(wOther, 0.99), "writer-other-p99-ms")
		b.ReportMetric(quantile(wCall, 0.5), "writer-send-p50-ms")
	}
}

// BenchmarkHandOver: Bob's profile is open in a writer tab and a follower
// tab, Ana's in a third. In each of 5 rounds the follower sends while the
// writer is frozen (as a browser suspends a background tab: the writer
// may take the call, but its storage stands still, so the send cannot be
// done before the crash), then the writer tab crashes. Measured from the
// crash (Date.now() on the test's clock): the follower holds the
// profile's Web Lock (navigator.locks.query, polled), is the writer (its
// 'tab' event: the profile is open), the queued send resolved, the
// follower is online (its 'peer' event), and the message reached Ana's
// tab; medians in ms. A new tab of Bob's then opens as the next
// round's follower. Every send is done once: one event in Ana's tab, once
// in the timelines.
func BenchmarkHandOver(b *testing.B) {
	const rounds = 5
	for range b.N {
		br := newBrowser(b)
		ana, writer, _, _, task := pair(b, br, "handover", "")
		follower := openMessenger(b, br, "handover-bob", "&task="+task)
		ana.watchMessages()
		var toLock, toWriter, toSent, toOnline, toOther []float64
		var texts []string
		for i := range rounds {
			if rw, rf := writer.role(), follower.role(); rw != "writer" || rf != "follower" {
				b.Fatalf("round %d: roles %s, %s; want writer, follower", i, rw, rf)
			}
			text := fmt.Sprintf("hand-over %d", i)
			texts = append(texts, text)
			// The follower notes when the profile's Web Lock leaves the
			// writer and comes to it, when it is the writer, and when it
			// is online.
			// A 'peer' hook hears the state as it is when registered:
			// only what comes once armed (as the writer is frozen) counts.
			follower.run(script(`window.becameWriter = 0; window.lockAt = 0; window.onlineAt = 0; window.armed = false
window.tmApp.on('tab', (ev) => { if (ev.state === 'writer' && !window.becameWriter) window.becameWriter = Date.now() })
window.tmApp.on('peer', (ev) => { if (window.armed && ev.peer === window.tmApp.id && ev.state === 'online' && !window.onlineAt) window.onlineAt = Date.now() })
const held = async () => (await navigator.locks.query()).held.find((l) => l.name === {{lock}})
const old = (await held()).clientId
;(async () => {
  for (;;) {
    const h = await held()
    if (h && h.clientId !== old) { window.lockAt = Date.now(); return }
    await new Promise((r) => setTimeout(r, 1))
  }
})()
return true`, map[string]any{"lock": "taskmessenger:writer:handover-bob"}), nil)
			writer.freeze(true)
			follower.run(script(`window.armed = true
window.pending = window.tmApp.send({{task}}, {{text}}).then(() => ({ at: Date.now() }), (e) => ({ err: e.message }))
return true`, map[string]any{"task": task, "text": text}), nil)
			crashAt := float64(time.Now().UnixMicro()) / 1000
			writer.crash()
			var sent struct {
				At  float64 `json:"at"`
				Err string  `json:"err"`
			}
			follower.run(`return await window.pending`, &sent)
			if sent.Err != "" {
				b.Fatalf("round %d: the send in flight at the hand-over failed: %s", i, sent.Err)
			}
			follower.poll(`window.becameWriter > 0 && window.lockAt > 0`)
			other := ana.seen([]string{text}, "seenAt")[text]
			follower.poll(`window.onlineAt > 0`)
			var at struct {
				Lock   float64 `json:"lock"`
				Writer float64 `json:"writer"`
				Online float64 `json:"online"`
			}
			follower.run(`return { lock: window.lockAt, writer: window.becameWriter, online: window.onlineAt }`, &at)
			toLock = append(toLock, at.Lock-crashAt)
			toWriter = append(toWriter, at.Writer-crashAt)
			toSent = append(toSent, sent.At-crashAt)
			toOnline = append(toOnline, at.Online-crashAt)
			toOther = append(toOther, other-crashAt)
			b.Logf("round %d: from the crash, ms: lock %.0f, writer %.0f, send done %.0f, online %.0f, Ana has it %.0f",
				i, at.Lock-crashAt, at.Writer-crashAt, sent.At-crashAt, at.Online-crashAt, other-crashAt)
			writer, follower = follower, openMessenger(b, br, "handover-bob", "&task="+task)
		}
		for _, tb := range []*tab{ana, writer, follower} {
			var got []string
			for _, text := range tb.timeline(task) {
				if strings.HasPrefix(text, "hand-over ") {
					got = append(got, text)
				}
			}
			if !slices.Equal(got, texts) {
				b.Errorf("%s's timeline holds %q; want %q, each once", tb.name, got, texts)
			}
		}
		for _, s := range [][]float64{toLock, toWriter, toSent, toOnline, toOther} {
			slices.Sort(s)
		}
		b.ReportMetric(toLock[rounds/2], "handover-lock-ms")
		b.ReportMetric(toWriter[rounds/2], "handover-writer-ms")
		b.ReportMetric(toSent[rounds/2], "handover-send-ms")
		b.ReportMetric(toOnline[rounds/2], "handover-online-ms")
		b.ReportMetric(toOther[rounds/2], "handover-other-ms")
	}
}
