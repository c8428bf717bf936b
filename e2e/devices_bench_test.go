package e2e

import (
	"os"
	"testing"
	"time"
)

// countJS counts the messages of a task's timeline through the page's
// API, a page of 1,000 at a time.
const countJS = `async (app, task) => {
  let count = 0, before
  for (;;) {
    const page = await app.timeline(task, before ? { before, limit: 1000 } : { limit: 1000 })
    count += page.length
    if (page.length < 1000) return count
    before = page[0].key
  }
}`

// BenchmarkLinkDevicePage (issue #14): Bob's browser holds a task of
// 10,000 messages; a second browser types the pairing code his page
// shows. ms/link is from the new browser's submit until its timeline
// (the JS API) holds all of them; ms/linked until it is Bob's device (the
// pairing, the bundle, the messenger open again); ms/held until it holds
// the pages (the whole timeline is read only then: reading 10,000
// messages on every poll would be most of what is measured).
// LINKPAGE_PROFILE=file.cpuprofile profiles the new browser's tab from
// the submit to the end, LINKPAGE_PROFILE_BOB Bob's tab.
func BenchmarkLinkDevicePage(b *testing.B) {
	const n = 10_000
	for range b.N {
		br := newBrowser(b)
		bob := openMessenger(b, br, "linkbench-bob", "")
		var task string
		bob.run(`return (await window.tmApp.createTask({ title: 'Ten thousand' })).id`, &task)
		args := map[string]any{"n": n, "task": task}
		bob.run(script(`const texts = []
for (let i = 0; i < 4096; i++) texts.push('a line of a long history ' + i)
for (let done = 0; done < {{n}}; ) {
  const k = Math.min(4096, {{n}} - done)
  done += await window.tmApp.sendMany({{task}}, texts.slice(0, k).map((t) => t + ' ' + done))
}
return true`, args), nil)
		var want int
		bob.run(script(`return await (`+countJS+`)(window.tmApp, {{task}})`, args), &want)
		want++ // the device's announcement
		code := bob.showLinkCode()

		nb := newBrowser(b)
		phone := openMessenger(b, nb, "linkbench-phone", "")
		phone.poll(`!document.getElementById('link-form').hidden`)
		phone.typeText("#link-input", code, false)
		stopProfile := phone.profile(os.Getenv("LINKPAGE_PROFILE"))
		stopBob := bob.profile(os.Getenv("LINKPAGE_PROFILE_BOB"))
		start := time.Now()
		phone.typeText("#link-label", "second browser", true)
		args["want"] = want
		phone.poll(script(`(async () => {
  try {
    const app = window.tmApp
    if (!app || (await app.person()) === app.id) return false
    window.linkedAt ??= performance.timeOrigin + performance.now()
    let held = 0
    for (const m of await app.members({{task}})) if (!m.self && m.have > 0) held += m.have - 1
    if (held < {{want}}) return false
    window.heldAt ??= performance.timeOrigin + performance.now()
    return (await (`+countJS+`)(app, {{task}})) === {{want}}
  } catch (e) { return false }
})()`, args))
		elapsed := time.Since(start)
		stopProfile()
		stopBob()
		var at struct{ Linked, Held float64 }
		phone.run(`return { linked: window.linkedAt, held: window.heldAt }`, &at)
		since := func(ms float64) float64 { return float64(time.UnixMilli(int64(ms)).Sub(start).Milliseconds()) }
		b.ReportMetric(float64(elapsed.Milliseconds()), "ms/link")
		b.ReportMetric(since(at.Linked), "ms/linked")
		b.ReportMetric(since(at.Held), "ms/held")
		b.ReportMetric(float64(want)/elapsed.Seconds(), "msgs/s")
	}
}
