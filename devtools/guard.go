package devtools

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/task-messenger/task-messenger/relay/hostguard"
)

// TokenHeader carries the server's token on every state-changing request
// (see GET /api/token).
const TokenHeader = "X-Devtools-Token"

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
	hosts   hostguard.Set // the loopback names and Config.Hosts
	ignored []string      // Config.Hosts that do not parse, left out (New logs them)
	origins []string      // reporter page origins allowed on /peer (path.Match patterns)
	token   string        // the per-server secret of TokenHeader
}

// newGuard allows the loopback names and hosts (each "name", on the
// listening port, or "name:port"; one that does not parse is left out).
func newGuard(hosts, origins []string, token string) *guard {
	g := &guard{token: token}
	var allowed []hostguard.Host
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		a, err := hostguard.ParseHost(h)
		if err != nil {
			g.ignored = append(g.ignored, h)
			continue
		}
		allowed = append(allowed, a)
	}
	g.hosts = hostguard.NewSet(allowed...)
	for _, o := range origins {
		g.origins = append(g.origins, strings.ToLower(o))
	}
	return g
}

// hostAllowed reports whether host (a Host header) names this server, as
// seen by request r.
func (g *guard) hostAllowed(r *http.Request, host string) bool {
	return g.hosts.HostAllowed(r, host)
}

// ownOrigin reports whether origin is the devtools page's.
func (g *guard) ownOrigin(r *http.Request, origin string) bool {
	return g.hosts.OriginAllowed(r, origin)
}

// reporterOrigin reports whether origin may open /peer: the devtools
// page's, or one of the reporter page patterns.
func (g *guard) reporterOrigin(r *http.Request, origin string) bool {
	if g.ownOrigin(r, origin) {
		return true
	}
	h, err := hostguard.ParseOrigin(origin)
	if err != nil {
		return false
	}
	for _, p := range g.origins {
		if ok, _ := path.Match(p, h.String()); ok {
			return true
		}
	}
	return false
}

// handler checks Host (421) and, when there is one, Origin (403) on
// every request, and the proof of the devtools page on every POST.
func (g *guard) handler(next http.Handler) http.Handler {
	return g.hosts.Check(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMisdirectedRequest, "host not allowed: this server answers only to its configured names")
	}))
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
