package relay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
)

// workerShell fetches /sw.js and returns the Shell written into it.
func workerShell(t *testing.T, url string) relay.Shell {
	t.Helper()
	res, err := http.Get(url + "/sw.js")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("/sw.js: %s %q", res.Status, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "worker-src 'self'") {
		t.Errorf("/sw.js: CSP %q", res.Header.Get("Content-Security-Policy"))
	}
	_, rest, ok := strings.Cut(string(b), "const SHELL = ")
	line, _, _ := strings.Cut(rest, "\n")
	var sh relay.Shell
	if !ok || json.Unmarshal([]byte(line), &sh) != nil {
		t.Fatalf("/sw.js carries no shell: %q", b)
	}
	return sh
}

// TestServeWorker: /sw.js carries the shell's files and a version that
// changes with any of them, as ShellOf computes it.
func TestServeWorker(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sw.js", "'use strict'\nconst SHELL = \"__TM_SHELL__\"\n")
	write("index.html", "<!doctype html>")
	write("app.js", "1")
	write("debug.js", "not in the shell")
	srv := httptest.NewServer(relay.StaticHandler(dir))
	defer srv.Close()

	first := workerShell(t, srv.URL)
	if !slices.Equal(first.Files, []string{"index.html", "app.js"}) || len(first.Version) != 20 {
		t.Fatalf("shell %+v", first)
	}
	if want, err := relay.ShellOf(dir); err != nil || want.Version != first.Version {
		t.Fatalf("ShellOf %+v, %v; served %+v", want, err, first)
	}
	if again := workerShell(t, srv.URL); again.Version != first.Version {
		t.Errorf("the same files, another version: %s, %s", first.Version, again.Version)
	}
	write("app.js", "2") // the same size, perhaps the same modification time
	second := workerShell(t, srv.URL)
	if second.Version == first.Version {
		t.Errorf("app.js changed, the version did not: %s", second.Version)
	}
	write("taskmessenger.wasm", "\x00asm")
	if third := workerShell(t, srv.URL); third.Version == second.Version || !slices.Contains(third.Files, "taskmessenger.wasm") {
		t.Errorf("with the module: %+v", third)
	}
}

// TestShellTypes: the manifest and the icons go out with the types
// browsers want.
func TestShellTypes(t *testing.T) {
	srv := httptest.NewServer(relay.StaticHandler("../static"))
	defer srv.Close()
	for name, want := range map[string]string{
		"manifest.webmanifest": "application/manifest+json",
		"icon.svg":             "image/svg+xml",
		"icon-192.png":         "image/png",
	} {
		res, err := http.Get(srv.URL + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != want {
			t.Errorf("%s: %s %q, want %q", name, res.Status, res.Header.Get("Content-Type"), want)
		}
	}
}
