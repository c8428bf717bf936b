package e2e

import "testing"

// TestLoaderRetries: a server that fails the page's files a few times
// while it restarts (a relay node's restart during a page load) does not
// leave the page without its module: the loader asks again (0.5, 1 and
// 2 s apart) and the messenger opens.
func TestLoaderRetries(t *testing.T) {
	failNext(t, map[string]int{"/wasm_exec.js": 2, "/taskmessenger-helpers.js": 1, ".wasm": 1})
	b := newBrowser(t)
	tab := openMessenger(t, b, "loader", "")
	if n := failsLeft(); n != 0 {
		t.Fatalf("%d failures never asked for: the page loaded from elsewhere", n)
	}
	var id string
	tab.run(`return window.tmApp.id`, &id)
	if id == "" {
		t.Fatal("no app")
	}
	var hint bool
	tab.run(`return document.getElementById('no-script') !== null`, &hint)
	if hint {
		t.Fatal("the page's script ran and left the hint for a page without it")
	}
}

// TestLoaderGivesUp: a server that keeps failing a file: the page says
// so, and to reload, instead of staying blank.
func TestLoaderGivesUp(t *testing.T) {
	failNext(t, map[string]int{"/wasm_exec.js": 100})
	b := newBrowser(t)
	tab := b.open(t, pageURL("index.html", "profile=loader-down"))
	tab.poll(`document.getElementById('me-state').textContent.includes('cannot load') && document.getElementById('me-state').textContent.includes('reload the page')`)
}

// TestPageWithoutLoader: a server that fails the loader itself
// (taskmessenger.js, which the page cannot ask for again): the page says
// so, and to reload, instead of a TypeError.
func TestPageWithoutLoader(t *testing.T) {
	failNext(t, map[string]int{"/taskmessenger.js": 100})
	b := newBrowser(t)
	tab := b.open(t, pageURL("index.html", "profile=no-loader"))
	tab.poll(`document.getElementById('me-state').textContent === 'taskmessenger: cannot load taskmessenger.js: reload the page'`)
}

// TestPageWithoutScript: a server that fails the page's own script
// (app.js): the page, with no script left to say so, asks to reload
// (a hint CSS shows after a few seconds unless app.js removes it).
func TestPageWithoutScript(t *testing.T) {
	failNext(t, map[string]int{"/app.js": 100})
	b := newBrowser(t)
	tab := b.open(t, pageURL("index.html", "profile=no-script"))
	tab.poll(`(() => { const n = document.getElementById('no-script'); return n !== null && getComputedStyle(n).visibility === 'visible' && n.textContent.includes('reload the page') })()`)
}
