package e2e

import (
	"testing"
)

// TestTwoTabsOverRelay: two profiles in two tabs go online at the page's
// relay; Ana's book for Bob reaches Bob's tab by itself (the ports run
// replication), and the app channel carries postMessage both ways.
func TestTwoTabsOverRelay(t *testing.T) {
	b := newBrowser(t)
	ana := b.open(t, pageURL(testPage, ""))
	bob := b.open(t, pageURL(testPage, ""))
	ana.ready()
	bob.ready()
	var bobID, anaID string
	bob.run(`
const tm = await window.taskmessenger.ready
const p = window.p = await tm.vault({ name: 'bob-io' })
window.got = []
await p.io.on((port) => { window.port = port; port.onmessage = (e) => { window.got.push(e.data); port.postMessage({ echo: e.data }) } })
return p.id`, &bobID)
	var key string
	ana.run(script(`
const tm = await window.taskmessenger.ready
const p = window.p = await tm.vault({ name: 'ana-io' })
const book = await p.db.author(p.id + '-' + {{bob}} + '-task1')
for (const v of ['one', 'two', 'three']) await book.add(v)
window.got = []
await p.io.on(() => {})
const port = window.port = await p.io.at({{bob}}, { timeout: 10000 })
port.onmessage = (e) => window.got.push(e.data)
await port.postMessage({ hello: 'bob' })
return book.key`, map[string]any{"bob": bobID}), &key)
	ana.run(`return window.p.id`, &anaID)

	// The book replicates to Bob's tab with no call from the page.
	bob.poll(script(`(async () => { const r = await window.p.db.reader({{key}}); return (await r.len()) === 4 && (await r.get(3)) === 'three' })()`, map[string]any{"key": key}))
	var info struct {
		Author   string `json:"author"`
		Verified bool   `json:"verified"`
		Writable bool   `json:"writable"`
	}
	bob.run(script(`const r = await window.p.db.reader({{key}}); return await r.info()`, map[string]any{"key": key}), &info)
	if info.Author != anaID || !info.Verified || info.Writable {
		t.Fatalf("Bob's copy: %+v, want verified, read-only, by Ana", info)
	}
	// The app channel: Ana's message reached Bob, Bob's echo reached Ana.
	bob.poll(`window.got.length === 1 && window.got[0].hello === 'bob'`)
	ana.poll(`window.got.length === 1 && window.got[0].echo.hello === 'bob'`)
	var by, to string
	bob.run(`return window.port.to`, &to)
	bob.run(`return window.port.by`, &by)
	if to != anaID || by != bobID {
		t.Fatalf("Bob's port by %s to %s; want by Bob to Ana", by, to)
	}

	// A new page from Ana while connected arrives too.
	ana.run(script(`const b = await window.p.db.author(window.p.id + '-' + {{bob}} + '-task1'); await b.add('four')`, map[string]any{"bob": bobID}), nil)
	bob.poll(script(`(async () => { const r = await window.p.db.reader({{key}}); return (await r.len()) === 5 })()`, map[string]any{"key": key}))
}
