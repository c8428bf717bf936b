package relay_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
