package tabs

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// world is one browser's tabs of one profile.
type world struct {
	t    *testing.T
	lock *memLock
	hub  *hub
	p    *profile
}

func newWorld(t *testing.T) *world {
	return &world{t: t, lock: &memLock{}, hub: &hub{}, p: newProfile()}
}

// tab opens a tab; patience 0 means a writer is never taken over.
func (w *world) tab(patience time.Duration) (*Tab, *memBus) {
	w.t.Helper()
	if patience == 0 {
		patience = time.Hour
	}
	b := w.hub.bus()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tab, err := Start(ctx, Config{Lock: w.lock, Bus: b, Open: w.p.open, Ping: 20 * time.Millisecond, Patience: patience})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { tab.Close() })
	return tab, b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func args(v ...any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// events collects a tab's events.
type events struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{}
}

func collect(tab *Tab) *events {
	e := &events{ch: make(chan struct{}, 1)}
	tab.Subscribe(func(ev json.RawMessage) {
		var m struct{ Type, Text string }
		if json.Unmarshal(ev, &m) != nil || m.Type != "message" {
			return
		}
		e.mu.Lock()
		e.got = append(e.got, m.Text)
		e.mu.Unlock()
		select {
		case e.ch <- struct{}{}:
		default:
		}
	})
	return e
}

// wait returns the texts once there are n.
func (e *events) wait(t *testing.T, n int) []string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		e.mu.Lock()
		got := append([]string(nil), e.got...)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-e.ch:
		case <-timeout:
			t.Fatalf("events: %q, want %d", got, n)
		}
	}
}

func writers(tabs ...*Tab) int {
	n := 0
	for _, t := range tabs {
		if t.Writer() {
			n++
		}
	}
	return n
}

// Three tabs of a profile: one writer, two followers; each tab sends, each
// message is written once, and every tab sees every message, in one order.
func TestOneWriterThreeTabs(t *testing.T) {
	w := newWorld(t)
	a, _ := w.tab(0)
	b, _ := w.tab(0)
	c, _ := w.tab(0)
	if n := writers(a, b, c); n != 1 || !a.Writer() {
		t.Fatalf("%d writers (first tab writer: %v), want the first tab alone", n, a.Writer())
	}
	for _, tab := range []*Tab{a, b, c} {
		if tab.ID() != w.p.id {
			t.Fatalf("tab's profile %v, want %v", tab.ID(), w.p.id)
		}
	}
	evs := []*events{collect(a), collect(b), collect(c)}
	for i, tab := range []*Tab{a, b, c, b, a, c} {
		text := string(rune('A' + i))
		res, err := tab.Do(ctxT(t), "send", args(text))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if json.Unmarshal(res, &got) != nil || got != text {
			t.Fatalf("send %q answered %s", text, res)
		}
	}
	want := []string{"A", "B", "C", "D", "E", "F"}
	if got := w.p.texts(); !slices.Equal(got, want) {
		t.Fatalf("written %q, want %q", got, want)
	}
	for i, e := range evs {
		if got := e.wait(t, 6); !slices.Equal(got, want) {
			t.Errorf("tab %d saw %q, want %q", i, got, want)
		}
	}
	if w.p.opens != 1 {
		t.Errorf("the profile was opened %d times, want once", w.p.opens)
	}
	// A follower's bad call gets the service's error.
	if _, err := b.Do(ctxT(t), "nope", args()); err == nil || err.Error() != `unknown method "nope"` {
		t.Errorf("unknown method through a follower: %v", err)
	}
}

// The writer tab closes with a follower's send and createTask in flight:
// the send had been written and is not written again by the next writer;
// the createTask fails with ErrWriterGone; the follower is then the
// writer and works.
func TestHandOver(t *testing.T) {
	w := newWorld(t)
	a, _ := w.tab(0)
	b, _ := w.tab(0)
	roles := make(chan string, 4)
	b.Subscribe(func(ev json.RawMessage) {
		var e struct{ Type, State string }
		if json.Unmarshal(ev, &e) == nil && e.Type == "tab" {
			roles <- e.State
		}
	})
	w.p.mu.Lock()
	w.p.gate = make(chan struct{}) // written, never answered by a
	w.p.mu.Unlock()
	type res struct {
		data json.RawMessage
		err  error
	}
	send, create := make(chan res, 1), make(chan res, 1)
	go func() { d, err := b.Do(ctxT(t), "send", args("in flight")); send <- res{d, err} }()
	go func() { d, err := b.Do(ctxT(t), "createTask", args("task in flight")); create <- res{d, err} }()
	for len(w.p.texts()) < 2 {
		time.Sleep(time.Millisecond) // polls the fake profile: both calls reached the writer
	}
	w.p.mu.Lock()
	w.p.gate = nil
	w.p.mu.Unlock()
	a.Close()
	r := <-send
	if r.err != nil || string(r.data) != `"in flight"` {
		t.Fatalf("send in flight at the hand-over: %s, %v", r.data, r.err)
	}
	if r := <-create; !errors.Is(r.err, ErrWriterGone) {
		t.Fatalf("createTask in flight at the hand-over: %s, %v; want ErrWriterGone", r.data, r.err)
	}
	if !b.Writer() || b.Role() != RoleWriter {
		t.Fatal("the follower did not take over")
	}
	if r := <-roles; r != RoleWriter {
		t.Fatalf("tab event %q, want %q", r, RoleWriter)
	}
	got := w.p.texts()
	sort.Strings(got)
	if !slices.Equal(got, []string{"in flight", "task in flight"}) {
		t.Fatalf("written %q: the send in flight must be written once", got)
	}
	if _, err := b.Do(ctxT(t), "send", args("after")); err != nil {
		t.Fatal(err)
	}
}

// A writer that is frozen (it keeps the lock, answers nothing) is taken
// over by a follower; when it wakes up it follows the new writer, and its
// own calls go there.
func TestFrozenWriter(t *testing.T) {
	w := newWorld(t)
	a, abus := w.tab(0)
	b, _ := w.tab(100 * time.Millisecond)
	abus.pause()
	// b's call waits for a writer that answers: b takes the lock.
	res, err := b.Do(ctxT(t), "echo", args("hi"))
	if err != nil || string(res) != `["hi"]` {
		t.Fatalf("echo after the writer froze: %s, %v", res, err)
	}
	if !b.Writer() {
		t.Fatal("the follower did not take over the frozen writer")
	}
	abus.resume()
	// a learns it lost the lock; its calls go to b.
	for a.Writer() {
		time.Sleep(time.Millisecond) // a's lock loop sees the lock lost
	}
	if _, err := a.Do(ctxT(t), "send", args("from the old writer")); err != nil {
		t.Fatal(err)
	}
	if got := w.p.texts(); !slices.Equal(got, []string{"from the old writer"}) {
		t.Fatalf("written %q", got)
	}
	if w.p.opens != 2 {
		t.Errorf("opened %d times, want 2 (a, then b)", w.p.opens)
	}
}

// A writer that knows it is frozen (Awake false: Chromium delivers a
// frozen page's messages, but its storage stands still) answers nothing
// and takes no call, so its follower takes over and carries out the call.
func TestWriterKnowsItIsFrozen(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	var frozen atomic.Bool
	a, err := Start(ctx, Config{Lock: w.lock, Bus: w.hub.bus(), Open: w.p.open, Ping: 20 * time.Millisecond,
		Patience: time.Hour, Awake: func() bool { return !frozen.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := w.tab(100 * time.Millisecond)
	roles := make(chan string, 4)
	b.Subscribe(func(ev json.RawMessage) {
		var e struct{ Type, State string }
		if json.Unmarshal(ev, &e) == nil && e.Type == "tab" {
			roles <- e.State
		}
	})
	frozen.Store(true)
	if _, err := b.Do(ctx, "send", args("while frozen")); err != nil {
		t.Fatal(err)
	}
	if r := <-roles; r != RoleWriter || !b.Writer() {
		t.Fatalf("the follower of a frozen writer: %s", r)
	}
	if got := w.p.texts(); !slices.Equal(got, []string{"while frozen"}) {
		t.Fatalf("written %q", got)
	}
	for a.Writer() {
		time.Sleep(time.Millisecond) // a sees its lock lost
	}
}

// A follower's reset is answered once, and then the profile is opened
// afresh by a writer (the storage is gone: a new identity).
func TestResetReopens(t *testing.T) {
	w := newWorld(t)
	a, _ := w.tab(0)
	b, _ := w.tab(0)
	if _, err := b.Do(ctxT(t), "reset", args()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.p.mu.Lock()
		opens := w.p.opens
		w.p.mu.Unlock()
		if opens == 2 && writers(a, b) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opens %d, resets %d, a writer %v, b writer %v", opens, w.p.resets, a.Writer(), b.Writer())
		}
		time.Sleep(time.Millisecond) // polls: a writer opens the profile again
	}
	if _, err := a.Do(ctxT(t), "echo", args()); err != nil {
		t.Fatal(err)
	}
	if w.p.resets != 1 {
		t.Fatalf("reset %d times, want once", w.p.resets)
	}
}

// Closing a follower ends its calls in flight with ErrClosed; a call after
// Close fails the same way.
func TestCloseEndsCalls(t *testing.T) {
	w := newWorld(t)
	_, _ = w.tab(0)
	b, _ := w.tab(0)
	done := make(chan error, 1)
	go func() { _, err := b.Do(ctxT(t), "block", args()); done <- err }()
	for {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond) // polls: the call is in flight
	}
	b.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("call in flight at Close: %v, want ErrClosed", err)
	}
	if _, err := b.Do(ctxT(t), "echo", args()); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

// A follower's cancelled call is cancelled at the writer too.
func TestCancel(t *testing.T) {
	w := newWorld(t)
	a, _ := w.tab(0)
	b, _ := w.tab(0)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { _, err := b.Do(ctx, "block", args()); done <- err }()
	for {
		a.mu.Lock()
		n := len(a.running)
		a.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond) // polls: the writer runs the call
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	for {
		a.mu.Lock()
		n := len(a.running)
		a.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond) // polls: the writer's call ends
	}
}

// A profile that cannot be opened fails Start.
func TestOpenFails(t *testing.T) {
	w := newWorld(t)
	_, err := Start(ctxT(t), Config{Lock: w.lock, Bus: w.hub.bus(),
		Open: func(context.Context) (Service, error) { return nil, errors.New("no storage") }})
	if err == nil || err.Error() != "no storage" {
		t.Fatalf("Start = %v", err)
	}
	// The lock was given back: the next tab is the writer.
	a, _ := w.tab(0)
	if !a.Writer() {
		t.Fatal("the next tab is not the writer")
	}
}

// Whatever another tab posts, a tab neither panics nor stops answering.
func FuzzBus(f *testing.F) {
	f.Add([]byte(`{"t":"call","from":"x","id":"x-1","method":"echo","args":[1]}`))
	f.Add([]byte(`{"t":"pong","from":"x","peer":"zz","state":"online"}`))
	f.Add([]byte(`{"t":"reply","from":"x","id":"y-1","error":"e"}`))
	f.Add([]byte(`{"t":"event","from":"x","event":{"type":"peer"}}`))
	f.Add([]byte(`{"t":"writer","from":"x"}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		w := newWorld(t)
		a, _ := w.tab(0)
		evil := w.hub.bus()
		_ = evil.Post(msg)
		if _, err := a.Do(ctxT(t), "echo", args(1)); err != nil {
			t.Fatal(err)
		}
	})
}
