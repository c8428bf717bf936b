// Package hostname parses the names a server answers to (Host): what a
// Host header, a URL or a browser's Origin names, in canonical form. It is
// pure Go without net/http, so the relay's client links it in the browser;
// package hostguard checks requests against a set of Hosts.
package hostname

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrHost is wrapped by every error of ParseHost, ParseURLHost and
// ParseOrigin. The error's text is only the reason ("bad port", …):
// callers add the input and their own prefix.
var ErrHost = errors.New("bad host")

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

// Name is h's name without its port.
func (h Host) Name() string { return h.name }
