package relay_test

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
)

func TestStaticHandler(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.wasm"), []byte("raw module"), 0o644)
	f, _ := os.Create(filepath.Join(dir, "m.wasm.gz"))
	zw := gzip.NewWriter(f)
	zw.Write([]byte("raw module"))
	zw.Close()
	f.Close()
	os.WriteFile(filepath.Join(dir, "a.js"), []byte("1"), 0o644)
	srv := httptest.NewServer(relay.StaticHandler(dir))
	defer srv.Close()

	// A transport that does not add or decode gzip by itself.
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	get := func(path, enc string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := get("/m.wasm", "gzip, deflate")
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("gzip: encoding %q type %q", res.Header.Get("Content-Encoding"), res.Header.Get("Content-Type"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "raw module" {
		t.Fatalf("gzip body %q", b)
	}
	res = get("/m.wasm", "")
	if b, _ := io.ReadAll(res.Body); res.Header.Get("Content-Encoding") != "" || string(b) != "raw module" {
		t.Fatalf("identity: %q %q", res.Header.Get("Content-Encoding"), b)
	}
	if res.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("identity type %q", res.Header.Get("Content-Type"))
	}
	res = get("/m.wasm", "br")
	if res.Header.Get("Content-Encoding") != "" {
		t.Fatal("served brotli that does not exist")
	}
	if res := get("/a.js", ""); res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("js type %q", res.Header.Get("Content-Type"))
	}
	if res := get("/missing", ""); res.StatusCode != 404 {
		t.Fatalf("missing file: %d", res.StatusCode)
	}
}

// TestPageHeaders: the page and /config.json carry the page's security
// headers: a CSP that allows only the page's own scripts (WebAssembly
// included), connections to its origin and loopback devtools, and no
// framing; nosniff; no referrer.
func TestPageHeaders(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.js"), []byte("1"), 0o644)
	mux := http.NewServeMux()
	mux.Handle("/", relay.StaticHandler(dir))
	mux.Handle("/config.json", relay.ConfigHandler(relay.PageConfig{Devtools: "ws://127.0.0.1:8081/peer"}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/", "/index.html", "/app.js", "/missing", "/config.json"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
			if path != "/config.json" && !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if path == "/config.json" && csp != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	// What the page's policy allows, directive by directive.
	dirs := map[string]string{}
	for _, d := range strings.Split(relay.PageCSP, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		dirs[name] = value
	}
	for name, want := range map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self' 'wasm-unsafe-eval'",
		"style-src":       "'self'",
		"img-src":         "'self' data: blob:",
		"connect-src":     "'self' ws://127.0.0.1:* ws://localhost:*",
		"frame-ancestors": "'none'",
		"form-action":     "'self'",
	} {
		if dirs[name] != want {
			t.Errorf("%s %q, want %q", name, dirs[name], want)
		}
	}
}

// TestStaticPageNoInline: the served page has no inline script or style,
// which its CSP would block.
func TestStaticPageNoInline(t *testing.T) {
	files, err := filepath.Glob("../static/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no pages in ../static: %v", err)
	}
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range regexp.MustCompile(`(?is)<script[^>]*>.*?</script>|<style.*?>|<[^>]+>`).FindAllString(string(b), -1) {
			if inline.MatchString(tag) {
				t.Errorf("%s: %q is inline, which the page's CSP refuses", f, tag)
			}
		}
	}
}

func TestCheckDevtoolsURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"ws://127.0.0.1:8081/peer":     true,
		"ws://localhost:8081/peer":     true,
		"ws://evil.example:8081/peer":  false,
		"wss://127.0.0.1:8081/peer":    false,
		"ws://127.0.0.1/peer":          false,
		"ws://[::1]:8081/peer":         false,
		"ws://u@127.0.0.1:8081/peer":   false,
		"http://127.0.0.1:8081/peer":   false,
		"ws://127.0.0.1.nip.io:1/peer": false,
	} {
		if err := relay.CheckDevtoolsURL(raw); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// cspDirectives splits a policy into its directives' values by name.
func cspDirectives(csp string) map[string]string {
	dirs := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		dirs[name] = value
	}
	return dirs
}

// TestPageCSPWith: the relays of a cluster are added to connect-src as
// origins, once each; every other directive stays; none keeps PageCSP.
func TestPageCSPWith(t *testing.T) {
	if csp, err := relay.PageCSPWith(); err != nil || csp != relay.PageCSP {
		t.Fatalf("no relays: %q, %v; want PageCSP", csp, err)
	}
	csp, err := relay.PageCSPWith("ws://127.0.0.1:8082/relay", "wss://node2.example.org/relay", "WSS://node2.example.org/other", "ws://[::1]:9000/")
	if err != nil {
		t.Fatal(err)
	}
	got, base := cspDirectives(csp), cspDirectives(relay.PageCSP)
	want := "'self' ws://127.0.0.1:* ws://localhost:* ws://127.0.0.1:8082 wss://node2.example.org ws://[::1]:9000"
	if got["connect-src"] != want {
		t.Errorf("connect-src %q, want %q", got["connect-src"], want)
	}
	for name, value := range base {
		if name != "connect-src" && got[name] != value {
			t.Errorf("%s %q, want %q as in PageCSP", name, got[name], value)
		}
	}
	if len(got) != len(base) {
		t.Errorf("%d directives, want %d", len(got), len(base))
	}
}

// TestCheckRelayURL: only ws:// and wss:// URLs with a host, and nothing
// that would widen or end a CSP source, are relay nodes' addresses.
func TestCheckRelayURL(t *testing.T) {
	for _, ok := range []string{"ws://127.0.0.1:8080/relay", "wss://relay.example.org/relay", "ws://localhost:8082", "ws://[::1]:8080/relay"} {
		if err := relay.CheckRelayURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "http://127.0.0.1:8080/relay", "https://x.org", "javascript:alert(1)", "ws:/relay", "ws://",
		"ws://*.example.org", "ws://*:8080", "ws://a.org/*", "ws://a.org 'unsafe-inline'", "ws://a.org;script-src *",
		"ws://a.org,ws://b.org", "ws://user:pw@a.org", "ws://a.org/?q=1", "ws://a.org/#x", "ws://a.org\t", "ws://a.org\n",
		"ws://a\\b.org", "ws://a.org/\"", "ws://a.org:port", "ws://é.org",
	} {
		if err := relay.CheckRelayURL(bad); !errors.Is(err, relay.ErrRelayURL) {
			t.Errorf("%q: %v, want ErrRelayURL", bad, err)
		}
		if _, err := relay.PageCSPWith("ws://127.0.0.1:8082", bad); !errors.Is(err, relay.ErrRelayURL) {
			t.Errorf("PageCSPWith %q: %v, want ErrRelayURL", bad, err)
		}
	}
}

// TestRelayURLHost: a node's host as the Origin of its pages names it.
func TestRelayURLHost(t *testing.T) {
	for raw, want := range map[string]string{
		"ws://127.0.0.1:8080/relay":       "127.0.0.1:8080",
		"wss://Relay.Example.org/relay":   "relay.example.org",
		"ws://relay.example.org:80/relay": "relay.example.org",
		"wss://relay.example.org:443":     "relay.example.org",
		"ws://[::1]:8082/relay":           "[::1]:8082",
	} {
		h, err := relay.RelayURLHost(raw)
		if err != nil || h.String() != want {
			t.Errorf("%q: %v, %v; want %s", raw, h, err, want)
		}
	}
	if _, err := relay.RelayURLHost("http://127.0.0.1:8080/relay"); !errors.Is(err, relay.ErrRelayURL) {
		t.Errorf("an http URL: %v, want ErrRelayURL", err)
	}
}

// TestLiveConfig: ConfigHandlerFunc serves the config of the moment, with
// the relays, and StaticHandlerCSP the policy of the moment.
func TestLiveConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	var mu sync.Mutex
	relays := []string{"ws://127.0.0.1:8080/relay"}
	now := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(relays)
	}
	mux := http.NewServeMux()
	mux.Handle("/config.json", relay.ConfigHandlerFunc(func() relay.PageConfig { return relay.PageConfig{Relays: now()} }))
	mux.Handle("/", relay.StaticHandlerCSP(dir, func() string {
		csp, err := relay.PageCSPWith(now()...)
		if err != nil {
			t.Error(err)
		}
		return csp
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	check := func(want []string) {
		t.Helper()
		res, b := get("/config.json")
		var cfg relay.PageConfig
		if err := json.Unmarshal(b, &cfg); err != nil || !slices.Equal(cfg.Relays, want) {
			t.Errorf("config %s (%v), want relays %q", b, err, want)
		}
		if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("config headers %v", res.Header)
		}
		res, _ = get("/")
		connect := cspDirectives(res.Header.Get("Content-Security-Policy"))["connect-src"]
		for _, u := range want {
			origin := strings.TrimSuffix(u, "/relay")
			if !strings.Contains(connect, " "+origin) {
				t.Errorf("page connect-src %q lacks %s", connect, origin)
			}
		}
	}
	check([]string{"ws://127.0.0.1:8080/relay"})
	mu.Lock()
	relays = append(relays, "ws://127.0.0.1:8082/relay")
	mu.Unlock()
	check([]string{"ws://127.0.0.1:8080/relay", "ws://127.0.0.1:8082/relay"})
	if _, b := get("/config.json"); !strings.Contains(string(b), `"relays":`) {
		t.Errorf("config %s has no relays key", b)
	}
}
