package relay_test

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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
	module := relay.ModuleName(sha256.Sum256([]byte("\x00asm")))
	if third := workerShell(t, srv.URL); third.Version == second.Version || !slices.Contains(third.Files, module) || third.Module != module {
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

// TestModuleName: the module is served under the hash of its bytes,
// cached for good, compressed as the client accepts, with the loader
// naming it and the worker's shell keeping it under that name; an older
// module's name is not found, and a rebuilt module gets a new name.
func TestModuleName(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sw.js", "'use strict'\nconst SHELL = \"__TM_SHELL__\"\n")
	write(relay.LoaderFile, "const MODULE = \"__TM_MODULE__\"\n")
	write(relay.ModuleFile, "\x00asm one")
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("\x00asm one"))
	zw.Close()
	write(relay.ModuleFile+".gz", gz.String())
	srv := httptest.NewServer(relay.StaticHandler(dir))
	defer srv.Close()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	get := func(path, enc string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	one := relay.ModuleName(sha256.Sum256([]byte("\x00asm one")))
	if !regexp.MustCompile(`^taskmessenger\.[0-9a-f]{16}\.wasm$`).MatchString(one) {
		t.Fatalf("ModuleName %q", one)
	}
	if _, loader := get("/"+relay.LoaderFile, ""); loader != "const MODULE = \""+one+"\"\n" {
		t.Errorf("loader %q, want the name %s in it", loader, one)
	}
	sh := workerShell(t, srv.URL)
	if sh.Module != one || !slices.Contains(sh.Files, one) || slices.Contains(sh.Files, relay.ModuleFile) {
		t.Errorf("shell %+v, want the module as %s", sh, one)
	}
	res, body := get("/"+one, "gzip")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/wasm" || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("/%s: %s, type %q, encoding %q", one, res.Status, res.Header.Get("Content-Type"), res.Header.Get("Content-Encoding"))
	}
	if zr, err := gzip.NewReader(strings.NewReader(body)); err != nil {
		t.Fatal(err)
	} else if b, _ := io.ReadAll(zr); string(b) != "\x00asm one" {
		t.Fatalf("/%s: %q", one, b)
	}
	// Files just written may change again unseen (coarse times): cached
	// for good only once settled. Back-date them to see it.
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{relay.ModuleFile, relay.ModuleFile + ".gz", relay.LoaderFile, "sw.js"} {
		os.Chtimes(filepath.Join(dir, name), old, old)
	}
	if res, body := get("/"+one, ""); res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || body != "\x00asm one" {
		t.Errorf("/%s: Cache-Control %q, body %q", one, res.Header.Get("Cache-Control"), body)
	}
	if res, _ := get("/"+relay.LoaderFile, ""); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("loader: Cache-Control %q", res.Header.Get("Cache-Control"))
	}

	write(relay.ModuleFile, "\x00asm two") // rebuilt; its .gz is now an older build's
	two := relay.ModuleName(sha256.Sum256([]byte("\x00asm two")))
	if res, _ := get("/"+one, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("the older module's name: %s", res.Status)
	}
	if res, body := get("/"+two, "gzip"); res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "" || body != "\x00asm two" ||
		strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("/%s just rebuilt: %s, encoding %q, Cache-Control %q, body %q", two, res.Status, res.Header.Get("Content-Encoding"), res.Header.Get("Cache-Control"), body)
	}
	if _, loader := get("/"+relay.LoaderFile, ""); !strings.Contains(loader, two) {
		t.Errorf("loader %q, want %s", loader, two)
	}
	if res, _ := get("/taskmessenger.0123456789abcdef.wasm", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown module name: %s", res.Status)
	}
}
