// Package hostguard keeps DNS-rebound names and other web pages away from
// the local servers (the relay and devtools): the Host a request names
// and the Origin of a browser's request must be one of the server's own
// names.
//
// A server answers to 127.0.0.1, localhost and [::1] on its listening
// port, and to the names it is configured with (a Set): "name" on the
// listening port or with no port at all (the scheme's default: a
// deployment behind a proxy), "name:port" only as written. Any other Host
// is refused with 421 Misdirected Request (Set.Check), in the server's
// own format. An Origin is taken only in the form browsers send,
// exactly scheme://host[:port] over http or https (ParseOrigin).
//
// Hosts are parsed by package hostname, which the relay's client links in
// the browser without this package's net/http.
package hostguard

import (
	"net"
	"net/http"
	"net/url"

	"github.com/task-messenger/task-messenger/relay/hostname"
)

// A Host is a name a server answers to (package hostname).
type Host = hostname.Host

// ErrHost is wrapped by every error of ParseHost, ParseURLHost and
// ParseOrigin.
var ErrHost = hostname.ErrHost

// ParseHost parses a Host header's "name" or "name:port" (hostname.ParseHost).
func ParseHost(s string) (Host, error) { return hostname.ParseHost(s) }

// ParseURLHost returns the host of u as a browser sends it in Host
// (hostname.ParseURLHost).
func ParseURLHost(u *url.URL) (Host, error) { return hostname.ParseURLHost(u) }

// ParseOrigin returns the host of a browser's Origin header
// (hostname.ParseOrigin).
func ParseOrigin(origin string) (Host, error) { return hostname.ParseOrigin(origin) }

// loopback are allowed on every server, on its listening port.
var loopback = []Host{mustParse("127.0.0.1"), mustParse("localhost"), mustParse("[::1]")}

func mustParse(s string) Host {
	h, err := ParseHost(s)
	if err != nil {
		panic(err)
	}
	return h
}

func isLoopback(h Host) bool {
	for _, l := range loopback {
		if h.Name() == l.Name() {
			return true
		}
	}
	return false
}

// A Set is the hosts a server answers to: the loopback names and the
// configured ones. It is immutable; the zero Set holds no host at all.
type Set struct {
	hosts []Host // loopback first
}

// NewSet returns the loopback names (127.0.0.1, localhost, [::1]) on the
// listening port and hosts.
func NewSet(hosts ...Host) Set {
	return Set{hosts: append(append([]Host(nil), loopback...), hosts...)}
}

// With returns s with hosts added.
func (s Set) With(hosts ...Host) Set {
	return Set{hosts: append(append([]Host(nil), s.hosts...), hosts...)}
}

// Allowed reports whether h names this server, as reached on the
// listening port lport ("" if unknown): a configured "name:port" as is;
// a loopback or configured name on the listening port; a configured name
// (not a loopback one) with no port, or a loopback one with no port when
// listening on 80.
func (s Set) Allowed(h Host, lport string) bool {
	for _, a := range s.hosts {
		switch {
		case a.Name() != h.Name():
		case a.Port() != "":
			if a.Port() == h.Port() {
				return true
			}
		case h.Port() == "":
			if !isLoopback(a) || lport == "80" || lport == "" {
				return true
			}
		case lport == "" || h.Port() == lport:
			return true
		}
	}
	return false
}

// HostAllowed reports whether host (a Host header) names this server, as
// reached by request r.
func (s Set) HostAllowed(r *http.Request, host string) bool {
	h, err := ParseHost(host)
	return err == nil && s.Allowed(h, ListeningPort(r))
}

// OriginAllowed reports whether origin (one Origin header) is a page of
// this server (http or https on an allowed host), as reached by request r.
func (s Set) OriginAllowed(r *http.Request, origin string) bool {
	h, err := ParseOrigin(origin)
	return err == nil && s.Allowed(h, ListeningPort(r))
}

// Check wraps next so that a request whose Host is not one of s (DNS
// rebinding: a foreign name that resolves to this address) never reaches
// it: refuse answers it, with 421 Misdirected Request in the server's own
// format.
func (s Set) Check(next, refuse http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.HostAllowed(r, r.Host) {
			refuse.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ListeningPort is the port request r came in on ("" if unknown).
func ListeningPort(r *http.Request) string {
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
