package app

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// killableRelay runs a relay on 127.0.0.1 and returns its websocket URL
// and a function that kills it (its connections drop, dials are refused).
func killableRelay(t *testing.T) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := relay.DefaultLimits()
	lim.MaxConnsPerIP = lim.MaxConns
	srv := relay.NewServer(quiet, lim)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	done := false
	kill := func() {
		if !done {
			done = true
			srv.Close()
			hs.Close()
		}
	}
	t.Cleanup(kill)
	return "ws://" + l.Addr().String(), kill
}

// startClusterApp starts an App on relay first that knows others.
func startClusterApp(t *testing.T, name, first string, others ...string) *App {
	t.Helper()
	ctx := testCtx(t)
	p, err := vault.Open(ctx, name, memOpener, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, Config{Profile: p, Relay: first, Relays: others, Logger: quiet})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// onlineAt holds once the own 'peer' events say online at relay url, after
// any earlier event.
func onlineAt(self, url string, after int) func([]Event) bool {
	return func(evs []Event) bool {
		return len(evs) > after && slices.ContainsFunc(evs[after:], func(ev Event) bool {
			return ev.Type == room.EventPeer && ev.Peer.String() == self && ev.State == StateOnline && ev.Relay == url
		})
	}
}

// TestRelayFailover: two members of a task are on a relay node that dies;
// both say offline, then online on the other node of Config.Relays, and a
// message sent after reaches the other member.
func TestRelayFailover(t *testing.T) {
	r1, kill := killableRelay(t)
	r2 := relaytest.Start(t, relay.DefaultLimits())
	ana := startClusterApp(t, "ana", r1, r2)
	bob := startClusterApp(t, "bob", r1, r2)
	anaEvents, bobEvents := record(ana), record(bob)
	anaEvents.wait(t, "Ana online at node 1", onlineAt(ana.ID().String(), r1, 0))
	bobEvents.wait(t, "Bob online at node 1", onlineAt(bob.ID().String(), r1, 0))

	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	var code string
	if err := json.Unmarshal(do(t, ana, "invite", `[`+id+`]`), &code); err != nil {
		t.Fatal(err)
	}
	do(t, bob, "join", `["`+code+`",{"timeout":30000}]`)
	do(t, ana, "send", `[`+id+`,"before"]`)
	bobEvents.wait(t, "'before' at Bob", chat(ana.ID().String(), "before"))

	anaMark, bobMark := len(anaEvents.snapshot()), len(bobEvents.snapshot())
	kill()
	for _, w := range []struct {
		a    *App
		rec  *recorder
		mark int
	}{{ana, anaEvents, anaMark}, {bob, bobEvents, bobMark}} {
		evs := w.rec.wait(t, w.a.Profile()+" online at node 2", onlineAt(w.a.ID().String(), r2, w.mark))
		if !slices.ContainsFunc(evs[w.mark:], func(ev Event) bool {
			return ev.Type == room.EventPeer && ev.Peer == w.a.ID() && ev.State == StateOffline
		}) {
			t.Errorf("%s never said offline while it moved", w.a.Profile())
		}
	}
	if s := ana.State(); s != StateOnline {
		t.Fatalf("Ana's state %q after the move", s)
	}
	do(t, ana, "send", `[`+id+`,"after"]`)
	bobEvents.wait(t, "'after' at Bob", chat(ana.ID().String(), "after"))
}

// chat holds once a chat message with text by author is among the events,
// stored (not only shown pending).
func chat(author, text string) func([]Event) bool {
	return func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			if ev.Type != room.EventMessage || ev.Message == nil || ev.Message.Pending || ev.Message.Type != room.TypeChat || ev.Message.Head.By.String() != author {
				return false
			}
			var d struct{ Text string }
			json.Unmarshal(ev.Message.Data, &d)
			return d.Text == text
		})
	}
}

// snapshot returns the events so far.
func (r *recorder) snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}
