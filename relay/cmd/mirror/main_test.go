//go:build !js

package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay/mirror"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(handler(func() mirror.Stats {
		return mirror.Stats{Authors: 2, Books: 5, Bytes: 4096, Refused: 1, Revocations: 3}
	}))
	t.Cleanup(srv.Close)
	get := func(path, host string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body := get("/metrics", "")
	for _, want := range []string{"mirror_authors 2\n", "mirror_books 5\n", "mirror_bytes 4096\n", "mirror_refused_total 1\n", "mirror_revocations 3\n"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics: %d, no %q in\n%s", code, want, body)
		}
	}
	if code, _ := get("/metrics", "rebound.example:80"); code != http.StatusMisdirectedRequest {
		t.Fatalf("a foreign Host: %d, want 421", code)
	}
}

// The identity is made once, kept 0600, and read back; a file of another
// size is refused.
func TestLoadSeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity")
	a, err := loadSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", fi, err)
	}
	if b, err := loadSeed(path); err != nil || b != a {
		t.Fatalf("read back: %v, same %v", err, b == a)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := loadSeed(path); err == nil {
		t.Fatal("a damaged identity file was taken")
	}
}
