package relay

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxHostLen bounds a host name with its port (a DNS name is at most 253
// bytes).
const maxHostLen = 262

// A Host is a name the relay answers to, in canonical form (lower case,
// IPv6 in brackets, no zone, a port without leading zeros). With no port,
// the name is allowed on the listening port and with no port at all (the
// scheme's default: a deployment behind a proxy); with a port, only as
// written.
type Host struct {
	name string // "example.com", "127.0.0.1", "[::1]"
	port string // "" or "1"…"65535"
}

// loopbackHosts are allowed on every server, on its listening port.
var loopbackHosts = []Host{{name: "127.0.0.1"}, {name: "localhost"}, {name: "[::1]"}}

// ParseHost parses "name" or "name:port" (as in a Host header or a URL),
// refusing anything but a DNS name, an IPv4 address or a bracketed IPv6
// address, with an optional port.
func ParseHost(s string) (Host, error) {
	h, err := parseHost(s)
	if err != nil {
		return Host{}, fmt.Errorf("%w %q: %v", ErrHost, clip(s, 64), err)
	}
	return h, nil
}

func parseHost(s string) (Host, error) {
	if s == "" || len(s) > maxHostLen {
		return Host{}, fmt.Errorf("empty or over %d bytes", maxHostLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return Host{}, errors.New("not printable ASCII")
		}
	}
	s = strings.ToLower(s)
	var h Host
	rest := ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Host{}, errors.New("unclosed [")
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return Host{}, errors.New("not an IPv6 address")
		}
		h.name, rest = "["+a.String()+"]", s[end+1:]
	} else {
		name, port, hasPort := strings.Cut(s, ":")
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") || strings.Contains(name, "..") {
			return Host{}, errors.New("not a host name")
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
			return Host{}, errors.New("bad port")
		}
		h.port = port
	}
	return h, nil
}

// String returns the host as it is signed and compared: "name" or
// "name:port".
func (h Host) String() string {
	if h.port == "" {
		return h.name
	}
	return h.name + ":" + h.port
}

func (h Host) isLoopback() bool {
	for _, l := range loopbackHosts {
		if h.name == l.name {
			return true
		}
	}
	return false
}

// dialHost returns the host a client signs for the relay at rawURL: the
// URL's host, without the scheme's default port (as a browser sends it in
// Host).
func dialHost(rawURL string) (Host, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Host{}, fmt.Errorf("%w: relay URL: %v", ErrHost, err)
	}
	h, err := ParseHost(u.Host)
	if err != nil {
		return Host{}, err
	}
	switch {
	case h.port == "80" && (u.Scheme == "ws" || u.Scheme == "http"),
		h.port == "443" && (u.Scheme == "wss" || u.Scheme == "https"):
		h.port = ""
	}
	return h, nil
}

// hostAllowed reports whether h names this server, as reached on the
// listening port lport ("" if unknown): a configured "name:port" as is;
// a loopback or configured name on the listening port; a configured name
// (not a loopback one) with no port, or a loopback one with no port when
// listening on 80.
func (s *Server) hostAllowed(h Host, lport string) bool {
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

// requestHostAllowed reports whether the request's Host names this server.
func (s *Server) requestHostAllowed(r *http.Request) bool {
	h, err := ParseHost(r.Host)
	return err == nil && s.hostAllowed(h, listeningPort(r))
}

// originAllowed reports whether a request's Origin header, if it has one,
// is a page of this server (http or https on an allowed host). Native
// clients send none.
func (s *Server) originAllowed(r *http.Request) bool {
	origin, ok := r.Header["Origin"]
	if !ok {
		return true
	}
	if len(origin) != 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return false
	}
	h, err := dialHost(origin[0])
	return err == nil && s.hostAllowed(h, listeningPort(r))
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

// CheckHost wraps next (the relay command's every route) so that a
// request whose Host is not one of the server's names (DNS rebinding: a
// foreign name that resolves to this address) is answered 421 Misdirected
// Request and never reaches next. Handler checks this by itself.
func (s *Server) CheckHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.requestHostAllowed(r) {
			s.refuseHost(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
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
