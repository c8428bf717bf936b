package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// memOpener keeps every profile in memory.
func memOpener(context.Context, string) (store.Store, error) { return store.NewMemory(), nil }

// deadRelay is the websocket URL of a loopback port nothing listens on.
func deadRelay(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "ws://" + addr
}

// registry is a seed registry like jsapi's, recording its calls.
type registry struct {
	mu       sync.Mutex
	taken    map[identity.ID]bool
	took     []identity.ID
	released []identity.ID
}

func newRegistry() *registry { return &registry{taken: make(map[identity.ID]bool)} }

func (r *registry) take(id identity.ID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.taken[id] {
		return errors.New("taken")
	}
	r.taken[id] = true
	r.took = append(r.took, id)
	return nil
}

func (r *registry) release(id identity.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.taken, id)
	r.released = append(r.released, id)
}

// recorder collects an App's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	more   chan struct{} // has a value when events grew
}

func record(a *App) *recorder {
	r := &recorder{more: make(chan struct{}, 1)}
	a.Subscribe(func(ev Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		select {
		case r.more <- struct{}{}:
		default:
		}
	})
	return r
}

// wait waits until cond holds for the events so far.
func (r *recorder) wait(t testing.TB, what string, cond func([]Event) bool) []Event {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		evs := slices.Clone(r.events)
		r.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-r.more:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; events: %+v", what, evs)
		}
	}
}

type testApp struct {
	*App
	reg *registry
}

func startApp(t testing.TB, name, relayURL string) testApp {
	t.Helper()
	ctx := testCtx(t)
	p, err := vault.Open(ctx, name, memOpener, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	if err := reg.take(p.ID); err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, Config{Profile: p, Relay: relayURL, Logger: quiet, Take: reg.take, Release: reg.release})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return testApp{a, reg}
}

// do calls a.Do with args, failing the test on an error.
func do(t testing.TB, a *App, method, args string) json.RawMessage {
	t.Helper()
	out, err := a.Do(testCtx(t), method, json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s(%s): %v", method, args, err)
	}
	return out
}

func online(self identity.ID) func([]Event) bool {
	return func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == room.EventPeer && ev.Peer == self && ev.State == StateOnline
		})
	}
}

func TestGoesOnline(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	a := startApp(t, "ana", url)
	rec := record(a.App)
	rec.wait(t, "online", online(a.ID()))
	if s := a.State(); s != StateOnline {
		t.Fatalf("State %q, want online", s)
	}
	if r := a.Relay(); r != url {
		t.Fatalf("Relay %q, want %q", r, url)
	}
	// The event's JSON is what the page's hooks get; its type comes first
	// (the tabs and the JS API read it alone: package jsonhead).
	b, err := json.Marshal(Event{Type: room.EventPeer, Peer: a.ID(), State: StateOnline})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"peer","peer":"` + a.ID().String() + `","state":"online"}`; string(b) != want {
		t.Fatalf("event JSON %s, want %s", b, want)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if s := a.State(); s != StateClosed {
		t.Fatalf("State %q after Close", s)
	}
	if _, err := a.Do(testCtx(t), "tasks", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("tasks after Close: %v, want ErrClosed", err)
	}
	if got := a.reg.released; len(got) != 1 || got[0] != a.ID() {
		t.Fatalf("released %v, want the profile's id", got)
	}
}

// TestRetriesUntilRelayUp starts with the relay down; the relay then comes
// up on the same address and the App goes online by itself.
func TestRetriesUntilRelayUp(t *testing.T) {
	addr := relaytest.FreeAddr(t)
	a := startApp(t, "ana", "ws://"+addr)
	rec := record(a.App)
	rec.wait(t, "offline", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool { return ev.Type == room.EventPeer && ev.State == StateOffline })
	})
	if s := a.State(); s != StateOffline {
		t.Fatalf("State %q with the relay down, want offline", s)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := relay.NewServer(quiet, relay.DefaultLimits())
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	defer func() { a.Close(); srv.Close(); hs.Close() }()
	rec.wait(t, "online after the relay came up", online(a.ID()))
}

// TestOtherRelays: Config.Relays keeps the ws:// and wss:// URLs other
// than Relay, once each, in order.
func TestOtherRelays(t *testing.T) {
	got := otherRelays("ws://a:1/relay", []string{"ws://b:2/relay", "ws://a:1/relay", "http://c/relay", "", "wss://d/relay",
		"ws://*.e/relay", "ws://b:2/relay", "ws://f/relay 'unsafe-inline'", "javascript:1"})
	if want := []string{"ws://b:2/relay", "wss://d/relay"}; !slices.Equal(got, want) {
		t.Fatalf("otherRelays %q, want %q", got, want)
	}
}

// TestRelaysFallback: with its first relay down, the App goes online at
// another of Config.Relays.
func TestRelaysFallback(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ctx := testCtx(t)
	p, err := vault.Open(ctx, "ana", memOpener, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, Config{Profile: p, Relay: deadRelay(t), Relays: []string{"http://127.0.0.1:1/", url}, Logger: quiet})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	defer a.Close()
	record(a).wait(t, "online", online(a.ID()))
	a.mu.Lock()
	io := a.io
	a.mu.Unlock()
	if got := io.RelayURL(); got != url {
		t.Fatalf("online at %q, want %s", got, url)
	}
}

// TestCloseCancelsJoin: a join waiting for an offline host returns with
// ErrClosed when the App closes, and Close returns.
func TestCloseCancelsJoin(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", deadRelay(t)) // never online
	task := do(t, ana.App, "createTask", `[{"title":"plan"}]`)
	var info room.TaskInfo
	if err := json.Unmarshal(task, &info); err != nil {
		t.Fatal(err)
	}
	code := do(t, ana.App, "invite", `["`+info.ID.String()+`"]`)
	ana.Close()

	bob := startApp(t, "bob", url)
	entered := make(chan struct{})
	bob.onEnter = func() { close(entered) } // the one call of this test
	errc := make(chan error, 1)
	go func() {
		_, err := bob.Do(context.Background(), "join", json.RawMessage(`[`+string(code)+`]`))
		errc <- err
	}()
	<-entered
	select {
	case err := <-errc:
		t.Fatalf("join returned while its host is offline: %v", err)
	default:
	}
	closed := make(chan error, 1)
	go func() { closed <- bob.Close() }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("join after Close: %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("join still waiting after Close")
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return")
	}
}

// TestTwoApps: Ana and Bob through Do, with the arguments as the page
// sends them (JSON.stringify of the arguments).
func TestTwoApps(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	bob := startApp(t, "bob", url)
	bobEvents := record(bob.App)
	anaEvents := record(ana.App)

	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	do(t, ana.App, "createTask", `[{"title":"sub","parent":`+id+`}]`)
	expires := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z") // a Date in JSON
	var code string
	if err := json.Unmarshal(do(t, ana.App, "invite", `[`+id+`,{"expires":"`+expires+`"}]`), &code); err != nil {
		t.Fatal(err)
	}
	var joined room.TaskInfo
	if err := json.Unmarshal(do(t, bob.App, "join", `["`+code+`",{"timeout":30000}]`), &joined); err != nil {
		t.Fatal(err)
	}
	if joined.ID != task.ID {
		t.Fatalf("joined %s, want %s", joined.ID, task.ID)
	}
	firstJSON := do(t, ana.App, "send", `[`+id+`,"one"]`)
	var first MessageView
	if err := json.Unmarshal(firstJSON, &first); err != nil {
		t.Fatal(err)
	}
	do(t, ana.App, "sendMany", `[`+id+`,["two","three"]]`)
	texts := func(a *App) []string {
		var vs []MessageView
		if err := json.Unmarshal(do(t, a, "timeline", `[`+id+`]`), &vs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			if v.Type == room.TypeChat {
				var d struct{ Text string }
				json.Unmarshal(v.Data, &d)
				out = append(out, d.Text)
			}
		}
		return out
	}
	// Bob's message events bring Ana's messages in order. A page stored
	// while its book was being followed may be read twice (room's
	// ensurePair: rescan), so an event may repeat a message: each counts
	// once.
	bobEvents.wait(t, "Ana's messages at Bob", func(evs []Event) bool {
		var got []string
		seen := map[string]bool{}
		for _, ev := range evs {
			if ev.Type == room.EventMessage && ev.Message != nil && ev.Message.Head.By == ana.ID() && ev.Message.Type == room.TypeChat && !ev.Message.Pending && !seen[ev.Message.ID] {
				seen[ev.Message.ID] = true
				var d struct{ Text string }
				json.Unmarshal(ev.Message.Data, &d)
				got = append(got, d.Text)
			}
		}
		return slices.Equal(got, []string{"one", "two", "three"})
	})
	// Bob replies to Ana's message given as the object the page holds.
	var reply MessageView
	if err := json.Unmarshal(do(t, bob.App, "send", `[`+id+`,"re",{"replyTo":`+string(firstJSON)+`}]`), &reply); err != nil {
		t.Fatal(err)
	}
	anaEvents.wait(t, "Bob's reply at Ana", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == room.EventMessage && ev.Message != nil && ev.Message.ID == reply.ID && !ev.Message.Pending
		})
	})
	want := []string{"one", "two", "three", "re"}
	if got := texts(ana.App); !slices.Equal(got, want) {
		t.Fatalf("Ana's timeline %q, want %q", got, want)
	}
	if got := texts(bob.App); !slices.Equal(got, want) {
		t.Fatalf("Bob's timeline %q, want %q", got, want)
	}
	if reply.Refs.Cause == nil || reply.Refs.Cause.String() != first.ID {
		t.Fatalf("reply's cause %v, want %s", reply.Refs.Cause, first.ID)
	}
	// A follower tab's send carries a nonce; sent again as a retry (the tab
	// that carried it out closed), it is not written twice.
	var once, again MessageView
	json.Unmarshal(do(t, bob.App, "send", `[`+id+`,"once",{"nonce":"tab1-1"}]`), &once)
	json.Unmarshal(do(t, bob.App, "send", `[`+id+`,"once",{"nonce":"tab1-1","retry":true}]`), &again)
	if once.ID == "" || again.ID != once.ID {
		t.Fatalf("send with a nonce %q, retried %q: want one message", once.ID, again.ID)
	}
	if got := texts(bob.App); !slices.Equal(got, append(want, "once")) {
		t.Fatalf("Bob's timeline after a retried send %q", got)
	}
	var tree []*TaskNode
	if err := json.Unmarshal(do(t, ana.App, "tasks", `[]`), &tree); err != nil {
		t.Fatal(err)
	}
	if len(tree) != 1 || len(tree[0].Children) != 1 || tree[0].Children[0].Title != "sub" {
		t.Fatalf("Ana's tree %s", do(t, ana.App, "tasks", `[]`))
	}
	var members []room.MemberInfo
	if err := json.Unmarshal(do(t, bob.App, "members", `[`+id+`]`), &members); err != nil || len(members) != 2 {
		t.Fatalf("members %s: %v", do(t, bob.App, "members", `[`+id+`]`), err)
	}
	if got := string(do(t, bob.App, "mirrors", `[]`)); got != `[]` {
		t.Fatalf("mirrors of a profile without any: %s", got)
	}
}

// TestBadInput: wrong methods and arguments are errors, never panics.
func TestBadInput(t *testing.T) {
	a := startApp(t, "ana", deadRelay(t))
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, a.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	for _, c := range []struct{ method, args, want string }{
		{"nope", `[]`, "unknown method"},
		{"send", `[` + id + `,"hi"`, "arguments must be a JSON array"},
		{"send", `{"a":1}`, "arguments must be a JSON array"},
		{"send", `[1,"hi"]`, "taskId must be a string"},
		{"send", `[` + id + `,5]`, "text must be a string"},
		{"send", `[` + id + `,"hi",{"replyTo":5}]`, "replyTo must be a message or its id"},
		{"send", `[` + id + `,"hi",{"replyTo":{"id":7}}]`, "replyTo must be a message or its id"},
		{"send", `[` + id + `,"hi",{"replyTo":"x"}]`, "replyTo"},
		{"send", `["abc","hi"]`, "task"},
		{"rename", `[` + id + `]`, "title must be a string"},
		{"invite", `[` + id + `,{"expires":"tomorrow"}]`, "expires must be a Date"},
		{"invite", `[` + id + `,{"expires":true}]`, "expires must be a Date"},
		{"invite", `[` + id + `,{"expires":1e300}]`, "expires must be a Date"},
		{"revokeInvite", `[]`, "code must be a string"},
		{"join", `[null]`, "code must be a string"},
		{"join", `["garbage",{"timeout":1}]`, ""},
		{"sendMany", `[` + id + `,"x"]`, "texts must be an array of strings"},
		{"sendMany", `[` + id + `,["a",1]]`, "texts[1] is not a string"},
		{"timeline", `[` + id + `,{"before":3}]`, `option "before" must be a string`},
		{"timeline", `[` + id + `,{"before":"zz"}]`, "before"},
		{"members", `[{}]`, "taskId must be a string"},
		{"createTask", `[{"title":7}]`, `option "title" must be a string`},
		{"createTask", `[{"parent":"bad"}]`, "parent"},
		{"export", `[{"passphrase":1}]`, `option "passphrase" must be a string`},
		{"import", `[]`, "an export (object or JSON text) is required"},
		{"import", `["{\"format\":"]`, "not a task-messenger backup"},
		{"import", `[{"format":"other"}]`, "not a task-messenger backup"},
		{"import", `[{}, {"passphrase":[]}]`, `option "passphrase" must be a string`},
	} {
		_, err := a.Do(testCtx(t), c.method, json.RawMessage(c.args))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%s): %v, want an error with %q", c.method, c.args, err, c.want)
		}
	}
	big := make([]byte, MaxArgs+1)
	if _, err := a.Do(testCtx(t), "send", big); !errors.Is(err, ErrBadArgs) {
		t.Errorf("send of %d bytes: %v, want ErrBadArgs", len(big), err)
	}
	if _, err := a.Import(testCtx(t), make([]byte, MaxImport+1), ""); !errors.Is(err, backup.ErrNotBackup) {
		t.Errorf("import of %d bytes: %v, want ErrNotBackup", MaxImport+1, err)
	}
}

// TestExportImport: a backup with a passphrase imported into an empty
// profile restores the same id, tasks and timeline; a wrong passphrase
// writes nothing.
func TestExportImport(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	do(t, ana.App, "send", `[`+id+`,"remember me"]`)
	exported := do(t, ana.App, "export", `[{"passphrase":"correct horse"}]`)
	plain := do(t, ana.App, "export", `[]`)
	if strings.Contains(string(plain), `"seal"`) || !strings.Contains(string(exported), `"seal"`) {
		t.Fatal("the seal is in the export without a passphrase, or missing with one")
	}
	anaID := ana.ID()
	ana.Close()

	fresh := startApp(t, "restored", deadRelay(t))
	oldID := fresh.ID()
	text, _ := json.Marshal(string(exported)) // import(jsonText, …)
	if _, err := fresh.Do(testCtx(t), "import", json.RawMessage(`[`+string(text)+`,{"passphrase":"wrong"}]`)); !errors.Is(err, backup.ErrWrongPassphrase) {
		t.Fatalf("import with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if fresh.ID() != oldID || len(fresh.reg.took) != 1 {
		t.Fatal("a failed import changed the identity or took a seed")
	}
	if empty, err := vault.Empty(testCtx(t), fresh.profile.DB); err != nil || !empty {
		t.Fatalf("after a failed import the profile is not empty (%v)", err)
	}
	if string(do(t, fresh.App, "tasks", `[]`)) != "[]" {
		t.Fatal("a failed import shows tasks")
	}
	do(t, fresh.App, "import", `[`+string(text)+`,{"passphrase":"correct horse"}]`)
	if fresh.ID() != anaID {
		t.Fatalf("restored id %s, want %s", fresh.ID(), anaID)
	}
	if !slices.Contains(fresh.reg.took, anaID) || !slices.Contains(fresh.reg.released, oldID) {
		t.Fatalf("took %v released %v: want Ana's id taken, the old one released", fresh.reg.took, fresh.reg.released)
	}
	var tree []*TaskNode
	if err := json.Unmarshal(do(t, fresh.App, "tasks", `[]`), &tree); err != nil || len(tree) != 1 || tree[0].ID != task.ID {
		t.Fatalf("restored tasks %+v (%v)", tree, err)
	}
	if tl := do(t, fresh.App, "timeline", `[`+id+`]`); !strings.Contains(string(tl), "remember me") {
		t.Fatalf("restored timeline %s", tl)
	}
	// The restored App writes as Ana.
	do(t, fresh.App, "send", `[`+id+`,"back"]`)
	fresh.Close()
	if !slices.Contains(fresh.reg.released, anaID) {
		t.Fatal("Close did not release the restored id")
	}
}

// TestSubscribeKeepsEarlyEvents: events before the first Subscribe are
// delivered to it, in order.
func TestSubscribeKeepsEarlyEvents(t *testing.T) {
	a := startApp(t, "ana", deadRelay(t))
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, a.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	rec := record(a.App)
	rec.wait(t, "the task event", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool { return ev.Type == room.EventTask && ev.Task == task.ID })
	})
}

// TestStaleWriter: when the profile is opened again on the same store (a
// newer tab) and this App's write finds it, the App stops: a "replaced"
// peer event, State "replaced", calls fail with ErrStopped.
func TestStaleWriter(t *testing.T) {
	ctx := testCtx(t)
	st := store.NewMemory()
	open := func(context.Context, string) (store.Store, error) { return st, nil }
	p, err := vault.Open(ctx, "ana", open, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, Config{Profile: p, Relay: deadRelay(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := record(a)
	do(t, a, "createTask", `[{"title":"before"}]`)
	newer, err := vault.Open(ctx, "ana", open, nil) // another tab: the writer from now on
	if err != nil {
		t.Fatal(err)
	}
	_ = newer // closing it would close the shared store; a.Close does
	if _, err := a.Do(ctx, "createTask", json.RawMessage(`[{"title":"after"}]`)); !errors.Is(err, journal.ErrStaleWriter) {
		t.Fatalf("a write after another tab opened the profile: %v, want ErrStaleWriter", err)
	}
	rec.wait(t, "replaced", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == room.EventPeer && ev.Peer == a.ID() && ev.State == StateReplaced
		})
	})
	if _, err := a.Do(ctx, "tasks", nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("tasks after being replaced: %v, want ErrStopped", err)
	}
	if s := a.State(); s != StateReplaced {
		t.Fatalf("State %q, want replaced", s)
	}
}
