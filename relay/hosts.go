package relay

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/task-messenger/task-messenger/relay/hostguard"
)

// A Host is a name the relay answers to, in canonical form: package
// hostguard's Host, shared with devtools (see there for what it allows).
type Host = hostguard.Host

// ParseHost parses "name" or "name:port" (as in a Host header or a URL),
// refusing anything but a DNS name, an IPv4 address or a bracketed IPv6
// address, with an optional port.
func ParseHost(s string) (Host, error) {
	h, err := hostguard.ParseHost(s)
	if err != nil {
		return Host{}, fmt.Errorf("%w %q: %v", ErrHost, clip(s, 64), err)
	}
	return h, nil
}

// dialHost returns the host a client signs for the relay at rawURL: the
// URL's host, without the scheme's default port (as a browser sends it in
// Host).
func dialHost(rawURL string) (Host, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Host{}, fmt.Errorf("%w: relay URL: %v", ErrHost, err)
	}
	h, err := hostguard.ParseURLHost(u)
	if err != nil {
		return Host{}, fmt.Errorf("%w %q: %v", ErrHost, clip(u.Host, 64), err)
	}
	return h, nil
}

// originAllowed reports whether a request's Origin header, if it has one,
// is a page of this server (exactly http(s)://host[:port] on an allowed
// host) or of another node of its cluster (WithPageHosts). Native
// clients send none.
func (s *Server) originAllowed(r *http.Request) bool {
	origin, ok := r.Header["Origin"]
	if !ok {
		return true
	}
	if len(origin) != 1 {
		return false
	}
	if s.hosts.OriginAllowed(r, origin[0]) {
		return true
	}
	if s.pageHosts == nil {
		return false
	}
	h, err := hostguard.ParseOrigin(origin[0])
	return err == nil && (hostguard.Set{}).With(s.pageHosts()...).Allowed(h, "")
}

// WithPageHosts lets pages served by these hosts too open the relay: the
// other nodes of a cluster, whose pages fail over to this node when
// their own dies. hosts is called for each browser upgrade not from this
// server's own names; each Host it returns should carry its port.
func WithPageHosts(hosts func() []Host) Option {
	return func(s *Server) { s.pageHosts = hosts }
}

// CheckHost wraps next (the relay command's every route) so that a
// request whose Host is not one of the server's names (DNS rebinding: a
// foreign name that resolves to this address) is answered 421 Misdirected
// Request and never reaches next. Handler checks this by itself.
func (s *Server) CheckHost(next http.Handler) http.Handler {
	return s.hosts.Check(next, http.HandlerFunc(s.refuseHost))
}

func (s *Server) refuseHost(w http.ResponseWriter, r *http.Request) {
	s.m.reject(RejectHost)
	s.log.Warn("relay: foreign host refused", "remote", r.RemoteAddr, "host", clip(r.Host, 64), "path", clip(r.URL.Path, 64))
	w.Header().Set("Connection", "close")
	http.Error(w, "misdirected request: this server does not answer to that host name", http.StatusMisdirectedRequest)
}

// clip cuts s to at most n bytes for logs and errors.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
