package e2e

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// testValues are the three JSON values the tests add to a book: an
// object, a string and an array.
const testValues = `[{"text":"one","n":1}, "two", [3, {"x": true}, null]]`

// rejection is how the scripts report a call that should reject.
type rejection struct {
	Threw      bool   `json:"threw"`      // threw synchronously instead of rejecting
	NotPromise bool   `json:"notPromise"` // returned something other than a Promise
	Resolved   bool   `json:"resolved"`   // the promise resolved
	IsError    bool   `json:"isError"`    // rejected with an Error
	Message    string `json:"message"`
}

// jsRejects defines rejects(f) in a script: calls f, which must return a
// promise that rejects, and describes what happened as a rejection.
const jsRejects = `
const rejects = async (f) => {
  let p
  try { p = f() } catch (e) { return { threw: true, message: String(e && e.message) } }
  if (!(p instanceof Promise)) return { notPromise: true }
  try { await p; return { resolved: true } } catch (e) { return { isError: e instanceof Error, message: String(e && e.message) } }
}
`

// checkRejection checks r is a rejection with an Error whose message
// holds every word.
func checkRejection(t *testing.T, what string, r rejection, words ...string) {
	t.Helper()
	switch {
	case r.Threw:
		t.Errorf("%s threw synchronously (%q), want a rejected Promise", what, r.Message)
	case r.NotPromise:
		t.Errorf("%s did not return a Promise", what)
	case r.Resolved:
		t.Errorf("%s resolved, want a rejection", what)
	case !r.IsError:
		t.Errorf("%s rejected with %q, which is not an Error", what, r.Message)
	default:
		for _, w := range words {
			if !strings.Contains(r.Message, w) {
				t.Errorf("%s rejected with %q, want a message containing %q", what, r.Message, w)
			}
		}
	}
}

// checkPages checks pages are a book's: the genesis of name by author with
// key, then want.
func checkPages(t *testing.T, what string, pages []any, author, key, name string, want []any) {
	t.Helper()
	if len(pages) != len(want)+1 {
		t.Errorf("%s: %d pages, want %d", what, len(pages), len(want)+1)
		return
	}
	g, _ := pages[0].(map[string]any)
	if g["type"] != "genesis" || g["author"] != author || g["key"] != key || g["name"] != name {
		t.Errorf("%s: page 0 = %v, want {type: 'genesis', author: %s, key: %s, name: %q}", what, pages[0], author, key, name)
	}
	for i, w := range want {
		if !reflect.DeepEqual(pages[i+1], w) {
			t.Errorf("%s: page %d = %#v, want %#v", what, i+1, pages[i+1], w)
		}
	}
}

// TestJSAPISeedFlow drives the JS API as the seed's DB.js is used: a DB
// from a seed, a book, values, a hook, export and import into a second DB,
// and the errors of bad arguments.
func TestJSAPISeedFlow(t *testing.T) {
	b := newBrowser(t)
	tab := b.open(t, pageURL(testPage, ""))
	tab.ready()
	if r := tab.wasmResponse(); r == nil || header(r, "Content-Encoding") != "gzip" {
		t.Errorf("taskmessenger.wasm was not served gzipped: %+v", r)
	}
	seedA, seedB := testSeed("seedflow-a"), testSeed("seedflow-b")
	if len(seedA) != 52 || seedA == seedB {
		t.Fatalf("bad test seeds %q, %q", seedA, seedB)
	}
	values := jsonValue(testValues).([]any)

	// A book of three values on IndexedDB, watched by a hook.
	var first struct {
		ID       string `json:"id"`
		Key      string `json:"key"`
		Name     string `json:"name"`
		Writable bool   `json:"writable"`
		Indexes  []int  `json:"indexes"`
		Len      int    `json:"len"`
		Version  int    `json:"version"`
		Pages    []any  `json:"pages"`
	}
	tab.run(script(`
const tm = await window.taskmessenger.ready
const a = await tm.DB({{seedA}}, { storage: 'indexeddb', profile: 'seedflow-a' })
const s = window.s = { tm, a, events: [] }
a.on((e) => s.events.push(e))
const book = s.book = await a.author('notes')
const indexes = []
for (const v of {{values}}) indexes.push(await book.add(v))
const len = await book.len()
const pages = []
for (let i = 0; i < len; i++) pages.push(await book.get(i))
return { id: a.id, key: book.key, name: book.name, writable: book.writable, indexes, len, version: await book.version(), pages }
`, map[string]any{"seedA": seedA, "values": values}), &first)
	if first.ID == "" || len(first.Key) != 52 || first.Name != "notes" || !first.Writable {
		t.Errorf("db.id %q, book key %q, name %q, writable %v: want an id, a 52-character key, 'notes', true", first.ID, first.Key, first.Name, first.Writable)
	}
	if !slices.Equal(first.Indexes, []int{1, 2, 3}) {
		t.Errorf("add returned %v, want [1 2 3] (page 0 is the genesis)", first.Indexes)
	}
	if first.Len != 4 || first.Version != 3 {
		t.Errorf("len() = %d, version() = %d; want 4, 3", first.Len, first.Version)
	}
	checkPages(t, "a's book", first.Pages, first.ID, first.Key, "notes", values)

	// The hook saw the three appends, with their index and data. Hooks run
	// after the commit, so wait for them.
	tab.poll(`window.s.events.filter((e) => e.type === 'append' && e.key === window.s.book.key && e.index >= 1).length >= 3`)
	var events []struct {
		Type  string `json:"type"`
		Key   string `json:"key"`
		Index int    `json:"index"`
		Data  any    `json:"data"`
	}
	tab.run(`return window.s.events.filter((e) => e.key === window.s.book.key && e.index >= 1)`, &events)
	if len(events) != 3 {
		t.Errorf("the hook saw %d events of pages 1.., want 3: %+v", len(events), events)
	}
	for i, e := range events {
		if e.Type != "append" || e.Index != i+1 || i < len(values) && !reflect.DeepEqual(e.Data, values[i]) {
			t.Errorf("hook event %d = %+v, want {type: 'append', index: %d, data: %v}", i, e, i+1, values[min(i, len(values)-1)])
		}
	}

	// Export a, import into a second DB: the book is there, read-only.
	var second struct {
		ImportError string `json:"importError"`
		Imported    []struct {
			Key    string `json:"key"`
			Name   string `json:"name"`
			Own    bool   `json:"own"`
			Length int    `json:"length"`
		} `json:"imported"`
		ID       string    `json:"id"`
		Writable bool      `json:"writable"`
		Len      int       `json:"len"`
		Pages    []any     `json:"pages"`
		Add      rejection `json:"add"`
	}
	tab.run(jsRejects+script(`
const s = window.s
const ex = await s.a.export()
const b = s.b = await s.tm.DB({{seedB}}, { storage: 'indexeddb', profile: 'seedflow-b' })
let importError = '', imported
try {
  imported = await b.import(ex)
} catch (e) {
  importError = String(e && e.message)
}
const r = await b.reader(s.book.key)
const len = await r.len()
const pages = []
for (let i = 0; i < len; i++) pages.push(await r.get(i))
return { importError, imported, id: b.id, writable: r.writable, len, pages, add: await rejects(() => r.add({ not: 'allowed' })) }
`, map[string]any{"seedB": seedB}), &second)
	if second.ImportError != "" {
		t.Fatalf("b.import(a.export()) rejected: %s", second.ImportError)
	}
	if second.ID == "" || second.ID == first.ID {
		t.Errorf("the second DB's id is %q, a's is %q: want two different ids", second.ID, first.ID)
	}
	found := false
	for _, r := range second.Imported {
		if r.Key == first.Key {
			found = true
			if r.Own || r.Length != 4 || r.Name != "notes" {
				t.Errorf("import result for the book: %+v, want {own: false, length: 4, name: 'notes'}", r)
			}
		}
	}
	if !found {
		t.Errorf("import results %+v do not list the book %s", second.Imported, first.Key)
	}
	if second.Writable || second.Len != 4 {
		t.Errorf("b.reader(key): writable %v, len %d; want false, 4", second.Writable, second.Len)
	}
	checkPages(t, "b's replica", second.Pages, first.ID, first.Key, "notes", values)
	checkRejection(t, "add on a reader", second.Add, "unauthorized")

	// Bad arguments reject with an Error that says what is wrong.
	var bad map[string]rejection
	tab.run(jsRejects+`
const { tm, a, book } = window.s
return {
  noSeed: await rejects(() => tm.DB()),
  emptyName: await rejects(() => a.author('')),
  badKey: await rejects(() => a.reader('not-a-key')),
  negative: await rejects(() => book.get(-1)),
  beyond: await rejects(() => book.get(99)),
}`, &bad)
	checkRejection(t, "tm.DB()", bad["noSeed"], "seed")
	checkRejection(t, "db.author('')", bad["emptyName"], "author", "name")
	checkRejection(t, "db.reader('not-a-key')", bad["badKey"], "reader", "key")
	checkRejection(t, "book.get(-1)", bad["negative"], "get", "-1")
	checkRejection(t, "book.get(99)", bad["beyond"], "get", "99", "no such page")
}

// TestPersistenceAcrossReload: a profile's id and books survive a reload
// of the page (IndexedDB).
func TestPersistenceAcrossReload(t *testing.T) {
	b := newBrowser(t)
	tab := b.open(t, pageURL(testPage, ""))
	tab.ready()
	values := jsonValue(testValues).([]any)
	type state struct {
		ID    string `json:"id"`
		Key   string `json:"key"`
		Pages []any  `json:"pages"`
		Books []struct {
			Key    string `json:"key"`
			Name   string `json:"name"`
			Length int    `json:"length"`
		} `json:"books"`
	}
	const read = `
const pages = []
for (let i = 0, n = await book.len(); i < n; i++) pages.push(await book.get(i))
return { id: p.id, key: book.key, pages, books: await p.db.books() }`
	var before, after state
	tab.run(script(`
const tm = await window.taskmessenger.ready
const p = await tm.vault({ name: 'ana' })
const book = await p.db.author('notes')
for (const v of {{values}}) await book.add(v)
`+read, map[string]any{"values": values}), &before)
	if len(before.ID) != 52 {
		t.Fatalf("vault id %q, want 52 characters", before.ID)
	}
	checkPages(t, "before the reload", before.Pages, before.ID, before.Key, "notes", values)

	tab.reload()
	tab.ready()
	tab.run(`
const tm = await window.taskmessenger.ready
const p = await tm.vault({ name: 'ana' })
const book = await p.db.author('notes')
`+read, &after)
	if after.ID != before.ID {
		t.Errorf("after the reload vault({name: 'ana'}) has id %s, before %s", after.ID, before.ID)
	}
	if after.Key != before.Key {
		t.Errorf("after the reload the book's key is %s, before %s", after.Key, before.Key)
	}
	checkPages(t, "after the reload", after.Pages, before.ID, before.Key, "notes", values)
	if !slices.ContainsFunc(after.Books, func(b struct {
		Key    string `json:"key"`
		Name   string `json:"name"`
		Length int    `json:"length"`
	}) bool {
		return b.Key == before.Key && b.Name == "notes" && b.Length == 4
	}) {
		t.Errorf("after the reload books() = %+v, want the book 'notes' of 4 pages", after.Books)
	}
}

// TestCrashMidAppend closes a tab while thousands of appends are in
// flight; the profile reopens in a new tab with a valid prefix holding
// every acknowledged page.
func TestCrashMidAppend(t *testing.T) {
	const total = 5000
	b := newBrowser(t)
	tab := b.open(t, pageURL(testPage, ""))
	tab.ready()

	// The values: page i is { i, pad } with pad ~1 KiB made from i. The
	// adds are started in order, 25 at a time with a turn of the event
	// loop between, none awaited, so group commits of every size are in
	// flight when the tab goes.
	const pad = `const pad = (i) => ('page ' + i + ' ').repeat(100).slice(0, 1000)`
	tab.run(script(pad+`
const tm = await window.taskmessenger.ready
const p = await tm.vault({ name: 'crash' })
const book = await p.db.author('big')
const s = window.s = { done: 0, wrong: [], failed: [] }
;(async () => {
  for (let i = 1; i <= {{total}}; i++) {
    book.add({ i, pad: pad(i) }).then((got) => {
      s.done++
      if (got !== i && s.wrong.length < 10) s.wrong.push([i, got])
    }, (e) => { if (s.failed.length < 10) s.failed.push(String(e && e.message)) })
    if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve))
  }
})().catch((e) => s.failed.push(String(e && e.message)))
return null`, map[string]any{"total": total}), nil)
	tab.poll(`window.s.done > 200`)
	var atClose struct {
		Done   int      `json:"done"`
		Wrong  [][2]int `json:"wrong"`
		Failed []string `json:"failed"`
	}
	tab.run(`return window.s`, &atClose)
	tab.crash()
	t.Logf("closed the tab with %d of %d appends acknowledged", atClose.Done, total)
	if len(atClose.Wrong) > 0 || len(atClose.Failed) > 0 {
		t.Errorf("before the close: adds resolved with the wrong index %v, or failed %q", atClose.Wrong, atClose.Failed)
	}
	if atClose.Done >= total {
		t.Errorf("all %d appends were done before the close: nothing was interrupted", total)
	}

	// A new tab, same browser profile.
	tab2 := b.open(t, pageURL(testPage, ""))
	tab2.ready()
	var after struct {
		ID          string   `json:"id"`
		Len         int      `json:"len"`
		Bad         []string `json:"bad"`
		ImportError string   `json:"importError"`
		Imported    []struct {
			Key    string `json:"key"`
			Length int    `json:"length"`
		} `json:"imported"`
		Key        string `json:"key"`
		ReplicaLen int    `json:"replicaLen"`
	}
	tab2.run(script(pad+`
const tm = await window.taskmessenger.ready
const p = await tm.vault({ name: 'crash' })
const book = await p.db.author('big')
const len = await book.len()
const bad = []
const check = async (i) => {
  try {
    const v = await book.get(i)
    if (!v || v.i !== i || v.pad !== pad(i)) bad.push('page ' + i + ' is ' + JSON.stringify(v).slice(0, 60))
  } catch (e) { bad.push('page ' + i + ': ' + (e && e.message)) }
}
const all = []
for (let i = 1; i < len; i++) all.push(check(i))
await Promise.all(all)
// The export verifies on import against the signed heads.
const ex = await p.db.export()
const other = await tm.DB({{seed}})
let importError = '', imported
try {
  imported = await other.import(ex)
} catch (e) {
  importError = String(e && e.message)
}
const replica = await other.reader(book.key)
return { id: p.id, len, bad: bad.slice(0, 10), importError, imported, key: book.key, replicaLen: await replica.len() }
`, map[string]any{"seed": testSeed("crash-other")}), &after)
	n := after.Len
	t.Logf("reopened: the book has %d pages (%d acknowledged before the close)", n, atClose.Done)
	if n <= 200 || n > total+1 {
		t.Errorf("after the crash the book has %d pages, want 201..%d", n, total+1)
	}
	if n-1 < atClose.Done {
		t.Errorf("after the crash the book has %d values, but %d adds were acknowledged before the close", n-1, atClose.Done)
	}
	if len(after.Bad) > 0 {
		t.Errorf("after the crash, pages are wrong or unreadable: %q", after.Bad)
	}
	if after.ImportError != "" {
		t.Fatalf("importing the crashed profile's export into a fresh memory DB rejected: %s", after.ImportError)
	}
	if !slices.ContainsFunc(after.Imported, func(r struct {
		Key    string `json:"key"`
		Length int    `json:"length"`
	}) bool {
		return r.Key == after.Key && r.Length == n
	}) {
		t.Errorf("import results %+v, want the book %s with %d pages", after.Imported, after.Key, n)
	}
	if after.ReplicaLen != n {
		t.Errorf("the imported replica has %d pages, want %d", after.ReplicaLen, n)
	}
}

// TestProfilesIsolated: two profiles in two tabs of one browser share
// nothing, and reset() of one leaves the other alone.
func TestProfilesIsolated(t *testing.T) {
	b := newBrowser(t)
	ta := b.open(t, pageURL(testPage, ""))
	tb := b.open(t, pageURL(testPage, ""))
	ta.ready()
	tb.ready()
	type book struct {
		Key    string `json:"key"`
		Name   string `json:"name"`
		Length int    `json:"length"`
	}
	type state struct {
		ID    string `json:"id"`
		Key   string `json:"key"`
		Books []book `json:"books"`
	}
	const open = `
const tm = await window.taskmessenger.ready
const p = window.p = await tm.vault({ name: {{name}} })
const b = await p.db.author({{book}})
await b.add({ owner: {{name}} })
return { id: p.id, key: b.key, books: await p.db.books() }`
	var a, bb state
	ta.run(script(open, map[string]any{"name": "iso-a", "book": "secret-a"}), &a)
	tb.run(script(open, map[string]any{"name": "iso-b", "book": "mine-b"}), &bb)
	if a.ID == "" || a.ID == bb.ID {
		t.Fatalf("profiles iso-a and iso-b have ids %q and %q, want two different ids", a.ID, bb.ID)
	}
	for _, x := range bb.Books {
		if x.Key == a.Key || x.Name == "secret-a" {
			t.Errorf("iso-b's books() lists iso-a's book: %+v", bb.Books)
		}
	}
	if !slices.ContainsFunc(bb.Books, func(x book) bool { return x.Key == bb.Key && x.Length == 2 }) {
		t.Errorf("iso-b's books() = %+v, want its book mine-b of 2 pages", bb.Books)
	}

	// reset() deletes a's data; reopened, it is a new profile.
	var reopened state
	ta.run(`
await window.p.db.reset()
const tm = await window.taskmessenger.ready
const p = await tm.vault({ name: 'iso-a' })
return { id: p.id, books: await p.db.books() }`, &reopened)
	if reopened.ID == "" || reopened.ID == a.ID {
		t.Errorf("iso-a after reset() has id %q, before %q: want a new id", reopened.ID, a.ID)
	}
	for _, x := range reopened.Books {
		if x.Name != "audit" {
			t.Errorf("iso-a after reset() has books %+v, want none but its new audit book", reopened.Books)
			break
		}
	}

	// b is intact, in its open DB and after a reload.
	const check = `
const p = window.p
const b = await p.db.author('mine-b')
return { id: p.id, key: b.key, books: await p.db.books(), page: await b.get(1) }`
	var still struct {
		state
		Page map[string]any `json:"page"`
	}
	tb.run(check, &still)
	tb.reload()
	tb.ready()
	var reloaded struct {
		state
		Page map[string]any `json:"page"`
	}
	tb.run(`window.p = await (await window.taskmessenger.ready).vault({ name: 'iso-b' })`+check, &reloaded)
	for _, s := range []struct {
		when string
		st   state
		page map[string]any
	}{{"with its DB open", still.state, still.Page}, {"after a reload", reloaded.state, reloaded.Page}} {
		if s.st.ID != bb.ID || s.st.Key != bb.Key || s.page["owner"] != "iso-b" ||
			!slices.ContainsFunc(s.st.Books, func(x book) bool { return x.Key == bb.Key && x.Length == 2 }) {
			t.Errorf("iso-b after iso-a's reset(), %s: %+v, page 1 %v; want id %s, book %s of 2 pages, {owner: 'iso-b'}",
				s.when, s.st, s.page, bb.ID, bb.Key)
		}
	}
}

// TestHooksOnOff: app.on's hooks of an event run in the order they were
// added, the function on returns stops its hook alone, and a hook added
// later gets the events after it. The app's methods return promises that
// settle with what the call returned or rejected with; their arguments
// are taken as they are at the call, and one JSON cannot hold rejects it.
func TestHooksOnOff(t *testing.T) {
	br := newBrowser(t)
	tab := openMessenger(t, br, "hooks", "")
	var got struct {
		Seen     []string  `json:"seen"`
		Promise  bool      `json:"promise"`
		Rejected rejection `json:"rejected"`
		Page     int       `json:"page"`
		BigInt   rejection `json:"bigint"`
	}
	tab.run(jsRejects+`const app = window.tmApp
const t = await app.createTask({ title: 'hooks' })
const seen = []
const text = (ev) => ev.message && ev.message.data && ev.message.data.text
const note = (name) => (ev) => { if (text(ev) && !seen.includes(name + ':' + text(ev))) seen.push(name + ':' + text(ev)) }
const shown = (want) => new Promise((resolve) => { const off = app.on('message', (ev) => { if (text(ev) === want) { off(); resolve() } }) })
const offA = app.on('message', note('a'))
app.on('message', note('b'))
let w = shown('one')
const sent = app.send(t.id, 'one')
const promise = sent instanceof Promise
await sent
await w
offA()
app.on('message', note('c'))
w = shown('two')
await app.send(t.id, 'two')
await w
const opts = { limit: 1 }
const paged = app.timeline(t.id, opts)
opts.limit = 50 // after the call: not what it asked for
const page = (await paged).length
return { seen, promise, rejected: await rejects(() => app.send('no such task', 'x')), page, bigint: await rejects(() => app.timeline(t.id, { limit: 1n })) }`, &got)
	if want := []string{"a:one", "b:one", "b:two", "c:two"}; !slices.Equal(got.Seen, want) {
		t.Errorf("hooks saw %q, want %q", got.Seen, want)
	}
	if !got.Promise {
		t.Error("app.send did not return a Promise")
	}
	checkRejection(t, "send to no task", got.Rejected)
	if got.Page != 1 {
		t.Errorf("timeline(task, {limit: 1}), the limit changed after the call: %d messages, want 1", got.Page)
	}
	checkRejection(t, "timeline with a BigInt", got.BigInt, "timeline", "not a JSON value", "BigInt")
}
