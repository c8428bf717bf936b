package devtools

import (
	"path"
	"testing"
)

// TestDefaultOriginPatterns: a Config's default reporter origins match
// pages on every loopback name, IPv6 included ("[::1]:*" unescaped is a
// path.Match character class that matches no "[::1]:port").
func TestDefaultOriginPatterns(t *testing.T) {
	var cfg Config
	cfg.defaults()
	for _, h := range []string{"127.0.0.1:5173", "localhost:8080", "[::1]:5173"} {
		ok := false
		for _, p := range cfg.OriginPatterns {
			if m, err := path.Match(p, h); err != nil {
				t.Fatalf("pattern %q: %v", p, err)
			} else if m {
				ok = true
			}
		}
		if !ok {
			t.Errorf("default origins %q refuse %s", cfg.OriginPatterns, h)
		}
	}
}
