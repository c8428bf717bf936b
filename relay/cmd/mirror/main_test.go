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

// fakeNATS is a NATS connection's state.
type fakeNATS struct {
	up    bool
	state string
}

func (f fakeNATS) Connected() bool { return f.up }
func (f fakeNATS) State() string   { return f.state }

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(handler(func() mirror.Stats {
		return mirror.Stats{Authors: 2, Books: 5, Bytes: 4096, Refused: 1, Revocations: 3, SetSize: 3, Repinned: 7, Followed: 4}
	}, fakeNATS{true, "connected"}))
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
	if code, body := get("/healthz", ""); code != 200 || body != "ok\nnats connected\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body := get("/metrics", "")
	for _, want := range []string{"mirror_authors 2\n", "mirror_books 5\n", "mirror_bytes 4096\n", "mirror_refused_total 1\n", "mirror_revocations 3\n",
		"mirror_nats_connected 1\n", "mirror_set_size 3\n", "mirror_repinned_total 7\n", "mirror_followed_total 4\n"} {
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

// With NATS down the mirror is still healthy (it serves its books), and
// says so.
func TestHandlerNATSDown(t *testing.T) {
	srv := httptest.NewServer(handler(func() mirror.Stats { return mirror.Stats{} }, fakeNATS{false, "reconnecting"}))
	t.Cleanup(srv.Close)
	for path, want := range map[string]string{"/healthz": "ok\nnats reconnecting\n", "/metrics": "mirror_nats_connected 0\n"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %q, want %q", path, resp.StatusCode, b, want)
		}
	}
}
