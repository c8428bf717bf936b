package devtools

import (
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// TokenHeader carries the server's token on every state-changing request
// (see GET /api/token).
const TokenHeader = "X-Devtools-Token"

// loopbackNames are the host names allowed by default, on the listening port.
var loopbackNames = []string{"127.0.0.1", "localhost", "[::1]"}

// A guard is the Host and Origin middleware: it keeps DNS-rebound names
// and other web pages away from the server. It is immutable.
//
//   - every request: Host must be an allowed host (else 421);
//   - a request with an Origin (a browser's): the origin must be the
//     devtools page itself, or for /peer a reporter page
//     (Config.OriginPatterns) (else 403);
//   - state-changing requests (every POST): an Origin of the devtools
//     page, Content-Type application/json and TokenHeader carrying the
//     server's token (else 403). A web page cannot send the header
//     cross-origin without a CORS preflight, which is never granted, and
//     cannot read the token.
type guard struct {
	names   map[string]bool // allowed on the listening port (or bare, on port 80)
	exact   map[string]bool // host:port allowed as is
	origins []string        // reporter page origins allowed on /peer (path.Match patterns)
	token   string          // the per-server secret of TokenHeader
}

// newGuard allows the loopback names and hosts (each "name", on the
// listening port, or "name:port").
func newGuard(hosts, origins []string, token string) *guard {
	g := &guard{names: map[string]bool{}, exact: map[string]bool{}, token: token}
	for _, n := range loopbackNames {
		g.names[n] = true
	}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err == nil {
			g.exact[h] = true
		} else {
			g.names[h] = true
		}
	}
	for _, o := range origins {
		g.origins = append(g.origins, strings.ToLower(o))
	}
	return g
}

// hostAllowed reports whether host (a Host header, or an origin's host)
// names this server, as seen by request r.
func (g *guard) hostAllowed(r *http.Request, host string) bool {
	host = strings.ToLower(host)
	if host == "" || g.exact[host] {
		return host != ""
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		// No port: the scheme's default. Allowed for a configured bare
		// name (a deployment behind a proxy), or when listening on 80.
		name, port = host, "80"
		if g.names[name] && !isLoopback(name) {
			return true
		}
	}
	if strings.Contains(name, ":") && !strings.HasPrefix(name, "[") {
		name = "[" + name + "]"
	}
	if !g.names[name] {
		return false
	}
	lport := listeningPort(r)
	return lport == "" || lport == port
}

func isLoopback(name string) bool {
	for _, n := range loopbackNames {
		if n == name {
			return true
		}
	}
	return false
}

// listeningPort is the port the request came in on ("" if unknown).
func listeningPort(r *http.Request) string {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	return port
}

// originHost returns the host of an http(s) origin, or "".
func originHost(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || !strings.EqualFold(u.Scheme+"://"+u.Host, origin) {
		return "" // not exactly scheme://host[:port], as browsers send
	}
	return u.Host
}

// ownOrigin reports whether origin is the devtools page's.
func (g *guard) ownOrigin(r *http.Request, origin string) bool {
	return g.hostAllowed(r, originHost(origin))
}

// reporterOrigin reports whether origin may open /peer: the devtools
// page's, or one of the reporter page patterns.
func (g *guard) reporterOrigin(r *http.Request, origin string) bool {
	if g.ownOrigin(r, origin) {
		return true
	}
	host := strings.ToLower(originHost(origin))
	if host == "" {
		return false
	}
	for _, p := range g.origins {
		if ok, _ := path.Match(p, host); ok {
			return true
		}
	}
	return false
}

// handler checks Host (421) and, when there is one, Origin (403) on
// every request, and the proof of the devtools page on every POST.
func (g *guard) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r, r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "host not allowed: this server answers only to its configured names")
			return
		}
		origin, hasOrigin := r.Header["Origin"]
		switch {
		case r.Method == http.MethodPost:
			if msg := g.checkPost(r); msg != "" {
				writeError(w, http.StatusForbidden, msg)
				return
			}
		case hasOrigin && r.URL.Path == "/peer":
			if len(origin) != 1 || !g.reporterOrigin(r, origin[0]) {
				writeError(w, http.StatusForbidden, "origin not allowed to report")
				return
			}
		case hasOrigin:
			if len(origin) != 1 || !g.ownOrigin(r, origin[0]) {
				writeError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkPost returns why a POST does not come from the devtools page, or "".
func (g *guard) checkPost(r *http.Request) string {
	origin := r.Header.Values("Origin")
	if len(origin) != 1 || !g.ownOrigin(r, origin[0]) {
		return "cross-origin request refused: Origin must be the devtools page"
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return "Content-Type must be application/json"
	}
	tok := r.Header.Values(TokenHeader)
	if len(tok) != 1 || subtle.ConstantTimeCompare([]byte(tok[0]), []byte(g.token)) != 1 {
		return "missing or wrong " + TokenHeader + " (GET /api/token from the devtools page)"
	}
	return ""
}
