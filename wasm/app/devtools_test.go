package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// devtoolsServer is a devtools server on 127.0.0.1 and how to call its API
// as its page does.
type devtoolsServer struct {
	url string // http://127.0.0.1:port
}

func startDevtools(t testing.TB) *devtoolsServer {
	s := devtools.New(devtools.Config{Logger: quiet})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	return &devtoolsServer{url: hs.URL}
}

func (d *devtoolsServer) peerURL() string { return "ws" + strings.TrimPrefix(d.url, "http") + "/peer" }

func (d *devtoolsServer) get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(d.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func (d *devtoolsServer) post(t testing.TB, path string, body []byte) (int, string) {
	t.Helper()
	var tok struct{ Token string }
	d.get(t, "/api/token", &tok)
	req, err := http.NewRequest(http.MethodPost, d.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", d.url)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(devtools.TokenHeader, tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDevtoolsCommands: devtools' import restarts the messenger through
// the App, and its reset resets the App (storage deleted) and reloads.
func TestDevtoolsCommands(t *testing.T) {
	d := startDevtools(t)
	ctx := testCtx(t)
	p, err := vault.Open(ctx, "ana", memOpener, nil)
	if err != nil {
		t.Fatal(err)
	}
	deleted := make(chan string, 1)
	reloaded := make(chan struct{})
	a, err := Start(ctx, Config{Profile: p, Relay: deadRelay(t), Devtools: d.peerURL(), Logger: quiet,
		Delete: func(_ context.Context, name string) error { deleted <- name; return nil },
		Reload: func() { close(reloaded) }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	do(t, a, "createTask", `[{"title":"plan"}]`)
	export := do(t, a, "export", `[]`)

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for connected := false; !connected; {
		var peers struct{ Peers []devtools.PeerView }
		d.get(t, "/api/peers", &peers)
		connected = len(peers.Peers) == 1 && peers.Peers[0].Connected && peers.Peers[0].ID == a.ID()
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the reporter never connected")
		}
	}
	if st, body := d.post(t, "/api/peers/"+a.ID().String()+"/import", export); st != http.StatusOK {
		t.Fatalf("import from devtools: %d %s", st, body)
	}
	if tasks := string(do(t, a, "tasks", `[]`)); !strings.Contains(tasks, `"plan"`) {
		t.Fatalf("tasks after devtools' import: %s", tasks)
	}
	if st, body := d.post(t, "/api/peers/"+a.ID().String()+"/reset", nil); st != http.StatusOK {
		t.Fatalf("reset from devtools: %d %s", st, body)
	}
	select {
	case <-reloaded:
	case <-ctx.Done():
		t.Fatal("no reload after devtools' reset")
	}
	if name := <-deleted; name != "ana" {
		t.Fatalf("deleted %q, want ana", name)
	}
	if s := a.State(); s != StateClosed {
		t.Fatalf("State %q after devtools' reset, want closed", s)
	}
}
