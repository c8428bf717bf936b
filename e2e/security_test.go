package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
)

// statusRecorder remembers the status of every POST a handler answered
// (the others, websockets among them, pass untouched).
type statusRecorder struct {
	next http.Handler

	mu       sync.Mutex
	statuses []int
	answered chan struct{} // receives when a matching request is answered
}

func (s *statusRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.next.ServeHTTP(w, r)
		return
	}
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.next.ServeHTTP(rw, r)
	s.mu.Lock()
	s.statuses = append(s.statuses, rw.status)
	s.mu.Unlock()
	select {
	case s.answered <- struct{}{}:
	default:
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// serveLoopback serves h on 127.0.0.1 until the test ends.
func serveLoopback(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(h)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

// TestCrossSiteCannotReset: a web page on another origin that the user
// happens to visit posts reset, import and export commands to the devtools
// server a messenger tab reports to (the peer id is in every invite code).
// The server refuses each (403) and the tab keeps its identity and tasks.
func TestCrossSiteCannotReset(t *testing.T) {
	rec := &statusRecorder{answered: make(chan struct{}, 16)}
	dt := startDevtoolsWith(t, func(h http.Handler) http.Handler { rec.next = h; return rec })
	pageConfig(t, relay.PageConfig{Devtools: "ws" + strings.TrimPrefix(dt.URL, "http") + "/peer"})
	b := newBrowser(t)
	victim := openMessenger(t, b, "sec-victim", "")
	var id string
	victim.run(`return window.tmApp.id`, &id)
	victim.typeText("#new-title", "Keep me", true)
	victim.poll(`document.querySelector('#timeline li[data-type="task"]') !== null`)
	waitPeer(t, dt.URL, id)

	evil := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>cat pictures</title><p>nothing to see")
	}))
	attack := b.open(t, evil.URL+"/")
	attacks := []string{
		`fetch({{base}} + '/reset', { method: 'POST', mode: 'no-cors' })`,
		`fetch({{base}} + '/reset', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{}' })`,
		`fetch({{base}} + '/export', { method: 'POST', mode: 'no-cors' })`,
		`fetch({{base}} + '/import', { method: 'POST', mode: 'no-cors', body: '{"books":[]}' })`,
	}
	for _, a := range attacks {
		attack.run(script(`await `+a+`.catch(() => null); return true`, map[string]any{"base": dt.URL + "/api/peers/" + id}), nil)
	}
	rec.mu.Lock()
	statuses := append([]int(nil), rec.statuses...)
	rec.mu.Unlock()
	if len(statuses) != len(attacks) {
		t.Fatalf("the devtools server answered %d of the %d cross-site commands", len(statuses), len(attacks))
	}
	for i, st := range statuses {
		if st != http.StatusForbidden {
			t.Errorf("cross-site command %d answered %d; want 403", i, st)
		}
	}
	// The victim keeps its identity and its task, also after a reload.
	victim.reload()
	victim.poll(`document.body.dataset.ready === '1'`)
	var after string
	victim.run(`return window.tmApp.id`, &after)
	if after != id {
		t.Fatalf("the tab's id changed from %s to %s: the profile was reset", id, after)
	}
	victim.poll(`[...document.querySelectorAll('#tree .pick')].some((b) => b.textContent.startsWith('Keep me'))`)
}

// waitPeer polls the devtools API until it lists the peer.
func waitPeer(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(evalTimeout)
	for {
		resp, err := http.Get(base + "/api/peers/" + id)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("devtools does not list peer %s after %v", id, evalTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling an API, not synchronising
	}
}

// TestLinkCannotRedirectReports: a link to the user's own page that names a
// devtools server or relay elsewhere (?devtools=ws://attacker/peer) is not
// obeyed: the tab reports only to loopback or same-origin addresses, goes
// online at its own relay, and says what it ignored. A loopback devtools
// address from the link is used, and the page says plainly that the tab
// reports to it.
func TestLinkCannotRedirectReports(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	attacker := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, "attacker", http.StatusTeapot)
	}))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(attacker.URL, "http://"))
	// attacker.test resolves to the attacker's server on loopback: the tab
	// sees a name that is neither loopback nor its own origin.
	b := newBrowser(t, "host-resolver-rules=MAP attacker.test 127.0.0.1")
	evil := fmt.Sprintf("ws://attacker.test:%s", port)
	tab := openMessenger(t, b, "sec-link", "&devtools="+evil+"/peer&relay="+evil+"/relay")
	var devtools string
	tab.run(`return window.tmApp.devtools`, &devtools)
	if devtools != "" {
		t.Errorf("the tab reports to %q from a link; want no devtools", devtools)
	}
	// It goes online at its own relay, not the link's.
	tab.poll(`document.getElementById('me-state').textContent === 'online'`)
	var note string
	tab.run(`return document.getElementById('report-note').hidden ? '' : document.getElementById('report-note').textContent`, &note)
	if !strings.Contains(note, "Ignored") || !strings.Contains(note, "attacker.test") {
		t.Errorf("the page's note is %q; want it to say the link's addresses were ignored", note)
	}
	mu.Lock()
	if hits != 0 {
		t.Errorf("the attacker's server got %d requests", hits)
	}
	mu.Unlock()

	// A loopback devtools server from a link is used, and shown.
	dt := startDevtools(t)
	local := "ws" + strings.TrimPrefix(dt.URL, "http") + "/peer"
	tab2 := openMessenger(t, b, "sec-link-local", "&devtools="+local)
	tab2.run(`return window.tmApp.devtools`, &devtools)
	if devtools != local {
		t.Errorf("the tab reports to %q; want the loopback %q from the link", devtools, local)
	}
	tab2.run(`return document.getElementById('report-note').hidden ? '' : document.getElementById('report-note').textContent`, &note)
	if !strings.Contains(note, "reports to devtools at "+local) {
		t.Errorf("the page's note is %q; want it to say the tab reports to %s", note, local)
	}
}

// TestBadMessageShownInvalid: one message the page cannot render (an
// author that is not a string) shows as an invalid message, one with a date
// out of range shows with an unknown time, and neither hides the messages
// after it (the module refuses such pages; this is the page's own guard).
func TestBadMessageShownInvalid(t *testing.T) {
	b := newBrowser(t)
	tab := openMessenger(t, b, "sec-bad", "")
	tab.run(`const orig = window.tmApp.timeline
window.tmApp.timeline = async (id, o) => {
  const page = await orig(id, o)
  const bad = (n, patch) => Object.assign({ id: 'bad/' + n, key: '0-bad-' + n, head: ['x', 'y', n], refs: {}, type: 'chat', data: { text: 'bad ' + n }, meta: { date: Date.now() } }, patch)
  return [bad(1, { meta: { date: 8.64e15 + 1 } }), bad(2, { head: [42, null, 2] }), bad(3, { data: { text: { no: 'string' } }, refs: { cause: [7] } }), ...page]
}
return true`, nil)
	tab.typeText("#new-title", "Roof", true)
	tab.poll(`document.querySelector('#timeline li[data-type="task"]') !== null`)
	var got struct {
		Invalid []string `json:"invalid"`
		Undated []string `json:"undated"`
	}
	tab.run(`return {
  invalid: [...document.querySelectorAll('#timeline li[data-type="invalid"]')].map((li) => li.dataset.id),
  undated: [...document.querySelectorAll('#timeline li.msg')].filter((li) => li.querySelector('time')?.textContent === 'unknown time').map((li) => li.dataset.id),
}`, &got)
	if !slices.Equal(got.Invalid, []string{"bad/2"}) {
		t.Errorf("messages shown as invalid: %q; want the one with a bad author (bad/2)", got.Invalid)
	}
	if !slices.Equal(got.Undated, []string{"bad/1"}) {
		t.Errorf("messages shown with an unknown time: %q; want the one with a date out of range (bad/1)", got.Undated)
	}
}
