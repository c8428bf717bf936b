package main

import (
	"path"
	"slices"
	"testing"
)

func TestHostFlag(t *testing.T) {
	_, cfg, err := parseFlags([]string{"-host", "devtools.example", "-host", "other.example:9000"})
	if err != nil || !slices.Equal(cfg.Hosts, []string{"devtools.example", "other.example:9000"}) {
		t.Fatalf("%v %q", err, cfg.Hosts)
	}
	for _, bad := range []string{"", "a/b", "u@evil.example", "a b"} {
		if _, _, err := parseFlags([]string{"-host", bad}); err == nil {
			t.Errorf("-host %q taken", bad)
		}
	}
}

// TestDefaultOriginsMatchLoopback: the default -origins admit pages on
// every loopback name, IPv6 included ("[::1]:*" unescaped is a path.Match
// character class that matches no "[::1]:port"), and nothing else.
func TestDefaultOriginsMatchLoopback(t *testing.T) {
	_, cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	matches := func(host string) bool {
		for _, p := range cfg.OriginPatterns {
			if ok, err := path.Match(p, host); err != nil {
				t.Fatalf("pattern %q: %v", p, err)
			} else if ok {
				return true
			}
		}
		return false
	}
	for _, h := range []string{"127.0.0.1:5173", "localhost:8080", "[::1]:5173"} {
		if !matches(h) {
			t.Errorf("default origins %q refuse %s", cfg.OriginPatterns, h)
		}
	}
	for _, h := range []string{"::1:5173", ":1]:80", "evil.example:80", "127.0.0.2:80", "[::2]:80"} {
		if matches(h) {
			t.Errorf("default origins %q admit %s", cfg.OriginPatterns, h)
		}
	}
}
