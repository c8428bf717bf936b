package devtools

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// FuzzGuard: whatever the Host and Origin, the guard allows exactly the
// configured names on the listening port (however spelled: hostguard
// compares canonical hosts), and never panics.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8081", "localhost:8081", "[::1]:8081", "devtools.example", "evil.example:8081", "[::1]", "127.0.0.1:08081", "LOCALHOST:8081", ":8081", "[::1%25lo]:8081", "[0:0::1]:8081", "http://localhost:8081", "http://localhost:8081/", "https://devtools.example", "null", ""} {
		f.Add(s, "http://"+s)
	}
	g := newGuard([]string{"devtools.example"}, []string{"127.0.0.1:*"}, "t")
	allowed := map[string]bool{"127.0.0.1:8081": true, "localhost:8081": true, "[::1]:8081": true, "devtools.example": true, "devtools.example:8081": true}
	r := (&http.Request{}).WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}))
	// names reports whether h is one of allowed, spelled as there or
	// otherwise: ::1 written another way, the scheme's default port.
	names := func(h, defaultPort string) bool {
		h = strings.ToLower(h)
		if bare, ok := strings.CutSuffix(h, ":"+defaultPort); ok && defaultPort != "" {
			h = bare
		}
		if allowed[h] {
			return true
		}
		if i := strings.LastIndex(h, "]:"); strings.HasPrefix(h, "[") && i > 0 {
			a, err := netip.ParseAddr(h[1:i])
			return err == nil && a == netip.IPv6Loopback() && h[i+2:] == "8081"
		}
		return false
	}
	f.Fuzz(func(t *testing.T, host, origin string) {
		ok := g.hostAllowed(r, host)
		if allowed[strings.ToLower(host)] && !ok || ok && !names(host, "") {
			t.Fatalf("host %q: allowed %v", host, ok)
		}
		if g.ownOrigin(r, origin) {
			lo := strings.ToLower(origin)
			if h, ok := strings.CutPrefix(lo, "http://"); !ok || !names(h, "80") {
				if h, ok := strings.CutPrefix(lo, "https://"); !ok || !names(h, "443") {
					t.Fatalf("origin %q allowed", origin)
				}
			}
		}
		g.reporterOrigin(r, origin)
	})
}

// TestGuardHosts: a configured host that does not parse is left out (and
// reported for New to log); the others, trimmed, are allowed.
func TestGuardHosts(t *testing.T) {
	g := newGuard([]string{"bad_host", " ok.example ", "", "x:0"}, nil, "t")
	if !slices.Equal(g.ignored, []string{"bad_host", "x:0"}) {
		t.Errorf("ignored %q", g.ignored)
	}
	r := (&http.Request{}).WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}))
	for host, want := range map[string]bool{"ok.example": true, "ok.example:8081": true, "bad_host": false, "bad_host:8081": false, "x:0": false} {
		if g.hostAllowed(r, host) != want {
			t.Errorf("%q: allowed %v", host, !want)
		}
	}
}
