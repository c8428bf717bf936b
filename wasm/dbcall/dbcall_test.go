package dbcall

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

func openDB(t testing.TB, b byte) *journal.DB {
	t.Helper()
	var seed identity.Seed
	seed[0] = b
	db, err := journal.Open(context.Background(), store.NewMemory(), seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func call(t *testing.T, db *journal.DB, method string, args ...any) json.RawMessage {
	t.Helper()
	raw, _ := json.Marshal(args)
	out, err := Do(context.Background(), db, method, raw)
	if err != nil {
		t.Fatalf("%s%s: %v", method, raw, err)
	}
	return out
}

// A book authored, added to and read through Do, as a follower's db
// object calls it; its events carry the pages.
func TestDo(t *testing.T) {
	db := openDB(t, 1)
	var evs []BookEvent
	db.Subscribe(func(e journal.Event) {
		var m struct {
			Type string
			Book BookEvent
		}
		if err := json.Unmarshal(Event(e), &m); err != nil || m.Type != EventType {
			t.Errorf("event %s: %v", Event(e), err)
		}
		evs = append(evs, m.Book)
	})
	var bk Book
	json.Unmarshal(call(t, db, "db.author", "notes", map[string]int{"v": 1}), &bk)
	if bk.Name != "notes" || !bk.Writable || bk.Key != db.BookKey("notes") {
		t.Fatalf("author: %+v", bk)
	}
	key := bk.Key.String()
	if got := string(call(t, db, "db.add", key, map[string]string{"text": "hi"})); got != "1" {
		t.Errorf("add: %s, want 1", got)
	}
	if got := string(call(t, db, "db.get", key, 1)); got != `{"page":{"text":"hi"}}` {
		t.Errorf("get(1): %s", got)
	}
	var g struct{ Page Genesis }
	json.Unmarshal(call(t, db, "db.get", key, 0), &g)
	if g.Page.Type != "genesis" || g.Page.Name != "notes" || g.Page.Author != db.ID() || string(g.Page.Meta) != `{"v":1}` {
		t.Errorf("get(0): %+v", g.Page)
	}
	if got := string(call(t, db, "db.len", key)); got != "2" {
		t.Errorf("len: %s", got)
	}
	var infos []Info
	json.Unmarshal(call(t, db, "db.books"), &infos)
	found := false
	for _, in := range infos {
		if in.Key == bk.Key && in.Length == 2 && in.Writable && !in.Forked {
			found = true
		}
	}
	if !found {
		t.Errorf("books: %+v has no notes of 2 pages", infos)
	}
	last := evs[len(evs)-1]
	if last.Type != journal.EventAppend || last.Key != bk.Key || last.Index != 1 || last.Count != 1 || len(last.Pages) != 1 || string(last.Pages[0].Page) != `{"text":"hi"}` {
		t.Errorf("last event %+v", last)
	}

	// The export of one profile imports into another.
	ex := call(t, db, "db.export")
	other := openDB(t, 2)
	call(t, other, "db.import", string(ex))
	r := call(t, other, "db.reader", key)
	if !strings.Contains(string(r), `"writable":false`) {
		t.Errorf("reader: %s", r)
	}
	if got := string(call(t, other, "db.get", key, 1)); got != `{"page":{"text":"hi"}}` {
		t.Errorf("imported get(1): %s", got)
	}
	if _, err := Do(context.Background(), other, "db.add", json.RawMessage(`["`+key+`", 1]`)); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("add to a replica: %v, want unauthorized", err)
	}
}

// Bad arguments, unknown methods and reset fail with clear errors.
func TestDoRefuses(t *testing.T) {
	db := openDB(t, 1)
	key := db.BookKey("x").String()
	for _, c := range []struct{ method, args, want string }{
		{"db.author", `[]`, "name"},
		{"db.author", `[""]`, "name"},
		{"db.reader", `[3]`, "key"},
		{"db.add", `["` + key + `", 1]`, "no book"},
		{"db.get", `["nope", 1]`, "reader(key)"[0:0] + "get(i)"},
		{"db.books", `{}`, "JSON array"},
		{"db.import", `[1]`, "export"},
		{"db.reset", `[]`, "follower"},
		{"db.drop", `[]`, "unknown db method"},
		{"db.books", `[` + strings.Repeat(" ", MaxArgs) + `]`, "at most"},
	} {
		_, err := Do(context.Background(), db, c.method, json.RawMessage(c.args))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s%.40s: %v, want an error saying %q", c.method, c.args, err, c.want)
		}
	}
	call(t, db, "db.author", "x")
	for _, args := range []string{`["` + key + `"]`, `["` + key + `", -1]`, `["` + key + `", 1.5]`, `["` + key + `", "1"]`} {
		if _, err := Do(context.Background(), db, "db.get", json.RawMessage(args)); err == nil {
			t.Errorf("get%s: no error", args)
		}
	}
	if _, err := Do(context.Background(), db, "db.get", json.RawMessage(`["`+key+`", 5]`)); err == nil || !strings.Contains(err.Error(), "no such page") {
		t.Errorf("get(5): %v", err)
	}
}

// Big pages are left out of events; their count stays.
func TestEventBounded(t *testing.T) {
	e := journal.Event{Type: journal.EventPut, Index: 3, Pages: [][]byte{make([]byte, MaxEventPages), {1}}}
	be := BookEventOf(e)
	if be.Count != 2 || be.Pages != nil {
		t.Errorf("event of %d bytes: count %d, %d pages", MaxEventPages+1, be.Count, len(be.Pages))
	}
	be = BookEventOf(journal.Event{Type: journal.EventPut, Index: 3, Pages: [][]byte{{0xff}}})
	if len(be.Pages) != 1 || string(be.Pages[0].Bytes) != "\xff" {
		t.Errorf("a binary page: %+v", be.Pages)
	}
}

// A Service serves db methods only, and Close waits for calls in flight.
func TestService(t *testing.T) {
	db := openDB(t, 1)
	closed := 0
	s := NewService(db, func() error { closed++; return db.Store().Close() })
	if _, err := s.Do(context.Background(), "send", json.RawMessage(`[]`)); !errors.Is(err, ErrNotServed) {
		t.Errorf("send: %v, want ErrNotServed", err)
	}
	if s.ID() != db.ID() || s.State() != "" {
		t.Errorf("id %s state %q", s.ID(), s.State())
	}
	got := make(chan json.RawMessage, 1)
	cancel := s.Subscribe(func(ev json.RawMessage) {
		select {
		case got <- ev:
		default:
		}
	})
	if _, err := s.Do(context.Background(), "db.author", json.RawMessage(`["a"]`)); err != nil {
		t.Fatal(err)
	}
	if ev := <-got; !strings.Contains(string(ev), `"type":"book"`) {
		t.Errorf("event %s", ev)
	}
	cancel()
	s.Close()
	s.Close()
	if _, err := s.Do(context.Background(), "db.books", nil); !errors.Is(err, ErrClosed) || closed != 1 {
		t.Errorf("after Close: %v, closed %d times", err, closed)
	}
}

// Whatever a tab sends, Do answers or fails; it does not panic.
func FuzzDo(f *testing.F) {
	db := openDB(f, 1)
	key := db.BookKey("x").String()
	if _, err := db.Author(context.Background(), "x", nil); err != nil {
		f.Fatal(err)
	}
	for _, m := range []string{"db.books", "db.author", "db.reader", "db.add", "db.get", "db.len", "db.head", "db.info", "db.import", "db.export"} {
		f.Add(m, `["`+key+`", 1]`)
	}
	f.Add("db.author", `["y", {"a": [1, 2]}]`)
	f.Add("db.import", `["{\"books\": [{}]}"]`)
	f.Add("db.export", `[{"passphrase": 3}]`)
	f.Fuzz(func(t *testing.T, method, args string) {
		if method == "db.export" || method == "db.import" {
			args = strings.ReplaceAll(args, "passphrase", "p") // scrypt is slow
		}
		_, _ = Do(context.Background(), db, method, json.RawMessage(args))
	})
}
