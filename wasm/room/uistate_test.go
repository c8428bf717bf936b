package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// uiOf is n's UI state decoded.
func uiOf(t *testing.T, n *node) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(n.UIState(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func uiJSON(t *testing.T, n *node) string {
	t.Helper()
	b, _ := json.Marshal(uiOf(t, n))
	return string(b)
}

func TestUIStateRefusesBadInput(t *testing.T) {
	ana := newNode(t, startRelay(t), "ana", 1)
	ctx := testCtx(t)
	if got := string(ana.UIState()); got != "{}" {
		t.Fatalf("a new profile's UI state is %s, want {}", got)
	}
	if err := ana.SetUIState(ctx, json.RawMessage(`{"selected":"t1"}`)); err != nil {
		t.Fatal(err)
	}
	draft := strings.Repeat("x", MaxText+1)
	bad := map[string]string{
		"an array":            `[1,2]`,
		"a string":            `"selected"`,
		"null":                `null`,
		"a number":            `7`,
		"not JSON":            `{"selected":`,
		"a draft too long":    fmt.Sprintf(`{"drafts":{"t1":{"text":%q}}}`, draft),
		"a key too long":      fmt.Sprintf(`{%q:1}`, draft),
		"too large":           `{"x":"` + strings.Repeat("y", MaxUIState) + `"}`,
		"too large in pieces": `{` + strings.Repeat(`"k":"`+strings.Repeat("z", 1000)+`",`, 200) + `"end":1}`,
	}
	for what, raw := range bad {
		for _, set := range []func() error{
			func() error { return ana.SetUIState(ctx, json.RawMessage(raw)) },
			func() error { return ana.MergeUIState(ctx, json.RawMessage(raw)) },
		} {
			if err := set(); !errors.Is(err, ErrBadUIState) {
				t.Errorf("%s: err %v, want ErrBadUIState", what, err)
			}
		}
	}
	if got := uiJSON(t, ana); got != `{"selected":"t1"}` {
		t.Fatalf("after refusals the state is %s", got)
	}
	// Growing past MaxUIState by merges is refused too, and changes nothing.
	piece := strings.Repeat("p", MaxText)
	var err error
	for i := 0; err == nil && i < MaxUIState/MaxText+2; i++ {
		err = ana.MergeUIState(ctx, json.RawMessage(fmt.Sprintf(`{"drafts":{"t%d":{"text":%q}}}`, i, piece)))
	}
	if !errors.Is(err, ErrBadUIState) || len(ana.UIState()) > MaxUIState {
		t.Fatalf("merging past the bound: err %v, state of %d bytes", err, len(ana.UIState()))
	}
}

func TestUIStateMerges(t *testing.T) {
	ana := newNode(t, startRelay(t), "ana", 1)
	ctx := testCtx(t)
	steps := []struct{ patch, want string }{
		{`{"selected":"a","drafts":{"a":{"text":"hi"},"b":{"text":"yo"}},"scroll":{"a":{"top":10}}}`,
			`{"drafts":{"a":{"text":"hi"},"b":{"text":"yo"}},"scroll":{"a":{"top":10}},"selected":"a"}`},
		// One tab's draft of b does not undo the other's of a.
		{`{"drafts":{"b":{"text":"yo!"}}}`,
			`{"drafts":{"a":{"text":"hi"},"b":{"text":"yo!"}},"scroll":{"a":{"top":10}},"selected":"a"}`},
		{`{"drafts":{"a":null},"selected":null,"collapsed":{"c":1,"d":null}}`,
			`{"collapsed":{"c":1},"drafts":{"b":{"text":"yo!"}},"scroll":{"a":{"top":10}}}`},
		{`{"scroll":7}`, `{"collapsed":{"c":1},"drafts":{"b":{"text":"yo!"}},"scroll":7}`},
	}
	for i, s := range steps {
		if err := ana.MergeUIState(ctx, json.RawMessage(s.patch)); err != nil {
			t.Fatal(err)
		}
		if got := uiJSON(t, ana); got != s.want {
			t.Fatalf("step %d: %s, want %s", i, got, s.want)
		}
	}
	if err := ana.SetUIState(ctx, json.RawMessage(`{"selected":"z"}`)); err != nil {
		t.Fatal(err)
	}
	if got := uiJSON(t, ana); got != `{"selected":"z"}` {
		t.Fatalf("after a replace: %s", got)
	}
}

// TestUIStateSurvivesReopen: merges over several snapshots, then a
// reopen reads the same state from at most uiSnapshotEvery pages.
func TestUIStateSurvivesReopen(t *testing.T) {
	ana := newNode(t, startRelay(t), "ana", 1)
	ctx := testCtx(t)
	for i := range 2*uiSnapshotEvery + 5 {
		patch := fmt.Sprintf(`{"selected":"t%d","drafts":{"t%d":{"text":"draft %d","at":%d}},"scroll":{"t%d":{"top":%d}}}`, i, i%7, i, i, i%7, i*10)
		if i%5 == 0 {
			patch = fmt.Sprintf(`{"collapsed":{"t%d":true,"t%d":null}}`, i, i-5)
		}
		if err := ana.MergeUIState(ctx, json.RawMessage(patch)); err != nil {
			t.Fatal(err)
		}
	}
	want := uiJSON(t, ana)
	n := ana.ui.book.Len()
	ana.stop()
	ana.start()
	if got := uiJSON(t, ana); got != want {
		t.Fatalf("reopened: %s\nwant %s", got, want)
	}
	if from := 1 + (n-2)/uiSnapshotEvery*uiSnapshotEvery; n-from > uiSnapshotEvery {
		t.Fatalf("a reopen reads %d pages", n-from)
	}
	// The UI state is private: no member's book, and no reader in its name.
	if _, err := ana.db.Lookup(ctx, uiBook); err != nil {
		t.Fatal(err)
	}
	if uiBook != vault.UIBook {
		t.Fatalf("room's UI book %q, vault's %q", uiBook, vault.UIBook)
	}
}

func TestUIStateDropsOldestEntries(t *testing.T) {
	ana := newNode(t, startRelay(t), "ana", 1)
	ctx := testCtx(t)
	var b strings.Builder
	b.WriteString(`{"scroll":{`)
	for i := range MaxUIEntries + 10 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"t%04d":{"top":1,"at":%d}`, i, 1000+i)
	}
	b.WriteString(`}}`)
	if err := ana.MergeUIState(ctx, json.RawMessage(b.String())); err != nil {
		t.Fatal(err)
	}
	scroll := uiOf(t, ana)["scroll"].(map[string]any)
	if len(scroll) != MaxUIEntries {
		t.Fatalf("%d entries kept, want %d", len(scroll), MaxUIEntries)
	}
	for i := range 10 {
		if _, ok := scroll[fmt.Sprintf("t%04d", i)]; ok {
			t.Fatalf("the oldest entry t%04d was kept", i)
		}
	}
	if _, ok := scroll[fmt.Sprintf("t%04d", MaxUIEntries+9)]; !ok {
		t.Fatal("the newest entry was dropped")
	}
}

// TestUIStateExportImport: an export holds the UI state; importing it
// into the same profile on another store brings it back.
func TestUIStateExportImport(t *testing.T) {
	url := startRelay(t)
	ana := newNode(t, url, "ana", 1)
	ctx := testCtx(t)
	if err := ana.MergeUIState(ctx, json.RawMessage(`{"selected":"t1","drafts":{"t1":{"text":"unsent"}}}`)); err != nil {
		t.Fatal(err)
	}
	want := uiJSON(t, ana)
	ex, err := ana.db.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	db, err := journal.Open(ctx, st, ana.seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, ex); err != nil {
		t.Fatal(err)
	}
	ana.stop()
	other := &node{t: t, name: "ana2", url: url, seed: ana.seed, st: st}
	other.start()
	t.Cleanup(other.stop)
	if got := uiJSON(t, other); got != want {
		t.Fatalf("imported: %s, want %s", got, want)
	}
	// A profile holding only a UI state is still empty: a backup of
	// another identity restores into it.
	if empty, err := vault.Empty(ctx, other.db); err != nil || !empty {
		t.Fatalf("Empty: %v, %v", empty, err)
	}
}

// FuzzUIState: any bytes as a state, a patch or a stored page: refused or
// taken within the bounds, never a panic.
func FuzzUIState(f *testing.F) {
	f.Add([]byte(`{"selected":"a","drafts":{"a":{"text":"hi","at":1}}}`))
	f.Add([]byte(`{"v":1,"patch":{"collapsed":{"x":null}}}`))
	f.Add([]byte(`{"v":1,"full":[1]}`))
	f.Add([]byte(`{"a":{"b":null},"c":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var pg uiPage
		if json.Unmarshal(b, &pg) == nil {
			_ = uiObject{"k": json.RawMessage(`{"x":1}`)}.apply(pg)
		}
		o, err := parseUIObject(b)
		if err != nil {
			if !errors.Is(err, ErrBadUIState) {
				t.Fatalf("error %v is not ErrBadUIState", err)
			}
			return
		}
		s := uiObject{"k": json.RawMessage(`{"x":1}`)}.merge(o)
		s.prune()
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("merged state does not encode: %v", err)
		}
	})
}
