package devtools_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// port is the test server's port.
func (e *env) port() string {
	_, p, _ := net.SplitHostPort(e.HTTP.Listener.Addr().String())
	return p
}

// loopClient is an HTTP client that dials the test server whatever the
// URL's host: a rebound name without DNS, on 127.0.0.1 only.
func (e *env) loopClient() *http.Client {
	addr := e.HTTP.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// do sends a request to the test server with host as the URL's host
// (and so the Host header), and returns the status and the JSON error.
func (e *env) do(t *testing.T, method, host, path string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+host+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := e.loopClient()
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, errorOf(t, resp)
}

// errorOf reads a JSON error body and returns its message, failing the
// test unless there is one.
func errorOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Error == nil || len(*v.Error) < 5 {
		t.Fatalf("%s %s: %d without a JSON error: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error with content type %q", ct)
	}
	return *v.Error
}

// TestCrossSite: a POST that does not prove it comes from the devtools
// page (its Origin, JSON, the token) is refused with 403 before it
// reaches the peer: reset, import and export alike.
func TestCrossSite(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	ana := openDB(t, 1)
	var resets, imports, exports atomic.Int32
	r := startReporter(t, e, ana, "ana", func(c *report.Config) {
		c.Reset = func(context.Context) error { resets.Add(1); return nil }
		c.Import = func(context.Context, []byte) error { imports.Add(1); return nil }
		c.Export = func(context.Context) ([]byte, error) { exports.Add(1); return []byte(`{}`), nil }
	})
	waitFor(t, "connected", r.R.Connected)
	tok := e.token(t)
	host := "127.0.0.1:" + e.port()
	own := "http://" + host
	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"no origin", map[string]string{"Content-Type": "application/json", devtools.TokenHeader: tok}},
		{"foreign origin", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json", devtools.TokenHeader: tok}},
		{"null origin", map[string]string{"Origin": "null", "Content-Type": "application/json", devtools.TokenHeader: tok}},
		{"other port", map[string]string{"Origin": "http://127.0.0.1:1", "Content-Type": "application/json", devtools.TokenHeader: tok}},
		{"no-cors form", map[string]string{"Origin": own, "Content-Type": "text/plain", devtools.TokenHeader: tok}},
		{"no content type", map[string]string{"Origin": own, devtools.TokenHeader: tok}},
		{"no token", map[string]string{"Origin": own, "Content-Type": "application/json"}},
		{"wrong token", map[string]string{"Origin": own, "Content-Type": "application/json", devtools.TokenHeader: tok + "x"}},
	}
	for _, op := range []string{"reset", "import", "export"} {
		for _, tc := range cases {
			path := "/api/peers/" + ana.ID().String() + "/" + op
			if st, msg := e.do(t, http.MethodPost, host, path, tc.headers); st != http.StatusForbidden {
				t.Errorf("%s, %s: %d %q, want 403", op, tc.name, st, msg)
			}
		}
	}
	if n := resets.Load() + imports.Load() + exports.Load(); n != 0 {
		t.Fatalf("%d refused commands reached the peer", n)
	}
	// The page's own request works.
	if st, body := e.post(t, "/api/peers/"+ana.ID().String()+"/reset", nil); st != 200 || resets.Load() != 1 {
		t.Fatalf("the page's reset: %d %s", st, body)
	}
	if st, body := e.post(t, "/api/peers/"+ana.ID().String()+"/export", nil); st != 200 || exports.Load() != 1 {
		t.Fatalf("the page's export: %d %s", st, body)
	}
}

// TestHost: a name other than the configured ones (a DNS-rebound name)
// gets 421 on every route, the websockets and the feed included; the
// loopback names on the listening port and a configured -host work.
func TestHost(t *testing.T) {
	e := newEnv(t, devtools.Config{Hosts: []string{"devtools.example", "other.example:9"}})
	p := e.port()
	routes := []string{"/", "/app.js", "/api/peers", "/api/token", "/api/stats", "/api/events", "/api/books", "/peer", "/api/nothing"}
	for _, host := range []string{"evil.example:" + p, "evil.example", "127.0.0.2:" + p, "127.0.0.1:1", "localhost", "[::1]", "other.example:" + p, "devtools.example:1", "127.0.0.1.evil.example:" + p} {
		for _, path := range routes {
			if st, msg := e.do(t, http.MethodGet, host, path, nil); st != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %s: %d %q, want 421", path, host, st, msg)
			}
		}
		if st, _ := e.do(t, http.MethodPost, host, "/api/peers/x/reset", map[string]string{"Origin": "http://" + host, "Content-Type": "application/json"}); st != http.StatusMisdirectedRequest {
			t.Errorf("POST with Host %s: %d, want 421", host, st)
		}
	}
	for _, host := range []string{"127.0.0.1:" + p, "localhost:" + p, "LOCALHOST:" + p, "[::1]:" + p, "devtools.example:" + p, "devtools.example", "other.example:9"} {
		if st, msg := e.do(t, http.MethodGet, host, "/api/stats", nil); st != http.StatusOK {
			t.Errorf("GET /api/stats with Host %s: %d %q", host, st, msg)
		}
	}
	// A browser's cross-origin read of the API is refused too.
	if st, _ := e.do(t, http.MethodGet, "127.0.0.1:"+p, "/api/peers", map[string]string{"Origin": "http://evil.example"}); st != http.StatusForbidden {
		t.Errorf("GET /api/peers from another origin: %d, want 403", st)
	}
	if st, _ := e.do(t, http.MethodGet, "127.0.0.1:"+p, "/api/token", map[string]string{"Origin": "http://evil.example"}); st != http.StatusForbidden {
		t.Errorf("GET /api/token from another origin: %d, want 403", st)
	}
}

// TestHostWebsocket: the reporters' websocket refuses a rebound name
// (Origin equal to Host, which the websocket library alone accepts) with
// 421 and a foreign origin with 403; a loopback page may connect.
func TestHostWebsocket(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	p := e.port()
	dial := func(host, origin string) (int, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c := e.loopClient()
		defer c.CloseIdleConnections()
		ws, resp, err := websocket.Dial(ctx, "ws://"+host+"/peer", &websocket.DialOptions{HTTPClient: c, HTTPHeader: h})
		if err == nil {
			ws.CloseNow()
			return http.StatusSwitchingProtocols, nil
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, err
	}
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"evil.example:" + p, "http://evil.example:" + p, http.StatusMisdirectedRequest},
		{"evil.example:" + p, "", http.StatusMisdirectedRequest},
		{"127.0.0.1:" + p, "http://evil.example", http.StatusForbidden},
		{"127.0.0.1:" + p, "null", http.StatusForbidden},
		{"127.0.0.1:" + p, "http://127.0.0.1:8080", http.StatusSwitchingProtocols},
		{"localhost:" + p, "http://localhost:" + p, http.StatusSwitchingProtocols},
		{"127.0.0.1:" + p, "", http.StatusSwitchingProtocols},
	} {
		st, err := dial(tc.host, tc.origin)
		if st != tc.want {
			t.Errorf("/peer with Host %s, Origin %q: %d (%v), want %d", tc.host, tc.origin, st, err, tc.want)
		}
	}
	if _, err := dial("evil.example:"+p, "http://evil.example:"+p); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("rebound websocket: %v", err)
	}
}
