package devtools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// TestAPIErrors: unknown ids are 404, bad query values 400, both JSON.
func TestAPIErrors(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	startReporter(t, e, db, "ana", nil)
	waitFor(t, "book verified, its genesis in the tree", e.treeHolds(t, b.Key()))
	other := openDB(t, 9).ID().String()
	key := b.Key().String()
	tests := []struct {
		path   string
		status int
	}{
		{"/api/peers/" + other, 404},
		{"/api/peers/nope", 404},
		{"/api/books/" + other, 404},
		{"/api/books/" + other + "/pages", 404},
		{"/api/books/" + other + "/proof?index=0", 404},
		{"/api/books/x", 404},
		{"/api/nothing", 404},
		{"/api/books/" + key + "/proof?index=7", 404},
		{"/api/books?task=short", 400},
		{"/api/books?peer=nope", 400},
		{"/api/timeline?peer=" + other[:10], 400},
		{"/api/timeline?task=" + strings.Repeat("y", 27), 400},
		{"/api/timeline?limit=0", 400},
		{"/api/timeline?since=-1", 400},
		{"/api/books/" + key + "/pages?from=-1", 400},
		{"/api/books/" + key + "/pages?limit=0", 400},
		{"/api/books/" + key + "/pages?limit=1001", 400},
		{"/api/books/" + key + "/pages?from=abc", 400},
		{"/api/books/" + key + "/proof", 400},
		{"/api/books/" + key + "/proof?index=x", 400},
		{"/api/books/" + key + "/pages?from=0&limit=1000", 200},
		{"/api/books/" + key + "/proof?index=0", 200},
		{"/api/timeline?task=" + task + "&peer=" + other, 200},
	}
	for _, tc := range tests {
		var v map[string]any
		if st := e.get(t, tc.path, &v); st != tc.status {
			t.Errorf("GET %s: %d, want %d (%v)", tc.path, st, tc.status, v)
		} else if msg, ok := v["error"].(string); tc.status != 200 && (!ok || len(msg) < 5) {
			t.Errorf("GET %s: no error message: %v", tc.path, v)
		} else if tc.status == 200 && v["error"] != nil {
			t.Errorf("GET %s: an error with 200: %v", tc.path, v)
		}
	}
	if st, body := e.post(t, "/api/peers/"+other+"/reset", nil); st != 404 || !bytes.Contains(body, []byte(`"error"`)) {
		t.Errorf("reset of an unknown peer: %d %s", st, body)
	}
	if st, body := e.post(t, "/api/peers/"+db.ID().String()+"/explode", nil); st != 404 || !bytes.Contains(body, []byte(`"error":"no such endpoint"`)) {
		t.Errorf("unknown command: %d %s", st, body)
	}
}

// TestCommands: export, import and reset go to the peer and come back;
// an import that does not verify is refused before it reaches the peer.
func TestCommands(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	ana, bob := openDB(t, 1), openDB(t, 2)
	b, _ := ana.Author(ctx, "notes", nil)
	b.Append(ctx, []byte("one"), []byte("two"))
	var resets, imports atomic.Int32
	startReporter(t, e, ana, "ana", func(c *report.Config) {
		c.Reset = func(context.Context) error { resets.Add(1); return nil }
	})
	startReporter(t, e, bob, "bob", func(c *report.Config) {
		c.Import = func(ctx context.Context, data []byte) error {
			imports.Add(1)
			var ex journal.Export
			if err := json.Unmarshal(data, &ex); err != nil {
				return err
			}
			_, err := bob.Import(ctx, &ex)
			return err
		}
	})
	waitFor(t, "both connected", func() bool {
		var peers struct{ Peers []devtools.PeerView }
		e.get(t, "/api/peers", &peers)
		return len(peers.Peers) == 2 && peers.Peers[0].Connected && peers.Peers[1].Connected
	})

	st, export := e.post(t, "/api/peers/"+ana.ID().String()+"/export", nil)
	if st != 200 {
		t.Fatalf("export: %d %s", st, export)
	}
	var ex journal.Export
	if err := json.Unmarshal(export, &ex); err != nil || ex.Profile != ana.ID() || len(ex.Books) != 2 {
		t.Fatalf("export: %v %+v", err, ex)
	}

	if st, body := e.post(t, "/api/peers/"+bob.ID().String()+"/import", export); st != 200 {
		t.Fatalf("import: %d %s", st, body)
	}
	if r, err := bob.Get(ctx, b.Key()); err != nil || r.Len() != 3 {
		t.Fatalf("bob after the import: %v", err)
	}

	// A tampered export never reaches the peer.
	ex.Books[1].Pages[2] = []byte("TWO")
	bad, _ := json.Marshal(ex)
	if st, body := e.post(t, "/api/peers/"+bob.ID().String()+"/import", bad); st != 400 || !bytes.Contains(body, []byte("does not verify")) {
		t.Fatalf("tampered import: %d %s", st, body)
	}
	if st, _ := e.post(t, "/api/peers/"+bob.ID().String()+"/import", []byte("{nope")); st != 400 {
		t.Fatalf("import of bad JSON: %d", st)
	}
	if n := imports.Load(); n != 1 {
		t.Fatalf("%d imports reached bob, want 1", n)
	}

	if st, body := e.post(t, "/api/peers/"+ana.ID().String()+"/reset", nil); st != 200 || resets.Load() != 1 {
		t.Fatalf("reset: %d %s, %d resets", st, body, resets.Load())
	}
	// Bob has no reset: the peer's refusal comes back as 502.
	if st, body := e.post(t, "/api/peers/"+bob.ID().String()+"/reset", nil); st != 502 || !bytes.Contains(body, []byte("not supported")) {
		t.Fatalf("reset without a handler: %d %s", st, body)
	}
	var pd devtools.PeerDetail
	e.get(t, "/api/peers/"+ana.ID().String(), &pd)
	cmds := 0
	for _, ev := range pd.Events {
		if ev.Kind == "command" {
			cmds++
		}
	}
	if cmds != 2 {
		t.Fatalf("%d commands on ana's timeline, want 2", cmds)
	}
}

// TestCommandOffline: a peer that is gone cannot run a command (409).
func TestCommandOffline(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	r := startReporter(t, e, db, "ana", nil)
	waitFor(t, "connected", r.R.Connected)
	r.stop()
	waitFor(t, "offline", func() bool {
		var pd devtools.PeerDetail
		e.get(t, "/api/peers/"+db.ID().String(), &pd)
		return !pd.Connected && pd.Closed != ""
	})
	if st, body := e.post(t, "/api/peers/"+db.ID().String()+"/export", nil); st != 409 {
		t.Fatalf("export from an offline peer: %d %s", st, body)
	}
}

// TestRetention: a book keeps at most RetainPages pages and RetainEvents
// events, says how many it dropped, and keeps verifying.
func TestRetention(t *testing.T) {
	e := newEnv(t, devtools.Config{RetainPages: 10, RetainEvents: 5})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	rep := startReporter(t, e, db, "ana", nil)
	for i := range 50 {
		b.Append(ctx, fmt.Appendf(nil, "page %d", i))
		rep.R.Error(fmt.Errorf("event %d", i))
	}
	waitFor(t, "book verified, page 50 held", e.bookHolds(t, b.Key(), 51))
	d := e.book(t, b.Key())
	r := d.Retention
	if r.Pages != 10 || !r.Genesis || r.First != 42 || r.Last != 50 || r.Dropped != 41 || r.DroppedBelow != 42 || !strings.Contains(r.Note, "41 older pages") {
		t.Fatalf("retention: %+v", r)
	}
	if d.Events.Kept > 5 {
		t.Fatalf("events kept: %+v", d.Events)
	}
	var pages struct {
		Pages     []devtools.PageView
		Retention devtools.RetentionView
	}
	e.get(t, "/api/books/"+b.Key().String()+"/pages?from=0", &pages)
	if len(pages.Pages) != 10 || pages.Pages[0].Index != 0 || pages.Pages[1].Index != 42 || pages.Retention.Note == "" {
		t.Fatalf("pages: %d from %d", len(pages.Pages), pages.Pages[0].Index)
	}
	if g := pages.Pages[0]; g.Status != devtools.StatusVerified || g.Genesis == nil {
		t.Fatalf("the genesis: %+v", g)
	}
	// A dropped page still has a proof: the verified tree is kept.
	var proof devtools.ProofView
	if st := e.get(t, "/api/books/"+b.Key().String()+"/proof?index=3", &proof); st != 200 || !proof.Verified {
		t.Fatalf("proof of a dropped page: %d %+v", st, proof)
	}
	var tl struct {
		Events  []*devtools.Event
		Dropped uint64
	}
	waitFor(t, "the last event", func() bool {
		e.get(t, "/api/timeline", &tl)
		return len(tl.Events) > 0 && tl.Events[len(tl.Events)-1].Text == "event 49"
	})
	if tl.Dropped < 45 || len(tl.Events) > 3*5 { // three rings: the peer's and its two books'
		t.Fatalf("timeline: %d events, %d dropped", len(tl.Events), tl.Dropped)
	}
}

// TestDropped: a reporter whose queue overflows sends the count, and the
// API shows it.
func TestDropped(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db, peer := openDB(t, 1), openDB(t, 2)
	r := report.New(report.Config{URL: e.WS, DB: db, Logger: quiet, Queue: 4})
	for i := range 10 {
		r.Sync(replication.Event{Type: replication.TypeWant, Start: uint64(i), End: uint64(i + 1)}, peer.ID())
	}
	r.Error(errors.New("boom"))
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(c) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "dropped count", func() bool {
		var pd devtools.PeerDetail
		e.get(t, "/api/peers/"+db.ID().String(), &pd)
		return pd.Dropped == 7
	})
}

// TestPage: the page and its files are served with a strict CSP.
func TestPage(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("GET %s: %d, %d bytes, CSP %q", path, resp.StatusCode, len(b), resp.Header.Get("Content-Security-Policy"))
		}
	}
}
