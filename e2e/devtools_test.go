package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/relay"
)

// startDevtools runs a devtools server on 127.0.0.1 for the test.
func startDevtools(t *testing.T) *httptest.Server {
	t.Helper()
	return startDevtoolsWith(t, func(h http.Handler) http.Handler { return h })
}

// startDevtoolsWith runs a devtools server on 127.0.0.1 whose handler is
// wrapped by wrap (to observe its answers).
func startDevtoolsWith(t *testing.T, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	s := devtools.New(devtools.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(wrap(s.Handler()))
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() { hs.Close(); s.Close() })
	return hs
}

// getJSON fetches a devtools API path into out.
func getJSON(t *testing.T, base, path string, out any) int {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

type apiBook struct {
	Key     string   `json:"key"`
	Name    string   `json:"name"`
	Author  string   `json:"author"`
	Reader  string   `json:"reader"`
	Task    string   `json:"task"`
	Length  uint64   `json:"length"`
	Status  string   `json:"status"`
	Readers []string `json:"readers"`
}

type apiCopy struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Author string `json:"author"`
	Task   string `json:"task"`
	Role   string `json:"role"`
	Length uint64 `json:"length"`
	Status string `json:"status"`
}

// TestDevtoolsTwoTabs: Ana and Bob chat in two tabs that report to a
// devtools server, found as `make run` sets it up (the server's
// /config.json names it; the page is given nothing); its API lists both peers and the task's four shared
// books (two authored, two replicas) with the lengths the tabs have, all
// verified, and its page renders them (artifacts/devtools.png).
func TestDevtoolsTwoTabs(t *testing.T) {
	dt := startDevtools(t)
	pageConfig(t, relay.PageConfig{Devtools: "ws" + strings.TrimPrefix(dt.URL, "http") + "/peer"})
	b := newBrowser(t)
	bob := openMessenger(t, b, "dt-bob", "")
	ana := openMessenger(t, b, "dt-ana", "")
	var bobID, anaID, code, task string
	bob.run(`return window.tmApp.id`, &bobID)
	ana.run(`return window.tmApp.id`, &anaID)
	bob.run(`const t = await window.tmApp.createTask({ title: 'Inspect me' }); return await window.tmApp.invite(t.id)`, &code)
	ana.run(script(`return (await window.tmApp.join({{code}}, { timeout: 30000 })).id`, map[string]any{"code": code}), &task)
	ana.run(script(`await window.tmApp.send({{task}}, 'hello from Ana'); return true`, map[string]any{"task": task}), nil)
	bob.run(script(`await window.tmApp.send({{task}}, 'hello from Bob'); return true`, map[string]any{"task": task}), nil)

	// Both peers connected.
	deadline := time.Now().Add(evalTimeout)
	var peers struct {
		Peers []struct {
			ID        string `json:"id"`
			Alias     string `json:"alias"`
			Connected bool   `json:"connected"`
		} `json:"peers"`
	}
	for {
		getJSON(t, dt.URL, "/api/peers", &peers)
		n := 0
		for _, p := range peers.Peers {
			if p.Connected && (p.ID == anaID || p.ID == bobID) {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devtools peers: %+v", peers)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The task's shared books: ana→bob and bob→ana, each authored by one
	// and read by the other, verified, with the lengths the tabs have.
	want := map[string]string{ // name → author
		anaID + "-" + bobID + "-" + task: anaID,
		bobID + "-" + anaID + "-" + task: bobID,
	}
	tabLen := func(tb *tab, author string) uint64 {
		var ms []struct {
			ID     string `json:"id"`
			Length uint64 `json:"length"`
		}
		tb.run(script(`return await window.tmApp.members({{task}})`, map[string]any{"task": task}), &ms)
		for _, m := range ms {
			if m.ID == author {
				return m.Length
			}
		}
		return 0
	}
	var last string
	for {
		ok := true
		var desc []string
		for _, who := range []struct {
			id  string
			tab *tab
		}{{anaID, ana}, {bobID, bob}} {
			var p struct {
				Books []apiCopy `json:"books"`
			}
			if code := getJSON(t, dt.URL, "/api/peers/"+who.id, &p); code != http.StatusOK {
				t.Fatalf("GET /api/peers/%s: %d", who.id, code)
			}
			for name, author := range want {
				found := false
				for _, c := range p.Books {
					if c.Name != name {
						continue
					}
					found = true
					role := "reader"
					if author == who.id {
						role = "author"
					}
					// The tabs' view of the book: the reader's replica length.
					var tabL uint64
					if role == "reader" {
						tabL = tabLen(who.tab, author)
					} else {
						other := ana
						if who.tab == ana {
							other = bob
						}
						tabL = tabLen(other, author)
					}
					desc = append(desc, fmt.Sprintf("%s %s %s len %d (tab %d) %s", who.id[:8], role, name[:8], c.Length, tabL, c.Status))
					if c.Role != role || c.Status != "verified" || c.Length != tabL || c.Length < 3 {
						ok = false
					}
				}
				if !found {
					ok = false
					desc = append(desc, who.id[:8]+" lacks "+name[:8])
				}
			}
		}
		last = strings.Join(desc, "\n")
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devtools books:\n%s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var books struct {
		Books []apiBook `json:"books"`
	}
	getJSON(t, dt.URL, "/api/books?task="+task, &books)
	shared := 0
	for _, bk := range books.Books {
		if _, ok := want[bk.Name]; ok {
			shared++
			if bk.Status != "verified" {
				t.Errorf("book %s: %s", bk.Name[:8], bk.Status)
			}
		}
	}
	if shared != 2 {
		t.Errorf("GET /api/books?task= lists %d of the 2 shared books: %+v", shared, books.Books)
	}
	// Bad requests.
	var e struct {
		Error string `json:"error"`
	}
	if code := getJSON(t, dt.URL, "/api/peers/nobody", &e); code != http.StatusNotFound || e.Error == "" {
		t.Errorf("unknown peer: %d %q", code, e.Error)
	}

	// The page renders them.
	page := b.open(t, dt.URL+"/")
	page.poll(script(`document.body.innerText.includes({{name}})`, map[string]any{"name": bobID[:8]}))
	// A shared book, one of its pages with its proof, and the sequence
	// diagram between Ana and Bob.
	page.poll(`[...document.querySelectorAll('#books tr.verified')].some((tr) => tr.textContent.includes('→'))`)
	page.run(`[...document.querySelectorAll('#books tr.verified')].find((tr) => tr.textContent.includes('→')).click(); return true`, nil)
	page.poll(`document.querySelectorAll('#pages tr').length > 1`)
	page.run(`[...document.querySelectorAll('#pages tr')].pop().click(); return true`, nil)
	page.poll(`document.getElementById('page-proof').textContent.length > 0 && document.getElementById('page-parsed').textContent.length > 0`)
	page.poll(`document.querySelector('#seq svg') !== null`)
	t.Logf("screenshot: %s", page.screenshot("devtools.png"))
}
