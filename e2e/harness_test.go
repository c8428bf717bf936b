package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/task-messenger/task-messenger/internal/chromium"
	"github.com/task-messenger/task-messenger/internal/wasmbuild"
	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

const (
	// evalTimeout bounds one script, one navigation or one poll.
	evalTimeout = 60 * time.Second
	// testPage is the minimal page TestMain writes beside static/'s files:
	// only the loader.
	testPage = "e2e.html"
)

// site is what TestMain built and serves.
var site struct {
	root      string // the repository root
	dir       string // the served directory
	url       string // http://127.0.0.1:PORT/
	wasmBytes int64  // taskmessenger.wasm
	gzipBytes int64  // taskmessenger.wasm.gz

	mu     sync.Mutex
	config relay.PageConfig // served at /config.json
	tap    *tap             // while set, every byte the server writes is kept
	fails  map[string]int   // the next requests for paths ending so answered 503 (failNext)
}

// A tap keeps what the site's server writes to its connections (the page,
// and every relayed frame: a server's websocket frames are not masked), up
// to maxTap bytes, for a test that searches the relay's traffic.
type tap struct {
	mu  sync.Mutex
	buf []byte
}

const maxTap = 256 << 20

// Bytes returns what the tap holds.
func (t *tap) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.buf)
}

// tapTraffic keeps what the site's server writes until the test ends.
func tapTraffic(t *testing.T) *tap {
	tp := &tap{}
	site.mu.Lock()
	site.tap = tp
	site.mu.Unlock()
	t.Cleanup(func() {
		site.mu.Lock()
		site.tap = nil
		site.mu.Unlock()
	})
	return tp
}

// tappedListener gives the site's connections a tap.
type tappedListener struct{ net.Listener }

func (l tappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tappedConn{c}, nil
}

type tappedConn struct{ net.Conn }

func (c tappedConn) Write(b []byte) (int, error) {
	site.mu.Lock()
	tp := site.tap
	site.mu.Unlock()
	if tp != nil {
		tp.mu.Lock()
		if len(tp.buf)+len(b) <= maxTap {
			tp.buf = append(tp.buf, b...)
		}
		tp.mu.Unlock()
	}
	return c.Conn.Write(b)
}

// pageConfig serves cfg at /config.json until the test ends.
func pageConfig(t testing.TB, cfg relay.PageConfig) {
	site.mu.Lock()
	site.config = cfg
	site.mu.Unlock()
	t.Cleanup(func() {
		site.mu.Lock()
		site.config = relay.PageConfig{}
		site.mu.Unlock()
	})
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	start := time.Now()
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "taskmessenger-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildSite(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// Loopback only, whatever -httptest.serve says.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// The page and the relay on one origin, as `make run` serves them.
	rs := relay.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), relay.DefaultLimits())
	defer rs.Close()
	mux := http.NewServeMux()
	mux.Handle("/relay", rs.Handler())
	mux.Handle("/config.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What `make run`'s relay serves (-devtools): a test may set it.
		site.mu.Lock()
		cfg := site.config
		site.mu.Unlock()
		relay.ConfigHandler(cfg).ServeHTTP(w, r)
	}))
	mux.Handle("/", failing(relay.StaticHandler(dir)))
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = tappedListener{ln}
	srv.Start()
	defer srv.Close()
	site.root, site.dir, site.url = root, dir, srv.URL+"/"
	if testing.Verbose() {
		fmt.Printf("e2e: built the module (%d bytes, %d gzipped) and serving %s at %s in %v\n",
			site.wasmBytes, site.gzipBytes, dir, site.url, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// failing answers 503 to a request whose path ends as a key of
// site.fails says, as many times as it says: a server restarting while a
// page loads.
func failing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site.mu.Lock()
		failed := false
		for k, n := range site.fails {
			if n > 0 && strings.HasSuffix(r.URL.Path, k) {
				site.fails[k]--
				failed = true
				break
			}
		}
		site.mu.Unlock()
		if failed {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// failNext has the site answer 503 to the next fails[suffix] requests
// whose path ends with suffix, until the test ends.
func failNext(tb testing.TB, fails map[string]int) {
	site.mu.Lock()
	site.fails = fails
	site.mu.Unlock()
	tb.Cleanup(func() {
		site.mu.Lock()
		site.fails = nil
		site.mu.Unlock()
	})
}

// failsLeft is how many failures of failNext are still to come.
func failsLeft() int {
	site.mu.Lock()
	defer site.mu.Unlock()
	left := 0
	for _, n := range site.fails {
		left += n
	}
	return left
}

// repoRoot walks up from the package directory to the module's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/task-messenger/task-messenger\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod of github.com/task-messenger/task-messenger) above the package directory")
		}
		dir = parent
	}
}

// buildSite fills dir with static/'s files, the module built for js/wasm,
// its gzipped copy, Go's wasm_exec.js and the test page.
func buildSite(root, dir string) error {
	entries, err := os.ReadDir(filepath.Join(root, "static"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		// Skip what `make build` may have left in static/: this run's
		// module and wasm_exec.js replace them.
		if !e.Type().IsRegular() || strings.HasPrefix(name, "taskmessenger.wasm") || name == "wasm_exec.js" {
			continue
		}
		if err := copyFile(filepath.Join(root, "static", name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	wasm := filepath.Join(dir, "taskmessenger.wasm")
	// The function names kept, for a CPU profile (CATCHUP_PROFILE).
	names := os.Getenv("E2E_WASM_NAMES") != ""
	if err := wasmbuild.Build(root, wasm, wasmbuild.Options{Names: names}); err != nil {
		return err
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %v", err)
	}
	if err := copyFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"), filepath.Join(dir, "wasm_exec.js")); err != nil {
		return err
	}
	if err := gzipFile(wasm, wasm+".gz"); err != nil {
		return err
	}
	page := "<!doctype html>\n<meta charset=\"utf-8\">\n<title>e2e</title>\n<script src=\"taskmessenger.js\"></script>\n"
	if err := os.WriteFile(filepath.Join(dir, testPage), []byte(page), 0o644); err != nil {
		return err
	}
	// As a deployment's files: written well before they are served, so
	// the relay names the module by its hash and lets browsers keep it for
	// good from the first request (relay.StaticHandler waits until files
	// settle, a build may still be writing them).
	built, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	old := time.Now().Add(-time.Hour)
	for _, e := range built {
		if err := os.Chtimes(filepath.Join(dir, e.Name()), old, old); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		n    *int64
	}{{wasm, &site.wasmBytes}, {wasm + ".gz", &site.gzipBytes}} {
		st, err := os.Stat(f.name)
		if err != nil {
			return err
		}
		*f.n = st.Size()
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.BestCompression)
	if err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// testSeed returns a fixed seed in text form (52 z-base-32 characters),
// different for every label.
func testSeed(label string) string {
	return identity.Seed(sha256.Sum256([]byte("taskmessenger e2e seed: " + label))).String()
}

// script fills a script template: every {{name}} becomes the JSON
// encoding of args[name].
func script(tmpl string, args map[string]any) string {
	for name, v := range args {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		tmpl = strings.ReplaceAll(tmpl, "{{"+name+"}}", string(b))
	}
	if i := strings.Index(tmpl, "{{"); i >= 0 {
		panic("script: unfilled " + tmpl[i:min(len(tmpl), i+20)])
	}
	return tmpl
}

// jsonValue decodes JSON text as encoding/json does a script's result, for
// comparisons with reflect.DeepEqual.
func jsonValue(text string) any {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		panic(err)
	}
	return v
}

// pageURL is the URL of a file of the served directory; query may be "".
func pageURL(file, query string) string {
	if query != "" {
		return site.url + file + "?" + query
	}
	return site.url + file
}

// logger writes to a test's log from chromedp's goroutines until stopped,
// so that nothing logs after the test has finished.
type logger struct {
	mu      sync.Mutex
	tb      testing.TB
	prefix  string
	stopped bool
}

func (l *logger) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.tb.Logf(l.prefix+format, args...)
	}
}

func (l *logger) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.tb.Errorf(l.prefix+format, args...)
	}
}

func (l *logger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

// lockedBuffer collects Chromium's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A browser is one Chromium process with a fresh profile directory.
type browser struct {
	ctx  context.Context
	args []string // Chromium's command line, without the program
	out  *lockedBuffer
	tabs int
}

// newBrowser starts Chromium with chromium.Flags and extraFlags ("name" or
// "name=value"); it stops (and its profile directory is removed) when the
// test ends.
func newBrowser(tb testing.TB, extraFlags ...string) *browser {
	tb.Helper()
	opts, err := chromium.Options(extraFlags...)
	if err != nil {
		tb.Fatalf("e2e: %v", err)
	}
	b := &browser{out: new(lockedBuffer)}
	opts = append(opts,
		chromedp.CombinedOutput(b.out),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			setProcAttr(cmd)
			b.args = slices.Clone(cmd.Args[1:])
		}),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	log := &logger{tb: tb, prefix: "chromedp: "}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(log.Logf))
	b.ctx = ctx
	tb.Cleanup(func() {
		log.stop()
		cancel()
		acancel()
		if dir := b.userDataDir(); dir != "" {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				tb.Errorf("e2e: Chromium's profile directory %s is still there after the browser stopped (%v)", dir, err)
			}
		}
		if tb.Failed() {
			// Without a D-Bus, Chromium complains on every start: drop that.
			var lines []string
			for line := range strings.Lines(b.out.String()) {
				if !strings.Contains(line, ":ERROR:dbus/") {
					lines = append(lines, line)
				}
			}
			out := strings.Join(lines, "")
			if len(out) > 8000 {
				out = "…" + out[len(out)-8000:]
			}
			tb.Logf("chromium %s\noutput:\n%s", strings.Join(b.args, " "), out)
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("e2e: starting %s: %v\n%s", chromium.Path, err, b.out.String())
	}
	return b
}

// userDataDir returns the --user-data-dir Chromium runs with.
func (b *browser) userDataDir() string {
	for _, a := range b.args {
		if v, ok := strings.CutPrefix(a, "--user-data-dir="); ok {
			return v
		}
	}
	return ""
}

// A tab is one page of a browser.
type tab struct {
	tb   testing.TB
	name string
	ctx  context.Context
	log  *logger
	stop func()

	mu         sync.Mutex
	strict     bool              // an uncaught exception fails the test
	wasm       *network.Response // the response that brought the module (moduleURL)
	console    []string
	exceptions []string
	changed    chan struct{} // receives when console or exceptions grow
}

// open opens a new tab (a chromedp child context, in a window of its own)
// and navigates it to url. The page's console, its uncaught exceptions and
// its failed loads go to the test log; an uncaught exception fails the test.
func (b *browser) open(tb testing.TB, url string) *tab {
	tb.Helper()
	b.tabs++
	ctx, cancel := chromedp.NewContext(b.ctx)
	t := &tab{tb: tb, name: fmt.Sprintf("tab%d", b.tabs), ctx: ctx, strict: true, changed: make(chan struct{}, 1)}
	t.log = &logger{tb: tb, prefix: t.name + ": "}
	var once sync.Once
	t.stop = func() { once.Do(func() { t.log.stop(); cancel() }) }
	tb.Cleanup(t.stop)
	if err := chromedp.Listen(ctx, t.event); err != nil {
		tb.Fatalf("e2e: opening a tab: %v", err)
	}
	t.navigate(url)
	return t
}

// close closes the tab cleanly (chromedp detaches and closes its target).
func (t *tab) close() { t.stop() }

func (t *tab) event(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, len(ev.Args))
		for i, a := range ev.Args {
			parts[i] = remoteText(a)
		}
		line := fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		t.mu.Lock()
		t.console = append(t.console, line)
		t.mu.Unlock()
		t.signal()
		t.log.Logf("%s", line)
	case *runtime.EventExceptionThrown:
		text := exceptionText(ev.ExceptionDetails)
		t.mu.Lock()
		t.exceptions = append(t.exceptions, text)
		strict := t.strict
		t.mu.Unlock()
		t.signal()
		if strict {
			t.log.Errorf("uncaught exception: %s", text)
		} else {
			t.log.Logf("uncaught exception: %s", text)
		}
	case *cdplog.EventEntryAdded:
		// Chromium asks every page for a favicon, which nobody serves.
		if e := ev.Entry; e != nil && (e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning) && !strings.HasSuffix(e.URL, "/favicon.ico") {
			t.log.Logf("%s %s: %s %s", e.Source, e.Level, e.Text, e.URL)
		}
	case *network.EventResponseReceived:
		if r := ev.Response; r != nil && moduleURL.MatchString(r.URL) {
			t.mu.Lock()
			t.wasm = r
			t.mu.Unlock()
		}
	}
}

func (t *tab) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	if o.UnserializableValue != "" {
		return string(o.UnserializableValue)
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	if d.URL != "" {
		s += fmt.Sprintf(" (%s:%d:%d)", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	}
	return s
}

// waitFor waits until cond, checked with the tab's lock held, is true.
func (t *tab) waitFor(what string, cond func() bool) {
	t.tb.Helper()
	deadline := time.NewTimer(evalTimeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		ok := cond()
		t.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-t.changed:
		case <-deadline.C:
			t.tb.Fatalf("e2e: %s: timed out waiting for %s", t.name, what)
		}
	}
}

func (t *tab) navigate(url string) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.tb.Fatalf("e2e: %s: navigate to %s: %v", t.name, url, err)
	}
}

// reload reloads the page and waits for its load event.
func (t *tab) reload() {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.tb.Fatalf("e2e: %s: reload: %v", t.name, err)
	}
}

// ready waits for window.taskmessenger.ready and returns readyMs.
func (t *tab) ready() float64 {
	t.tb.Helper()
	var ms float64
	t.run(`await window.taskmessenger.ready; return window.taskmessenger.readyMs`, &ms)
	return ms
}

// run evaluates body as the body of an async function in the page, awaits
// it and decodes its result (as JSON) into out, if out is not nil. A
// script that throws or rejects fails the test.
func (t *tab) run(body string, out any) {
	t.tb.Helper()
	if err := t.try(body, out); err != nil {
		t.tb.Fatalf("e2e: %s: %v\nscript:\n%s", t.name, err, body)
	}
}

// try is run returning the error.
func (t *tab) try(body string, out any) error {
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte]("(async () => {\n"+body+"\n})()", chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if raw == nil {
		return errors.New("the script returned undefined, want a JSON value")
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the script's result %.200s: %w", raw, err)
	}
	return nil
}

// poll waits until the JavaScript expression is truthy.
func (t *tab) poll(expr string) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(evalTimeout)))
	if err != nil {
		t.tb.Fatalf("e2e: %s: waiting for %s: %v\nthe page says: %s", t.name, expr, err, t.says())
	}
}

// says is what the page shows in its status and alert regions, its role,
// the composer, the last lines of the timeline and where it is scrolled,
// for a failure's message.
func (t *tab) says() string {
	ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('[role="status"], [role="alert"], [aria-live]')]
  .filter((e) => !e.closest('[hidden]') && e.textContent.trim() !== '').map((e) => '#' + e.id + ': ' + e.textContent.trim().slice(0, 200))
  .concat(['role: ' + (window.tmApp && window.tmApp.role ? window.tmApp.role() : '?'), 'shown: ' + (document.body.dataset.shown || 'no task')])
  .concat(document.getElementById('text') ? ['composer: ' + JSON.stringify(document.getElementById('text').value.slice(0, 200))] : [])
  .concat([...document.querySelectorAll('#timeline li.msg')].slice(-4).map((li) => 'timeline: ' + li.textContent.trim().slice(0, 120)))
  .concat((() => {
    const sc = document.getElementById('scroller')
    if (!sc) return []
    const top = sc.getBoundingClientRect().top
    const lis = [...document.querySelectorAll('#timeline li.msg')]
    const first = lis.find((li) => li.getBoundingClientRect().bottom > top)
    return ['scroller: top ' + Math.round(sc.scrollTop) + ' of ' + sc.scrollHeight + ', ' + sc.clientHeight + ' high, ' + lis.length + ' lines, first seen ' +
      (first ? lis.indexOf(first) + ' ' + (first.dataset.key || '') + ' ' + JSON.stringify(first.textContent.trim().slice(0, 60)) : 'none')]
  })())
  .join('; ')`))
	if err != nil {
		return "(not read: " + err.Error() + ")"
	}
	return out
}

// clickAt is the script that finds where to click the element the
// selector (a JSON string) names: the centre of its box once it is shown
// in the viewport, its box the same 50 ms apart, and nothing over it
// there; null until then.
const clickAt = `(async (sel, token) => {
  const el = document.querySelector(sel)
  if (!el || el.closest('[hidden]') || el.getClientRects().length === 0) return null
  // click checks the element got the click: the page can move between
  // here and the mouse event (a line appearing above), which then hits
  // something else. In sessionStorage: a click that reloads still counts.
  el.addEventListener('click', () => sessionStorage.setItem('tmClicked', token), { once: true, capture: true })
  el.scrollIntoView({ block: 'nearest', inline: 'nearest' })
  const a = el.getBoundingClientRect()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const b = el.getBoundingClientRect()
  if (a.x !== b.x || a.y !== b.y || a.width !== b.width || a.height !== b.height || b.width === 0 || b.height === 0) return null
  const x = b.x + b.width / 2
  const y = b.y + b.height / 2
  const hit = document.elementFromPoint(x, y)
  return hit !== null && (hit === el || el.contains(hit)) ? [x, y] : null
})`

// click clicks the element the CSS selector names with the mouse, as a
// person would: once it is visible and has stopped moving, at its centre,
// while nothing covers it there; again if the click did not reach it.
// (Clicking where the element was found a moment before hit whatever a
// line appearing in the header had moved under the pointer.)
func (t *tab) click(selector string) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	sel, _ := json.Marshal(selector)
	for try := 0; ; try++ {
		token := fmt.Sprintf("%q", fmt.Sprintf("%d-%d", time.Now().UnixNano(), try))
		at, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](clickAt+"("+string(sel)+", "+token+")", chromedp.EvalAwaitPromise))
		if err == nil && len(at) == 2 {
			if err = chromedp.Do(ctx, chromedp.MouseClickXY(at[0], at[1])); err == nil {
				hit, err2 := chromedp.Run(ctx, chromedp.Evaluate[bool]("sessionStorage.getItem('tmClicked') === "+token))
				if err = err2; err == nil && hit {
					return
				}
				if err == nil {
					err = errors.New("the click hit something else")
				}
			}
		}
		if ctx.Err() != nil {
			t.tb.Fatalf("e2e: %s: click %s: not visible, still or uncovered within %v (%v)\nthe page says: %s", t.name, selector, evalTimeout, err, t.says())
		}
	}
}

// crash closes the tab abruptly: Target.closeTarget from the browser, with
// whatever the page was doing still in flight; it returns once the target
// is detached.
func (t *tab) crash() {
	t.tb.Helper()
	c := chromedp.FromContext(t.ctx)
	if c == nil || c.Target == nil {
		t.tb.Fatalf("e2e: %s: no target to close", t.name)
	}
	detached, err := chromedp.Detached(t.ctx)
	if err != nil {
		t.tb.Fatalf("e2e: %s: %v", t.name, err)
	}
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: c.Target.TargetID}); err != nil {
		t.tb.Fatalf("e2e: %s: Target.closeTarget: %v", t.name, err)
	}
	select {
	case <-detached:
	case <-ctx.Done():
		t.tb.Fatalf("e2e: %s: the closed target did not detach: %v", t.name, ctx.Err())
	}
	t.stop()
}

// screenshot saves a PNG of the viewport to artifacts/NAME at the
// repository root and returns its path. Not of the whole page: a capture
// beyond the viewport lays the page out again at another size, which set
// the timeline's scroller back to its top (measured in
// TestUIStateSurvivesReload, which tests that the page keeps its place).
func (t *tab) screenshot(name string) string {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.tb.Fatalf("e2e: %s: screenshot: %v", t.name, err)
	}
	dir := filepath.Join(site.root, "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.tb.Fatal(err)
	}
	return path
}

// moduleURL matches the module's URL: taskmessenger.HASH.wasm as the relay
// names it (relay.ModuleName), or taskmessenger.wasm.
var moduleURL = regexp.MustCompile(`/taskmessenger(\.[0-9a-f]{16})?\.wasm$`)

// wasmResponse returns the response that brought the module.
func (t *tab) wasmResponse() *network.Response {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wasm
}

// header returns a response header, whatever its case.
func header(r *network.Response, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}
