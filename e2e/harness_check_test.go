package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/internal/chromium"
)

// TestHarness checks the harness itself: Chromium's command line, the
// module served gzipped from 127.0.0.1, and the capture of the console and
// of uncaught exceptions.
func TestHarness(t *testing.T) {
	b := newBrowser(t)

	var flags, other []string
	for _, a := range b.args {
		switch {
		case strings.HasPrefix(a, "--user-data-dir="), a == "--remote-debugging-pipe":
		case strings.HasPrefix(a, "--"):
			flags = append(flags, strings.TrimPrefix(a, "--"))
		default:
			other = append(other, a)
		}
	}
	slices.Sort(flags)
	want := slices.Sorted(slices.Values(chromium.Flags))
	if !slices.Equal(flags, want) {
		t.Errorf("Chromium's flags: %q, want exactly %q (plus --user-data-dir and --remote-debugging-pipe)", flags, want)
	}
	if !slices.Equal(other, []string{"about:blank"}) {
		t.Errorf("Chromium's other arguments: %q, want [about:blank]", other)
	}
	if b.userDataDir() == "" {
		t.Errorf("Chromium runs without a fresh --user-data-dir: %q", b.args)
	}

	tab := b.open(t, pageURL(testPage, ""))
	if ms := tab.ready(); ms <= 0 {
		t.Errorf("window.taskmessenger.readyMs = %v, want > 0", ms)
	}
	r := tab.wasmResponse()
	if r == nil {
		t.Fatal("saw no response for the module")
	}
	if r.Status != 200 || header(r, "Content-Encoding") != "gzip" || r.MimeType != "application/wasm" || r.RemoteIPAddress != "127.0.0.1" {
		t.Errorf("%s: status %d, Content-Encoding %q, type %q, from %s; want 200, gzip, application/wasm, 127.0.0.1",
			r.URL, r.Status, header(r, "Content-Encoding"), r.MimeType, r.RemoteIPAddress)
	}
	// Under its content's hash, kept for good: the browser keeps its
	// compiled code too.
	if !strings.Contains(r.URL, "/taskmessenger.") || strings.HasSuffix(r.URL, "/taskmessenger.wasm") ||
		header(r, "Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("%s: Cache-Control %q; want the hashed name, immutable", r.URL, header(r, "Cache-Control"))
	}

	var version int
	tab.run(`const tm = await window.taskmessenger.ready; return tm.version`, &version)
	if version != 1 {
		t.Errorf("tm.version = %d, want 1", version)
	}

	tab.run(`console.error('e2e-probe', 42); return null`, nil)
	tab.waitFor("the console line", func() bool { return slices.Contains(tab.console, "console.error: e2e-probe 42") })

	tab.mu.Lock()
	tab.strict = false
	tab.mu.Unlock()
	tab.run(`setTimeout(() => { throw new Error('e2e-uncaught') }); return null`, nil)
	tab.waitFor("the uncaught exception", func() bool {
		return slices.ContainsFunc(tab.exceptions, func(s string) bool { return strings.Contains(s, "e2e-uncaught") })
	})

	if err := tab.try(`throw new Error('e2e-thrown')`, nil); err == nil || !strings.Contains(err.Error(), "e2e-thrown") {
		t.Errorf("a throwing script gave %v, want an error with its message", err)
	}
	var n int
	if err := tab.try(`return undefined`, &n); err == nil {
		t.Error("a script returning undefined decoded without an error")
	}
}
