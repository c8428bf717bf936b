package devtools

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

// FuzzGuard: whatever the Host and Origin, the guard allows exactly the
// configured names on the listening port, and never panics.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8081", "localhost:8081", "[::1]:8081", "devtools.example", "evil.example:8081", "[::1]", "127.0.0.1:08081", "LOCALHOST:8081", ":8081", "[::1%25lo]:8081", "http://localhost:8081", "http://localhost:8081/", "https://devtools.example", "null", ""} {
		f.Add(s, "http://"+s)
	}
	g := newGuard([]string{"devtools.example"}, []string{"127.0.0.1:*"}, "t")
	allowed := map[string]bool{"127.0.0.1:8081": true, "localhost:8081": true, "[::1]:8081": true, "devtools.example": true, "devtools.example:8081": true}
	r := (&http.Request{}).WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}))
	f.Fuzz(func(t *testing.T, host, origin string) {
		if g.hostAllowed(r, host) != allowed[strings.ToLower(host)] {
			t.Fatalf("host %q: allowed %v", host, !allowed[strings.ToLower(host)])
		}
		if g.ownOrigin(r, origin) {
			lo := strings.ToLower(origin)
			if h, ok := strings.CutPrefix(lo, "http://"); !ok || !allowed[h] {
				if h, ok := strings.CutPrefix(lo, "https://"); !ok || !allowed[h] {
					t.Fatalf("origin %q allowed", origin)
				}
			}
		}
		g.reporterOrigin(r, origin)
	})
}
