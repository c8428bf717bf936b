//go:build !js

package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// timelineKeys returns the keys of a's timeline of task id as
// timeline(id, opts) gives them, oldest first.
func timelineKeys(t *testing.T, a *App, id, opts string) []string {
	t.Helper()
	var vs []MessageView
	if err := json.Unmarshal(do(t, a, "timeline", `[`+id+`,`+opts+`]`), &vs); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Key
	}
	return keys
}

// pages reads a's timeline of task id backwards, limit messages a page,
// each page from the key of the oldest message of the one before, until
// a page is empty. It returns the pages, newest first.
func pages(t *testing.T, a *App, id string, limit int) [][]string {
	t.Helper()
	var out [][]string
	before := ""
	for range 1000 {
		opts := fmt.Sprintf(`{"limit":%d}`, limit)
		if before != "" {
			opts = fmt.Sprintf(`{"limit":%d,"before":%q}`, limit, before)
		}
		page := timelineKeys(t, a, id, opts)
		if len(page) == 0 {
			return out
		}
		if len(page) > limit {
			t.Fatalf("a page of %d messages, the limit is %d", len(page), limit)
		}
		out = append(out, page)
		before = page[0]
	}
	t.Fatal("paging never ends")
	return nil
}

// TestTimelinePaging: paging a timeline with before, as the page scrolls
// up, yields every message once, in order, and the same pages on every
// member.
func TestTimelinePaging(t *testing.T) {
	ana, bob, id := twoInTask(t)
	for i := range 12 {
		do(t, ana.App, "send", fmt.Sprintf(`[%s,"ana %d"]`, id, i))
		do(t, bob.App, "send", fmt.Sprintf(`[%s,"bob %d"]`, id, i))
	}
	all := fmt.Sprintf(`{"limit":%d}`, room.MaxPage)
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, b := timelineKeys(t, ana.App, id, all), timelineKeys(t, bob.App, id, all)
		if len(chats(t, ana.App, id)) == 24 && slices.Equal(a, b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timelines never became the same: Ana %q, Bob %q", chats(t, ana.App, id), chats(t, bob.App, id))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
	full := timelineKeys(t, ana.App, id, all)
	for _, limit := range []int{1, 5, 7, len(full), room.MaxPage + 5} {
		pa, pb := pages(t, ana.App, id, limit), pages(t, bob.App, id, limit)
		if !slices.EqualFunc(pa, pb, slices.Equal) {
			t.Fatalf("limit %d: Ana's pages %q differ from Bob's %q", limit, pa, pb)
		}
		var joined []string
		for i := len(pa) - 1; i >= 0; i-- {
			joined = append(joined, pa[i]...)
		}
		if !slices.Equal(joined, full) {
			t.Fatalf("limit %d: %d pages hold %d messages, not the timeline's %d in order", limit, len(pa), len(joined), len(full))
		}
		for i, p := range pa[:len(pa)-1] {
			if len(p) != min(limit, room.MaxPage) {
				t.Fatalf("limit %d: page %d holds %d messages", limit, i, len(p))
			}
		}
	}
	// A page ends right before the key given, and nothing is older than
	// the first message.
	if got := timelineKeys(t, ana.App, id, fmt.Sprintf(`{"limit":5,"before":%q}`, full[7])); !slices.Equal(got, full[2:7]) {
		t.Fatalf("5 before the 8th message: %q, want %q", got, full[2:7])
	}
	if got := timelineKeys(t, bob.App, id, fmt.Sprintf(`{"before":%q}`, full[0])); len(got) != 0 {
		t.Fatalf("before the first message: %q", got)
	}
}

// title returns the title a's task tree gives task id.
func title(t *testing.T, a *App, id room.TaskID) string {
	t.Helper()
	var tree []*TaskNode
	if err := json.Unmarshal(do(t, a, "tasks", `[]`), &tree); err != nil {
		t.Fatal(err)
	}
	for _, n := range tree {
		if n.ID == id {
			return n.Title
		}
	}
	t.Fatalf("task %s is not in the tree", id)
	return ""
}

// TestRename: rename through Do retitles the task at once here and, once
// the message arrives, at the other member; the latest rename wins on
// both. Renames of no task, or to a title over the limit, are refused.
func TestRename(t *testing.T) {
	ana, bob, id := twoInTask(t)
	var task room.TaskID
	if err := json.Unmarshal([]byte(id), &task); err != nil {
		t.Fatal(err)
	}
	waitTitle := func(a *App, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for title(t, a, task) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s's title stays %q, want %q", a.Profile(), title(t, a, task), want)
			}
			time.Sleep(20 * time.Millisecond) // polling a condition
		}
	}
	do(t, ana.App, "rename", `[`+id+`,"plan B"]`)
	if got := title(t, ana.App, task); got != "plan B" {
		t.Fatalf("Ana's title %q right after her rename", got)
	}
	waitTitle(bob.App, "plan B")
	do(t, bob.App, "rename", `[`+id+`,"plan C"]`)
	waitTitle(ana.App, "plan C")
	if got := title(t, bob.App, task); got != "plan C" {
		t.Fatalf("Bob's title %q after his rename", got)
	}

	other := `"` + room.TaskID{1}.String() + `"`
	if _, err := ana.Do(testCtx(t), "rename", json.RawMessage(`[`+other+`,"x"]`)); !errors.Is(err, room.ErrUnknownTask) {
		t.Fatalf("rename of no task: %v, want ErrUnknownTask", err)
	}
	long := strings.Repeat("x", room.MaxTitle+1)
	if _, err := ana.Do(testCtx(t), "rename", json.RawMessage(`[`+id+`,"`+long+`"]`)); err == nil {
		t.Fatal("a title over the limit was taken")
	}
	if _, err := ana.Do(testCtx(t), "rename", json.RawMessage(`[42,"x"]`)); !errors.Is(err, ErrBadArgs) {
		t.Fatalf("rename(42, …): %v, want ErrBadArgs", err)
	}
	if got := title(t, ana.App, task); got != "plan C" {
		t.Fatalf("a refused rename changed the title to %q", got)
	}
}

// bookLengths is what an export holds: each book's key and head length.
func bookLengths(t *testing.T, a *App) map[string]uint64 {
	t.Helper()
	var ex journal.Export
	if err := json.Unmarshal(do(t, a, "export", `[]`), &ex); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]uint64, len(ex.Books))
	for _, b := range ex.Books {
		var h journal.Head
		if err := journal.Unmarshal(b.Head, &h); err != nil {
			t.Fatal(err)
		}
		out[b.Key.String()] = h.Length
	}
	return out
}

// TestImportPlainExport: an export without a passphrase imported through
// Do brings the books alone: another profile holds them verified and keeps
// its identity, importing again changes nothing, a tampered export is
// refused whole, and the author's own import gives back its own books with
// the messenger running again. A sealed backup of another identity is
// refused by a profile that holds anything.
func TestImportPlainExport(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	task := createTask(t, ana.App, "plan")
	id := `"` + task.ID.String() + `"`
	do(t, ana.App, "send", `[`+id+`,"one"]`)
	do(t, ana.App, "send", `[`+id+`,"two"]`)
	plain := do(t, ana.App, "export", `[]`)
	var ex journal.Export
	if err := json.Unmarshal(plain, &ex); err != nil {
		t.Fatal(err)
	}
	anaBooks := bookLengths(t, ana.App)

	carol := startApp(t, "carol", deadRelay(t))
	carolID := carol.ID()
	var res []journal.ImportResult
	if err := json.Unmarshal(do(t, carol.App, "import", `[`+string(plain)+`]`), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatal("nothing imported")
	}
	for _, r := range res {
		if r.Own || anaBooks[r.Key.String()] != r.Length {
			t.Fatalf("imported %+v; Ana's book has %d pages", r, anaBooks[r.Key.String()])
		}
	}
	held := bookLengths(t, carol.App)
	for _, r := range res {
		if held[r.Key.String()] != r.Length {
			t.Fatalf("Carol holds %d pages of %s, %d imported", held[r.Key.String()], r.Key.Short(), r.Length)
		}
	}
	if carol.ID() != carolID || len(carol.reg.took) != 1 {
		t.Fatal("an import without a passphrase changed the identity")
	}
	text, _ := json.Marshal(string(plain))
	var again []journal.ImportResult
	if err := json.Unmarshal(do(t, carol.App, "import", `[`+string(text)+`]`), &again); err != nil {
		t.Fatal(err)
	}
	// Only Carol's audit book grows (it records the import).
	after := bookLengths(t, carol.App)
	for _, r := range again {
		if after[r.Key.String()] != held[r.Key.String()] || r.Length != held[r.Key.String()] {
			t.Fatalf("importing again: %+v; Carol held %d pages, holds %d", r, held[r.Key.String()], after[r.Key.String()])
		}
	}
	if len(after) != len(held) || len(again) != len(res) {
		t.Fatalf("importing again: %d books held, %d before; %d imported, %d before", len(after), len(held), len(again), len(res))
	}

	// A page changed: refused whole, nothing stored.
	bad := ex
	bad.Books = slices.Clone(ex.Books)
	i := slices.IndexFunc(bad.Books, func(b journal.ExportBook) bool { return len(b.Pages) > 2 })
	if i < 0 {
		t.Fatal("no book with pages to tamper with")
	}
	bad.Books[i].Pages = slices.Clone(bad.Books[i].Pages)
	bad.Books[i].Pages[2] = append([]byte{}, bad.Books[i].Pages[2]...)
	bad.Books[i].Pages[2][0] ^= 1
	tampered, _ := json.Marshal(&bad)
	dave := startApp(t, "dave", deadRelay(t))
	before := bookLengths(t, dave.App)
	if _, err := dave.Do(testCtx(t), "import", json.RawMessage(`[`+string(tampered)+`]`)); !errors.Is(err, journal.ErrBadProof) {
		t.Fatalf("a tampered export: %v, want journal.ErrBadProof", err)
	}
	if !sameLengths(before, bookLengths(t, dave.App)) {
		t.Fatal("a refused import stored something")
	}
	createTask(t, dave.App, "still writable") // the messenger runs again

	// Ana imports her own export: her own books, and she goes on writing.
	var own []journal.ImportResult
	if err := json.Unmarshal(do(t, ana.App, "import", `[`+string(plain)+`]`), &own); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(own, func(r journal.ImportResult) bool { return r.Own }) {
		t.Fatalf("Ana's import of her export: %+v, none her own", own)
	}
	do(t, ana.App, "send", `[`+id+`,"three"]`)
	if got := chats(t, ana.App, id); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("Ana's timeline after her import: %q", got)
	}

	// Ana's sealed backup into Carol, who holds books now: refused.
	sealed := do(t, ana.App, "export", `[{"passphrase":"correct horse"}]`)
	if _, err := carol.Do(testCtx(t), "import", json.RawMessage(`[`+string(sealed)+`,{"passphrase":"correct horse"}]`)); !errors.Is(err, vault.ErrNotEmpty) {
		t.Fatalf("a backup of another identity into a profile that holds books: %v, want vault.ErrNotEmpty", err)
	}
	if carol.ID() != carolID {
		t.Fatal("a refused restore changed the identity")
	}
	if _, err := carol.Import(testCtx(t), make([]byte, MaxImport+1), ""); !errors.Is(err, backup.ErrNotBackup) {
		t.Fatalf("an import over MaxImport: %v, want ErrNotBackup", err)
	}
}

func sameLengths(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
