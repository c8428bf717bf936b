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
// The package is pure Go (no syscall/js) and builds for js/wasm, where
// the relay client uses ParseHost and ParseURLHost.
package hostguard

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrHost is wrapped by every error of ParseHost, ParseURLHost and
// ParseOrigin. The error's text is only the reason ("bad port", …):
// callers add the input and their own prefix.
var ErrHost = errors.New("hostguard: bad host")

// reason is a ParseHost error: its text is the reason alone.
type reason string

func (r reason) Error() string      { return string(r) }
func (reason) Is(target error) bool { return target == ErrHost }
func fail(why string) (Host, error) { return Host{}, reason(why) }

// maxHostLen bounds a host name with its port (a DNS name is at most 253
// bytes).
const maxHostLen = 262

// A Host is a name a server answers to, in canonical form (lower case,
// IPv6 in brackets, no zone, a port without leading zeros). With no port,
// the name is allowed on the listening port and with no port at all (the
// scheme's default: a deployment behind a proxy); with a port, only as
// written.
type Host struct {
	name string // "example.com", "127.0.0.1", "[::1]"
	port string // "" or "1"…"65535"
}

// loopback are allowed on every server, on its listening port.
var loopback = []Host{{name: "127.0.0.1"}, {name: "localhost"}, {name: "[::1]"}}

// ParseHost parses "name" or "name:port" (as in a Host header or a URL),
// refusing anything but a DNS name, an IPv4 address or a bracketed IPv6
// address, with an optional port.
func ParseHost(s string) (Host, error) {
	if s == "" || len(s) > maxHostLen {
		return fail("empty or over " + strconv.Itoa(maxHostLen) + " bytes")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fail("not printable ASCII")
		}
	}
	s = strings.ToLower(s)
	var h Host
	rest := ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return fail("unclosed [")
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fail("not an IPv6 address")
		}
		h.name, rest = "["+a.String()+"]", s[end+1:]
	} else {
		name, port, hasPort := strings.Cut(s, ":")
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") || strings.Contains(name, "..") {
			return fail("not a host name")
		}
		h.name = name
		if hasPort {
			rest = ":" + port
		}
	}
	if rest != "" {
		port, ok := strings.CutPrefix(rest, ":")
		n, err := strconv.Atoi(port)
		if !ok || err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fail("bad port")
		}
		h.port = port
	}
	return h, nil
}

// ParseURLHost returns the host of u as a browser sends it in Host: u.Host
// without its scheme's default port (80 for ws and http, 443 for wss and
// https).
func ParseURLHost(u *url.URL) (Host, error) {
	h, err := ParseHost(u.Host)
	if err != nil {
		return h, err
	}
	switch {
	case h.port == "80" && (u.Scheme == "ws" || u.Scheme == "http"),
		h.port == "443" && (u.Scheme == "wss" || u.Scheme == "https"):
		h.port = ""
	}
	return h, nil
}

// ParseOrigin returns the host of a browser's Origin header: exactly
// scheme://host[:port] (no user, path, query or fragment) over http or
// https, without the scheme's default port.
func ParseOrigin(origin string) (Host, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || !strings.EqualFold(u.Scheme+"://"+u.Host, origin) {
		return fail("not an http(s) origin")
	}
	return ParseURLHost(u)
}

// String returns the host as it is signed and compared: "name" or
// "name:port".
func (h Host) String() string {
	if h.port == "" {
		return h.name
	}
	return h.name + ":" + h.port
}

// Port is h's port, "" if it has none.
func (h Host) Port() string { return h.port }

// IsZero reports whether h is the zero Host (no name).
func (h Host) IsZero() bool { return h.name == "" }

func (h Host) isLoopback() bool {
	for _, l := range loopback {
		if h.name == l.name {
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
		case a.name != h.name:
		case a.port != "":
			if a.port == h.port {
				return true
			}
		case h.port == "":
			if !a.isLoopback() || lport == "80" || lport == "" {
				return true
			}
		case lport == "" || h.port == lport:
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
