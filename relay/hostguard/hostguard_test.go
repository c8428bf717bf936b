package hostguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// at returns a request that came in on 127.0.0.1:port.
func at(port int, host string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Host = host
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}))
}

func mustHost(t *testing.T, s string) Host {
	t.Helper()
	h, err := ParseHost(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestParse: hosts come out canonical; anything else is ErrHost.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string) (Host, error)
		want  map[string]string // "": refused
	}{
		{"ParseHost", ParseHost, map[string]string{
			"LocalHost:8080":         "localhost:8080",
			"[0:0::1]:8080":          "[::1]:8080",
			"relay.example.com":      "relay.example.com",
			"127.0.0.1":              "127.0.0.1",
			"evil.example/x":         "",
			"x:080":                  "",
			"x:0":                    "",
			"x:":                     "",
			"[fe80::1%eth0]:1":       "",
			"[127.0.0.1]":            "",
			"a..b":                   "",
			"-a":                     "",
			"a b":                    "",
			"":                       "",
			strings.Repeat("a", 263): "",
		}},
		{"ParseOrigin", ParseOrigin, map[string]string{
			"http://127.0.0.1:8080":   "127.0.0.1:8080",
			"HTTPS://LocalHost:8443":  "localhost:8443",
			"http://localhost:80":     "localhost",
			"https://relay.example":   "relay.example",
			"https://[0::1]:8080":     "[::1]:8080",
			"http://localhost:8080/":  "",
			"http://localhost:8080?":  "",
			"http://localhost:8080#x": "",
			"http://u@localhost:8080": "",
			"ws://localhost:8080":     "",
			"file://":                 "",
			"null":                    "",
			"":                        "",
			"http://evil_example":     "",
		}},
	} {
		for in, want := range tc.want {
			h, err := tc.parse(in)
			switch {
			case want == "" && (err == nil || !errors.Is(err, ErrHost)):
				t.Errorf("%s(%q): %v %v, want ErrHost", tc.name, in, h, err)
			case want != "" && (err != nil || h.String() != want):
				t.Errorf("%s(%q): %q %v, want %q", tc.name, in, h, err, want)
			}
		}
	}
}

// TestAllowed: the loopback names on the listening port (and with no port
// on 80), a configured name on the listening port or with no port, a
// configured name:port as written; nothing else.
func TestAllowed(t *testing.T) {
	s := NewSet(mustHost(t, "relay.example")).With(mustHost(t, "other.example:9"))
	for _, tc := range []struct {
		lport   int
		allowed []string
		refused []string
	}{
		{8080,
			[]string{"127.0.0.1:8080", "LOCALHOST:8080", "[::1]:8080", "[0:0::1]:8080", "relay.example", "relay.example:8080", "other.example:9"},
			[]string{"evil.example:8080", "127.0.0.1", "localhost", "127.0.0.1:1", "relay.example:1", "other.example", "other.example:8080", "127.0.0.2:8080", "127.0.0.1.evil.example:8080", "relay.example.:8080", "", ":8080", "localhost:"}},
		{80,
			[]string{"127.0.0.1", "localhost:80", "[::1]", "relay.example"},
			[]string{"localhost:8080", "evil.example"}},
	} {
		for _, h := range tc.allowed {
			if !s.HostAllowed(at(tc.lport, h), h) {
				t.Errorf("port %d: %q refused", tc.lport, h)
			}
		}
		for _, h := range tc.refused {
			if s.HostAllowed(at(tc.lport, h), h) {
				t.Errorf("port %d: %q allowed", tc.lport, h)
			}
		}
	}
	if (Set{}).HostAllowed(at(8080, "127.0.0.1:8080"), "127.0.0.1:8080") {
		t.Error("the zero Set allowed a host")
	}
	r := at(8080, "127.0.0.1:8080")
	for origin, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "https://relay.example": true, "http://other.example:9": true,
		"http://evil.example:8080": false, "http://127.0.0.1:1": false, "http://127.0.0.1:8080/": false, "null": false,
	} {
		if s.OriginAllowed(r, origin) != want {
			t.Errorf("origin %q: allowed %v", origin, !want)
		}
	}
}

// TestCheck: a foreign Host is answered by refuse and never reaches next.
func TestCheck(t *testing.T) {
	var reached []string
	h := NewSet().Check(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = append(reached, r.Host) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusMisdirectedRequest) }),
	)
	for host, want := range map[string]int{"127.0.0.1:8080": http.StatusOK, "evil.example:8080": http.StatusMisdirectedRequest, "": http.StatusMisdirectedRequest} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, at(8080, host))
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
	if len(reached) != 1 || reached[0] != "127.0.0.1:8080" {
		t.Errorf("next reached by %q", reached)
	}
}

func TestListeningPort(t *testing.T) {
	if p := ListeningPort(at(8081, "x")); p != "8081" {
		t.Errorf("port %q", p)
	}
	if p := ListeningPort(httptest.NewRequest(http.MethodGet, "/", nil)); p != "" {
		t.Errorf("port %q without a local address", p)
	}
}

// FuzzParseHost: a parsed host is canonical (parsing its string gives it
// back), and it is never something a CSP, a header or the signed hello
// could be confused by.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8080", "localhost", "[::1]:8080", "Relay.Example.COM", "[0:0::1]", "[fe80::1%eth0]:1",
		"a:b:c", "x:0", "x:080", "x:65535", "-x", "a..b", "[::1]x", "", "[", "ä.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			return
		}
		c := h.String()
		h2, err := ParseHost(c)
		if err != nil || h2 != h || h2.String() != c {
			t.Fatalf("%q → %q → %v %v", s, c, h2, err)
		}
		if len(c) > len(s) && !strings.HasPrefix(s, "[") {
			t.Fatalf("%q grew to %q", s, c)
		}
		if strings.ContainsAny(c, " ;,'\"\n\r\t/\\@*") {
			t.Fatalf("%q → %q has a separator", s, c)
		}
	})
}
