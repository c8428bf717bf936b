package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/dbcall"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestDBCalls: a follower tab's db object works through the App (Do's
// "db." methods): it lists the books, authors and appends one, and its
// hooks get the App's 'book' events once FollowBooks was called (none
// before), for the messenger's writes too; a reset is refused, saying why.
func TestDBCalls(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	rec := record(ana.App)
	var bk dbcall.Book
	if err := json.Unmarshal(do(t, ana.App, "db.author", `["notes"]`), &bk); err != nil || bk.Name != "notes" || !bk.Writable {
		t.Fatalf("db.author: %+v, %v", bk, err)
	}
	key := `"` + bk.Key.String() + `"`
	if got := string(do(t, ana.App, "db.add", `[`+key+`,{"text":"hi"}]`)); got != "1" {
		t.Fatalf("db.add: %s", got)
	}
	if got := string(do(t, ana.App, "db.get", `[`+key+`,1]`)); got != `{"page":{"text":"hi"}}` {
		t.Fatalf("db.get: %s", got)
	}
	ana.FollowBooks() // as package tabs does once it sees another tab
	if got := string(do(t, ana.App, "db.add", `[`+key+`,{"text":"again"}]`)); got != "2" {
		t.Fatalf("db.add: %s", got)
	}
	rec.wait(t, "the append's book event", func(evs []Event) bool {
		for _, ev := range evs {
			if ev.Type == EventBook && ev.Book.Key == bk.Key && ev.Book.Type == journal.EventAppend && ev.Book.Index == 2 {
				b, _ := json.Marshal(ev)
				return strings.Contains(string(b), `"type":"book"`) && strings.Contains(string(b), `"text":"again"`)
			}
		}
		return false
	})
	for _, ev := range rec.snapshot() {
		if ev.Type == EventBook && ev.Book.Index < 2 {
			t.Fatalf("a book event before FollowBooks: %+v", ev.Book)
		}
	}
	// The messenger's own writes reach the follower's hooks too.
	do(t, ana.App, "createTask", `[{"title":"plan"}]`)
	var infos []dbcall.Info
	if err := json.Unmarshal(do(t, ana.App, "db.books", `[]`), &infos); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "book events of the task's books", func(evs []Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Type == EventBook && ev.Book.Key != bk.Key && ev.Book.Type == journal.EventAppend {
				n++
			}
		}
		return n > 0
	})
	if len(infos) < 3 {
		t.Errorf("db.books: %d books, want the audit book, notes and the task's", len(infos))
	}
	if _, err := ana.Do(testCtx(t), "db.reset", json.RawMessage(`[]`)); !errors.Is(err, dbcall.ErrNotForwarded) {
		t.Errorf("db.reset: %v, want ErrNotForwarded", err)
	}
	ex := do(t, ana.App, "db.export", `[]`)
	if !strings.Contains(string(ex), bk.Key.String()) {
		t.Error("db.export lacks the notes book")
	}
	bob := startApp(t, "bob", deadRelay(t))
	do(t, bob.App, "db.import", `[`+string(ex)+`]`)
	if got := string(do(t, bob.App, "db.get", `[`+key+`,1]`)); got != `{"page":{"text":"hi"}}` {
		t.Fatalf("db.get of the imported book: %s", got)
	}
	ana.Close()
	if _, err := ana.Do(testCtx(t), "db.books", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("db.books after Close: %v, want ErrClosed", err)
	}
}
