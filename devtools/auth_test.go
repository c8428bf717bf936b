package devtools_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// TestImpostor: a reporter that claims a peer's id without its key — a
// wrong key, a signature replayed from another challenge, a signature for
// another server — is refused before anything it sends is taken, and the
// real reporter stays connected and keeps getting its commands.
func TestImpostor(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	ana, mallory := openDB(t, 1), openDB(t, 2)
	b, _ := ana.Author(ctx, "notes", nil)
	var resets atomic.Int32
	r := startReporter(t, e, ana, "ana", func(c *report.Config) {
		c.Reset = func(context.Context) error { resets.Add(1); return nil }
	})
	waitFor(t, "book verified", e.bookIs(t, b.Key(), 1, devtools.StatusVerified))

	// A signature of the real key, seen on another connection.
	_, seen := dialChallenge(t, e)
	replayed := signedHello(ana.Identity(), "ana", seen, e.host())

	cases := []struct {
		name  string
		hello func(nonce []byte) *report.Hello
	}{
		{"wrong key", func(nonce []byte) *report.Hello {
			h := signedHello(mallory.Identity(), "impostor", nonce, e.host())
			h.ID = ana.ID()
			return h
		}},
		{"replayed signature", func([]byte) *report.Hello { return replayed }},
		{"another server", func(nonce []byte) *report.Hello {
			return signedHello(ana.Identity(), "impostor", nonce, "127.0.0.1:1")
		}},
		{"another name of this server", func(nonce []byte) *report.Hello {
			return signedHello(ana.Identity(), "impostor", nonce, strings.Replace(e.host(), "127.0.0.1", "localhost", 1))
		}},
		{"no signature", func(nonce []byte) *report.Hello {
			h := signedHello(ana.Identity(), "impostor", nonce, e.host())
			h.Sig = make([]byte, len(h.Sig))
			return h
		}},
	}
	for _, tc := range cases {
		p, nonce := dialChallenge(t, e)
		p.send(report.TypeHello, tc.hello(nonce))
		// What it sends next must not be taken either.
		p.ws.Write(ctx, websocket.MessageText, []byte(`{"v":2,"type":"error","at":1,"body":{"text":"spoofed"}}`))
		if code, reason := p.closed(); code != websocket.StatusPolicyViolation || !strings.Contains(reason, "signature") {
			t.Errorf("%s: closed with %d %q", tc.name, code, reason)
		}
	}

	var pd devtools.PeerDetail
	e.get(t, "/api/peers/"+ana.ID().String(), &pd)
	if !pd.Connected || pd.Sessions != 1 || pd.Alias != "ana" || !r.R.Connected() {
		t.Fatalf("the real reporter was disturbed: %+v", pd.PeerView)
	}
	for _, ev := range pd.Events {
		if ev.Text == "spoofed" || ev.Text == "impostor" {
			t.Fatalf("an impostor's frame was taken: %+v", ev)
		}
	}
	if st, body := e.post(t, "/api/peers/"+ana.ID().String()+"/reset", nil); st != http.StatusOK || resets.Load() != 1 {
		t.Fatalf("a command to the real reporter: %d %s", st, body)
	}
	// The real key on a fresh challenge is accepted (and replaces the
	// older connection, as a reconnecting tab does).
	dialRaw(t, e, ana.Identity(), "ana again")
}

// TestHandshakeBound: connections that have not proven their id are
// bounded; one that proves it makes room, and the real reporter gets in.
func TestHandshakeBound(t *testing.T) {
	e := newEnv(t, devtools.Config{MaxHandshakes: 2})
	ana := openDB(t, 1)
	p1, _ := dialChallenge(t, e)
	dialChallenge(t, e)
	if _, resp, err := websocket.Dial(ctx, e.WS, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a third waiting connection: %v", err)
	}
	p1.ws.CloseNow()
	r := startReporter(t, e, ana, "ana", nil)
	waitFor(t, "connected once a waiting one left", r.R.Connected)
	// Authenticated connections do not count.
	dialChallenge(t, e)
}
