//go:build !js

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
)

// TestHandlerHosts: every route of the command answers only to its own
// names (421 for a DNS-rebound one), and the page comes with its CSP.
func TestHandlerHosts(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	name, err := relay.ParseHost("relay.example")
	if err != nil {
		t.Fatal(err)
	}
	rs := relay.NewServer(nil, relay.Limits{}, relay.WithHosts(name))
	page := func() relay.PageConfig { return relay.PageConfig{Devtools: "ws://127.0.0.1:8081/peer"} }
	h, err := handler(routes{rs: rs, static: dir, page: page, health: func() string { return "nats: connected; nodes: 1" }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer rs.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	do := func(path, host string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, path := range []string{"/", "/index.html", "/config.json", "/healthz", "/metrics", "/relay"} {
		for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "relay.example:1"} {
			if res := do(path, host); res.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s with Host %s: %d, want 421", path, host, res.StatusCode)
			}
		}
		for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "relay.example", "relay.example:" + port} {
			want := http.StatusOK
			if path == "/relay" {
				want = http.StatusUpgradeRequired // a GET without the upgrade
			}
			if res := do(path, host); res.StatusCode != want {
				t.Errorf("%s with Host %s: %d, want %d", path, host, res.StatusCode, want)
			}
		}
	}
	if res := do("/", "127.0.0.1:"+port); !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page without its CSP: %v", res.Header)
	}
	if n := rs.Stats().Rejects[relay.RejectHost]; n != 24 {
		t.Errorf("%d host rejects, want 24", n)
	}
	if _, err := handler(routes{rs: rs, static: filepath.Join(dir, "index.html"), page: page}); err == nil {
		t.Error("a file as -static accepted")
	}
}

func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-host", "bad host"},
		{"-host", "relay.example:99999"},
		{"-devtools", "ws://evil.example:8081/peer"},
		{"-url", "http://127.0.0.1:8080/relay"},
		{"-url", "ws://bad host/relay"},
		{"-nats", "nats://127.0.0.1:4222", "-nats-listen", "127.0.0.1:4223"},
		{"-nats-routes", "nats://127.0.0.1:6222"},
	} {
		if err := run(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
