package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
)

// dbBook is a book as db.books() lists it.
type dbBook struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	Length   int    `json:"length"`
	Writable bool   `json:"writable"`
	Forked   bool   `json:"forked"`
}

// TestDebugPageFollows: Bob's messenger writes his profile; the debug page
// (tm.vault) open beside it follows it: it lists the profile's books, its
// hooks and table show the messenger's sends live, and its Add is carried
// out by the messenger's tab. Nothing forks: the devtools server, which
// verifies every head the writer signs, sees no forked book, and the
// messenger keeps writing after the debug page's appends.
func TestDebugPageFollows(t *testing.T) {
	dt := startDevtools(t)
	pageConfig(t, relay.PageConfig{Devtools: "ws" + strings.TrimPrefix(dt.URL, "http") + "/peer"})
	b := newBrowser(t)
	bob := openMessenger(t, b, "follow-bob", "")
	var task string
	bob.typeText("#new-title", "Followed", true)
	bob.poll(`document.querySelector('.pick[aria-current="true"]') !== null`)
	bob.run(`return document.querySelector('.pick[aria-current="true"]').dataset.task`, &task)
	bob.send(task, "before")

	dbg := b.open(t, pageURL("debug.html", "profile=follow-bob"))
	dbg.poll(`document.getElementById('status').textContent === 'profile follow-bob open through another tab, which writes it'`)
	var got struct {
		Role  string   `json:"role"`
		ID    string   `json:"id"`
		Books []dbBook `json:"books"`
		IOErr string   `json:"ioErr"`
	}
	dbg.run(`
let ioErr = ''
try { await profile.io.on(() => {}) } catch (e) { ioErr = e.message }
return { role: profile.db.role(), id: profile.id, books: await profile.db.books(), ioErr }`, &got)
	var bobID string
	bob.run(`return window.tmApp.id`, &bobID)
	if got.Role != "follower" || got.ID != bobID || bob.role() != "writer" {
		t.Fatalf("debug page: role %s, id %s; messenger: role %s, id %s; want follower, the messenger's id, writer", got.Role, got.ID, bob.role(), bobID)
	}
	if len(got.Books) < 3 {
		t.Fatalf("the debug page lists %d books, want the messenger's (audit, task): %+v", len(got.Books), got.Books)
	}
	if !strings.Contains(got.IOErr, "another tab writes it") {
		t.Errorf("io.on in the following debug page: %q, want an error saying another tab writes the profile", got.IOErr)
	}
	dbg.poll(script(`document.querySelectorAll('#books tr').length === {{n}}`, map[string]any{"n": len(got.Books)}))

	// Live: the messenger sends; the debug page's hooks get the page
	// (sealed: the raw books hold ciphertext) and its table shows the
	// book grown.
	dbg.run(`window.seen = []; profile.db.on((e) => window.seen.push(e)); return true`, nil)
	var total int
	dbg.run(`return [...document.querySelectorAll('#books tr')].reduce((n, tr) => n + Number(tr.cells[2].textContent), 0)`, &total)
	bob.send(task, "live from the messenger")
	dbg.poll(`window.seen.some((e) => e.type === 'append' && e.data instanceof Uint8Array)`)
	var clear bool
	dbg.run(`return window.seen.some((e) => JSON.stringify(e).includes('live from the messenger'))`, &clear)
	if clear {
		t.Error("the debug page saw the messenger's page in the clear: not sealed")
	}
	dbg.poll(script(`[...document.querySelectorAll('#books tr')].reduce((n, tr) => n + Number(tr.cells[2].textContent), 0) > {{total}}`,
		map[string]any{"total": total}))

	// The debug page authors a book and appends through the messenger's tab.
	dbg.click("#add")
	dbg.poll(`document.getElementById('status').textContent === 'added page 1 to notes'`)
	var notes struct {
		Page  map[string]any `json:"page"`
		Len   int            `json:"len"`
		Books []dbBook       `json:"books"`
	}
	dbg.run(`
const book = await profile.db.author('notes')
return { page: await book.get(1), len: await book.len(), books: await profile.db.books() }`, &notes)
	if notes.Len != 2 || notes.Page["text"] != "hello" {
		t.Errorf("notes through the writer: len %d, page 1 %v; want 2, {text: hello}", notes.Len, notes.Page)
	}
	if dbg.run(`return profile.db.role()`, &got.Role); got.Role != "follower" || bob.role() != "writer" {
		t.Errorf("after the debug page's append: debug page %s, messenger %s", got.Role, bob.role())
	}
	var reset string
	dbg.run(`try { await profile.db.reset(); return 'done' } catch (e) { return e.message }`, &reset)
	if !strings.Contains(reset, "written by another tab") {
		t.Errorf("reset in the following debug page: %q, want a refusal saying another tab writes the profile", reset)
	}

	// The messenger still writes: no stale writer, no fork.
	dbg.run(`window.before = window.seen.length; return true`, nil)
	bob.send(task, "after")
	bob.waitText("after")
	dbg.poll(`window.seen.slice(window.before).some((e) => e.type === 'append' && e.data instanceof Uint8Array)`)
	dbg.run(`return { books: await profile.db.books() }`, &notes)
	for _, bk := range notes.Books {
		if bk.Forked {
			t.Errorf("book %s (%s) is forked", bk.Name, bk.Key[:8])
		}
	}
	// Devtools verifies every head Bob's writer reports: it gets to the
	// audit book's length the debug page sees, and nothing is forked.
	audit := 0
	for _, bk := range notes.Books {
		if bk.Name == "audit" && bk.Writable {
			audit = bk.Length
		}
	}
	if audit == 0 {
		t.Fatalf("the debug page lists no audit book: %+v", notes.Books)
	}
	var books struct {
		Books []apiBook `json:"books"`
	}
	deadline := time.Now().Add(evalTimeout)
	for {
		getJSON(t, dt.URL, "/api/books", &books)
		if slices.ContainsFunc(books.Books, func(bk apiBook) bool {
			return bk.Author == bobID && bk.Name == "audit" && bk.Length >= uint64(audit)
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devtools never saw Bob's audit book at length %d: %+v", audit, books.Books)
		}
		time.Sleep(50 * time.Millisecond) // polls the devtools server
	}
	for _, bk := range books.Books {
		if bk.Status == "forked" || bk.Status == "invalid" {
			t.Errorf("devtools: book %s (%s) is %s", bk.Name, bk.Key[:8], bk.Status)
		}
	}
}

// TestDebugPageYields: the debug page (tm.vault) opened first writes the
// profile; the messenger opened after it gets the profile (the debug page
// gives the lock up and follows it), works at once, and the debug page's
// book, written before, is still there and grows through the messenger.
func TestDebugPageYields(t *testing.T) {
	b := newBrowser(t)
	dbg := b.open(t, pageURL("debug.html", "profile=yield-cat"))
	dbg.poll(`document.getElementById('status').textContent === 'profile yield-cat open'`)
	dbg.click("#add")
	dbg.poll(`document.getElementById('status').textContent === 'added page 1 to notes'`)
	var id string
	dbg.run(`return profile.db.role() === 'writer' ? profile.id : ''`, &id)
	if id == "" {
		t.Fatal("the debug page alone does not write its profile")
	}

	cat := openMessenger(t, b, "yield-cat", "")
	cat.poll(`window.tmApp.role() === 'writer'`)
	dbg.poll(`profile.db.role() === 'follower'`)
	var catID string
	cat.run(`return window.tmApp.id`, &catID)
	if catID != id {
		t.Fatalf("the messenger's id %s, the debug page's %s", catID, id)
	}
	cat.typeText("#new-title", "After the debug page", true)
	cat.poll(`document.querySelector('.pick[aria-current="true"]') !== null`)

	dbg.click("#add")
	dbg.poll(`document.getElementById('status').textContent === 'added page 2 to notes'`)
	var ioErr string
	dbg.run(`try { await profile.io.on(() => {}); return '' } catch (e) { return e.message }`, &ioErr)
	if !strings.Contains(ioErr, "took the profile over") {
		t.Errorf("io.on in the debug page that gave the profile up: %q", ioErr)
	}
	var books []dbBook
	dbg.run(`return await profile.db.books()`, &books)
	for _, bk := range books {
		if bk.Forked {
			t.Errorf("book %s is forked", bk.Name)
		}
		if bk.Name == "notes" && bk.Length != 3 {
			t.Errorf("notes has %d pages, want 3 (genesis, one page from each writer)", bk.Length)
		}
	}
}

// TestDBInTwoTabs: tm.DB on one IndexedDB profile in two tabs: the first
// writes it, the second follows (its add is carried out by the first, its
// hook sees the first's appends); the same profile under another seed is
// refused while a tab writes it; when the first tab closes, the second
// writes the profile itself and its book goes on where it was.
func TestDBInTwoTabs(t *testing.T) {
	b := newBrowser(t)
	seed, other := testSeed("dbtabs"), testSeed("dbtabs-other")
	open := script(`const tm = await window.taskmessenger.ready
const db = window.db = await tm.DB({{seed}}, { storage: 'indexeddb', profile: 'dbtabs' })
window.seen = []
db.on((e) => window.seen.push(e))
window.book = await db.author('shared')
return db.role()`, map[string]any{"seed": seed})
	one := b.open(t, pageURL(testPage, ""))
	one.ready()
	two := b.open(t, pageURL(testPage, ""))
	two.ready()
	var r1, r2 string
	one.run(open, &r1)
	two.run(open, &r2)
	if r1 != "writer" || r2 != "follower" {
		t.Fatalf("roles %s, %s; want writer, follower", r1, r2)
	}
	var i int
	two.run(`return await window.book.add({ from: 'two' })`, &i)
	one.run(`return await window.book.add({ from: 'one' })`, &i)
	if i != 2 {
		t.Fatalf("the writer's add after the follower's is page %d, want 2", i)
	}
	two.poll(`window.seen.some((e) => e.type === 'append' && e.data && e.data.from === 'one')`)
	one.poll(`window.seen.some((e) => e.type === 'append' && e.data && e.data.from === 'two')`)

	var refused string
	two.run(script(`try { await (await window.taskmessenger.ready).DB({{other}}, { storage: 'indexeddb', profile: 'dbtabs' }); return '' } catch (e) { return e.message }`,
		map[string]any{"other": other}), &refused)
	if !strings.Contains(refused, "is open in another tab as") {
		t.Errorf("tm.DB of another seed on the profile another tab writes: %q", refused)
	}

	one.crash()
	two.poll(`window.db.role() === 'writer'`)
	var after struct {
		I     int              `json:"i"`
		Pages []map[string]any `json:"pages"`
	}
	two.run(`const i = await window.book.add({ from: 'two, writing' })
const pages = []
for (let j = 1; j <= i; j++) pages.push(await window.book.get(j))
return { i, pages }`, &after)
	if after.I != 3 || len(after.Pages) != 3 || after.Pages[0]["from"] != "two" || after.Pages[1]["from"] != "one" {
		t.Errorf("after the hand-over: add → %d, pages %v; want 3, two, one, two writing", after.I, after.Pages)
	}
}
