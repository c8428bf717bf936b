package e2e

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
)

// A stoppableSite is a copy of the e2e site (page, module, relay, config)
// on an address of its own that it keeps: a test stops it, as when the
// relay is down, and starts it again.
type stoppableSite struct {
	tb   testing.TB
	dir  string // the served copy of site.dir: a test may change its files
	addr string // 127.0.0.1:port, the same across restarts
	srv  *http.Server
	rs   *relay.Server
}

func newStoppableSite(tb testing.TB) *stoppableSite {
	tb.Helper()
	s := &stoppableSite{tb: tb, dir: tb.TempDir(), addr: relaytest.FreeAddr(tb)}
	entries, err := os.ReadDir(site.dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := copyFile(filepath.Join(site.dir, e.Name()), filepath.Join(s.dir, e.Name())); err != nil {
				tb.Fatal(err)
			}
		}
	}
	tb.Cleanup(s.stop)
	s.start()
	return s
}

// url is the address of a page of the site.
func (s *stoppableSite) url(file, query string) string {
	return "http://" + s.addr + "/" + file + "?" + query
}

// start serves the site (again) on its address, with a fresh relay.
func (s *stoppableSite) start() {
	s.tb.Helper()
	ln, err := net.Listen("tcp4", s.addr)
	if err != nil {
		s.tb.Fatalf("listening again on %s: %v", s.addr, err)
	}
	s.rs = relay.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), relay.DefaultLimits())
	mux := http.NewServeMux()
	mux.Handle("/relay", s.rs.Handler())
	mux.Handle("/config.json", relay.ConfigHandler(relay.PageConfig{}))
	mux.Handle("/", relay.StaticHandler(s.dir))
	s.srv = &http.Server{Handler: mux}
	go s.srv.Serve(ln)
}

// stop closes the listener, every connection and the relay: the server is gone.
func (s *stoppableSite) stop() {
	if s.srv == nil {
		return
	}
	s.srv.Close()
	s.rs.Close()
	s.srv, s.rs = nil, nil
}

// waitWorker waits until the page's service worker is active, its shell kept.
func (t *tab) waitWorker() {
	t.tb.Helper()
	t.run(`const reg = await navigator.serviceWorker.ready
const w = reg.active
if (w.state !== 'activated') await new Promise((ok) => w.addEventListener('statechange', () => { if (w.state === 'activated') ok() }))
return true`, nil)
}

// pollAcrossLoads waits until the expression is truthy in the tab's page,
// which may load another document meanwhile (a poll in the page would end
// with it).
func (t *tab) pollAcrossLoads(expr string) {
	t.tb.Helper()
	deadline := time.Now().Add(evalTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		if err := t.try("return !!("+expr+")", &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.tb.Fatalf("e2e: %s: waiting for %s across page loads: timed out", t.name, expr)
		}
		<-tick.C
	}
}

// TestOfflineApp: the service worker keeps the app. With the server
// stopped, a reload opens the page from it, shows the task and its
// timeline, says offline and takes a message, which reaches the other
// member once the server is back; a changed app is offered as a new
// version, taken on reload, and the other tab on the old one stops.
func TestOfflineApp(t *testing.T) {
	b := newBrowser(t)
	s := newStoppableSite(t)
	open := func(profile, query string) *tab {
		tb := b.open(t, s.url("index.html", "profile="+profile+query))
		tb.poll(`document.body.dataset.ready === '1'`)
		return tb
	}
	ana := open("off-ana", "")
	ana.waitWorker()
	var manifest string
	ana.run(`const r = await fetch('manifest.webmanifest'); const m = await r.json(); return r.headers.get('content-type') + ' ' + m.display`, &manifest)
	if manifest != "application/manifest+json standalone" {
		t.Errorf("the manifest: %q", manifest)
	}
	ana.typeText("#new-title", "Roof, offline", true)
	ana.poll(`document.getElementById('room-title').textContent === 'Roof, offline'`)
	ana.click("#copy-invite")
	ana.poll(`document.getElementById('invite-code').value.startsWith('tm2')`)
	var code, task string
	ana.run(`return document.getElementById('invite-code').value`, &code)
	ana.run(`return document.querySelector('.pick[aria-current="true"]').dataset.task`, &task)
	bob := open("off-bob", "")
	bob.typeText("#join-code", code, false)
	bob.click("#join")
	bob.poll(`document.getElementById('room-title').textContent === 'Roof, offline'`)
	ana.typeText("#text", "written online", true)
	bob.waitText("written online")

	// The server goes away; Ana's page reloads from the service worker.
	s.stop()
	ana.navigate(s.url("index.html", "profile=off-ana&task="+task))
	ana.poll(`document.body.dataset.ready === '1'`)
	ana.poll(`navigator.serviceWorker.controller !== null`)
	// The loader read the worker's copy of the module itself, not through
	// the worker's fetch handler (taskmessenger.js, kept).
	ana.poll(`window.taskmessenger.moduleFrom === 'cache'`)
	ana.waitText("written online")
	ana.poll(`document.getElementById('me-state').textContent === 'offline'`)
	var ms map[string]float64
	ana.run(`return { ready: window.taskmessenger.readyMs, page: window.taskmessenger.firstPageMs }`, &ms)
	t.Logf("opened from the service worker, the server down: module ready in %.0f ms, page usable %.0f ms after navigation", ms["ready"], ms["page"])
	ana.typeText("#text", "written with the server down", true)
	ana.waitText("written with the server down")
	t.Logf("screenshot: %s", ana.screenshot("offline-reloaded.png"))
	ana.checkA11y("offline, opened from the service worker")

	// The server is back: the message goes out.
	s.start()
	bob.waitText("written with the server down")
	bob.poll(`document.getElementById('announce').textContent.endsWith(': written with the server down')`) // said to screen readers

	// A new version of the app: the reloaded page offers it, takes it on
	// Reload; Bob's tab, on the old version, stops writing.
	css := filepath.Join(s.dir, "app.css")
	old, err := os.ReadFile(css)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(css, append(old, []byte("\n/* version 2 */\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	ana.reload()
	ana.poll(`!document.getElementById('update').hidden && document.getElementById('update').dataset.kind === 'ready'`)
	t.Logf("screenshot: %s", ana.screenshot("offline-new-version.png"))
	ana.run(`delete document.body.dataset.ready; return true`, nil)
	ana.click("#update-reload")
	ana.pollAcrossLoads(`document.body.dataset.ready === '1' && document.getElementById('update').hidden`)
	var v2 bool
	ana.run(`return (await (await fetch('app.css')).text()).includes('version 2')`, &v2)
	if !v2 {
		t.Errorf("after Reload the page still has the old app.css")
	}
	bob.poll(`document.getElementById('update').dataset.kind === 'stale' && document.getElementById('send').disabled`)
	t.Logf("screenshot: %s", bob.screenshot("offline-stale-tab.png"))
}

// TestOfflineNewerStore: a page whose module is older than the profile's
// store (a newer version upgraded its IndexedDB database) opens nothing
// and says to reload.
func TestOfflineNewerStore(t *testing.T) {
	b := newBrowser(t)
	// A newer version of the program made the store, from a page of the
	// origin that does not open the profile.
	tab := b.open(t, pageURL("icon.svg", ""))
	tab.run(`await new Promise((ok, fail) => {
  const r = indexedDB.open('taskmessenger-newer-store', 1000)
  r.onsuccess = () => { r.result.close(); ok() }
  r.onerror = () => fail(r.error)
  r.onblocked = () => fail(new Error('blocked'))
})
return true`, nil)
	tab.navigate(pageURL("index.html", "profile=newer-store"))
	tab.poll(`!document.getElementById('update').hidden && document.getElementById('update').dataset.kind === 'newer'`)
	var said string
	tab.run(`return document.getElementById('update-text').textContent + ' | ' + document.getElementById('me-state').textContent`, &said)
	if !strings.Contains(said, "newer version") {
		t.Errorf("the page says %q", said)
	}
	t.Logf("screenshot: %s", tab.screenshot("offline-newer-store.png"))
}
