package tabs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// partialService is a db alone (tm.vault, tm.DB): it serves "db." calls
// and echo only.
type partialService struct{ *service }

func (s partialService) Do(ctx context.Context, method string, args json.RawMessage) (json.RawMessage, error) {
	if method != "echo" && !strings.HasPrefix(method, "db.") {
		return nil, fmt.Errorf("%s: not served by a db alone", method)
	}
	return s.service.Do(ctx, method, args)
}

// partialTab opens a partial tab (Config.Partial).
func (w *world) partialTab() *Tab {
	w.t.Helper()
	open := func(ctx context.Context) (Service, error) {
		s, err := w.p.open(ctx)
		if err != nil {
			return nil, err
		}
		return partialService{s.(*service)}, nil
	}
	tab, err := Start(ctxT(w.t), Config{Lock: w.lock, Bus: w.hub.bus(), Open: open, Ping: 20 * time.Millisecond, Patience: time.Hour, Partial: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { tab.Close() })
	return tab
}

// waitFor polls cond (a tab's role, which its lock loop changes).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond) // polls the tabs' roles
	}
}

// A partial tab (the debug page's tm.vault) writes the profile while it is
// alone. A full tab (the messenger) opened later gets the profile: the
// partial tab yields the lock and follows it, and its db calls go to the
// full tab. The full tab's send made while the partial tab still wrote is
// carried out by the full tab, once; the profile is never open twice.
func TestPartialYields(t *testing.T) {
	w := newWorld(t)
	p := w.partialTab()
	if !p.Writer() {
		t.Fatal("a partial tab alone is not the writer")
	}
	if _, err := p.Do(ctxT(t), "db.books", args()); err != nil {
		t.Fatal(err)
	}
	f, _ := w.tab(0)
	res, err := f.Do(ctxT(t), "send", args("hi"))
	if err != nil || string(res) != `"hi"` {
		t.Fatalf("the full tab's send: %s, %v", res, err)
	}
	waitFor(t, "the full tab writes", func() bool { return f.Writer() && !p.Writer() })
	if p.Role() != RoleFollower {
		t.Errorf("the partial tab's role %s, want follower", p.Role())
	}
	res, err = p.Do(ctxT(t), "db.books", args(1))
	if err != nil || string(res) != `[1]` {
		t.Fatalf("the partial tab's call through the full tab: %s, %v", res, err)
	}
	if got := w.p.texts(); !slices.Equal(got, []string{"hi"}) {
		t.Errorf("written %q, want hi once", got)
	}
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.most != 1 || w.p.opens != 2 {
		t.Errorf("opened %d times, at most %d at once; want 2, 1", w.p.opens, w.p.most)
	}
}

// A partial tab opened while a full tab writes follows it; it does not
// take the lock when the full tab closes while another full tab waits,
// and takes it when it is left alone.
func TestPartialFollows(t *testing.T) {
	w := newWorld(t)
	f, _ := w.tab(0)
	p := w.partialTab()
	if p.Writer() || !f.Writer() {
		t.Fatal("a partial tab took the lock from the full tab")
	}
	evs := collect(p)
	if _, err := f.Do(ctxT(t), "send", args("from the messenger")); err != nil {
		t.Fatal(err)
	}
	if got := evs.wait(t, 1); !slices.Equal(got, []string{"from the messenger"}) {
		t.Errorf("the partial tab saw %q", got)
	}
	if res, err := p.Do(ctxT(t), "db.add", args("x")); err != nil || string(res) != `["x"]` {
		t.Fatalf("db.add through the writer: %s, %v", res, err)
	}
	g, _ := w.tab(0)
	f.Close()
	waitFor(t, "a tab writes", func() bool { return writers(p, g) == 1 })
	waitFor(t, "the full tab writes", func() bool { return g.Writer() })
	if _, err := g.Do(ctxT(t), "send", args("after")); err != nil {
		t.Fatal(err)
	}
	g.Close()
	waitFor(t, "the partial tab writes", func() bool { return p.Writer() })
	if res, err := p.Do(ctxT(t), "db.books", args(2)); err != nil || string(res) != `[2]` {
		t.Fatalf("the partial tab alone: %s, %v", res, err)
	}
	if w.p.most != 1 {
		t.Errorf("the profile was open %d times at once", w.p.most)
	}
}

// countBooks counts a tab's book events.
func countBooks(tab *Tab) func() int {
	var mu sync.Mutex
	n := 0
	tab.Subscribe(func(ev json.RawMessage) {
		var e struct{ Type string }
		if json.Unmarshal(ev, &e) == nil && e.Type == partialEvent {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// The writer posts book events only while a partial tab follows it (they
// cost the writer as much as its appends): a full follower alone gets
// none; once a partial tab follows, both get them.
func TestBookEventsForPartialTabs(t *testing.T) {
	w := newWorld(t)
	f, _ := w.tab(0)
	g, _ := w.tab(0)
	gBooks, gMsgs := countBooks(g), collect(g)
	if _, err := f.Do(ctxT(t), "db.add", args(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Do(ctxT(t), "send", args("after the add")); err != nil {
		t.Fatal(err)
	}
	gMsgs.wait(t, 1) // the bus keeps order: a book event posted would be here before
	if n := gBooks(); n != 0 {
		t.Fatalf("a full follower got %d book events with no partial tab", n)
	}
	p := w.partialTab()
	pBooks := countBooks(p)
	if _, err := p.Do(ctxT(t), "db.add", args(2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both followers get the book event", func() bool { return pBooks() == 1 && gBooks() == 1 })
}
