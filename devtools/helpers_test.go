package devtools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

// quiet is a logger that drops everything but errors.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a devtools server on 127.0.0.1 (httptest) and its base URLs.
type env struct {
	S    *devtools.Server
	HTTP *httptest.Server
	URL  string // http://127.0.0.1:port
	WS   string // ws://127.0.0.1:port/peer
}

func newEnv(t testing.TB, cfg devtools.Config) *env {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s := devtools.New(cfg)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &env{S: s, HTTP: hs, URL: hs.URL, WS: "ws" + strings.TrimPrefix(hs.URL, "http") + "/peer"}
}

func seed(n byte) identity.Seed {
	var s identity.Seed
	for i := range s {
		s[i] = n
	}
	return s
}

// openDB opens a profile on a fresh memory store.
func openDB(t testing.TB, n byte) *journal.DB {
	t.Helper()
	db, err := journal.Open(ctx, store.NewMemory(), seed(n), nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// runner runs a reporter until the test ends (or stop).
type runner struct {
	R    *report.Reporter
	stop func()
}

func startReporter(t testing.TB, e *env, db *journal.DB, alias string, tune func(*report.Config)) *runner {
	t.Helper()
	cfg := report.Config{URL: e.WS, DB: db, Alias: alias, Logger: quiet, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	r := report.New(cfg)
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(c)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return &runner{R: r, stop: stop}
}

// link replicates between two profiles over an in-memory port, reporting
// sync events and the port to their reporters.
func link(t testing.TB, a, b *journal.DB, ra, rb *report.Reporter) {
	t.Helper()
	pa, pb := port.Pipe(a.ID(), b.ID(), 64)
	ra.Port(b.ID(), true, "relay")
	rb.Port(a.ID(), true, "relay")
	sa := replication.NewSession(a, pa, replication.Config{Logger: quiet, OnEvent: func(e replication.Event) { ra.Sync(e, b.ID()) }})
	sb := replication.NewSession(b, pb, replication.Config{Logger: quiet, OnEvent: func(e replication.Event) { rb.Sync(e, a.ID()) }})
	c, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sa.Run(c); pa.Close() }()
	go func() { defer wg.Done(); sb.Run(c); pb.Close() }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// waitFor polls cond until it holds, or fails the test after 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// get fetches an API path into v and returns the status.
func (e *env) get(t testing.TB, path string, v any) int {
	t.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: content type %q: %s", path, ct, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// host is the server's host, as a reporter signs it.
func (e *env) host() string { return strings.TrimPrefix(e.URL, "http://") }

// token fetches the server's token, as the page does.
func (e *env) token(t testing.TB) string {
	t.Helper()
	var v struct{ Token, Header string }
	if st := e.get(t, "/api/token", &v); st != http.StatusOK || v.Token == "" || v.Header != devtools.TokenHeader {
		t.Fatalf("GET /api/token: %d %+v", st, v)
	}
	return v.Token
}

// post posts body to an API path as the devtools page does (its Origin,
// JSON, the token) and returns the status and the answer.
func (e *env) post(t testing.TB, path string, body []byte) (int, []byte) {
	t.Helper()
	return e.postWith(t, path, body, map[string]string{
		"Origin": e.URL, "Content-Type": "application/json", devtools.TokenHeader: e.token(t),
	})
}

// postWith posts body with exactly the headers given.
func (e *env) postWith(t testing.TB, path string, body []byte, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// book fetches GET /api/books/{key}.
func (e *env) book(t testing.TB, key identity.ID) *devtools.BookDetail {
	t.Helper()
	var d devtools.BookDetail
	if st := e.get(t, "/api/books/"+key.String(), &d); st != http.StatusOK {
		return nil
	}
	return &d
}

// bookIs returns a condition: the book has length n and status st.
func (e *env) bookIs(t testing.TB, key identity.ID, n uint64, st devtools.Status) func() bool {
	return func() bool {
		d := e.book(t, key)
		return d != nil && d.Length == n && d.Status == st
	}
}

// bookHolds is bookIs verified at length n with the server holding the
// last page too: a books frame lists the head (with the genesis) before
// the backfill brings the pages it covers.
func (e *env) bookHolds(t testing.TB, key identity.ID, n uint64) func() bool {
	return func() bool {
		d := e.book(t, key)
		return d != nil && d.Length == n && d.Status == devtools.StatusVerified && d.Retention.Last == n-1
	}
}

// treeHolds is a condition: the book is verified and its verified tree
// holds every page of its head (the books frame that lists the head
// comes before the backfill that brings the pages).
func (e *env) treeHolds(t testing.TB, key identity.ID) func() bool {
	return func() bool {
		d := e.book(t, key)
		return d != nil && d.Status == devtools.StatusVerified && d.Length > 0 && d.Tree == int64(d.Length)
	}
}

// message is a page in the messenger's standard format.
func message(by, to identity.ID, mid uint64, text string) []byte {
	return fmt.Appendf(nil, `{"head":[%q,%q,%d],"refs":{},"type":"chat","data":{"text":%q},"meta":{"date":1700000000000,"clock":%d}}`, by, to, mid, text, mid)
}

// taskName is the name of author's book for reader in a task.
func taskName(author, reader identity.ID, task string) string {
	return author.String() + "-" + reader.String() + "-" + task
}

// task is a task id (26 characters of z-base-32).
var task = room.TaskID{1, 2, 3}.String()
