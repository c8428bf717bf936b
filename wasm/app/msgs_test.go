package app

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// TestNamesEditsLimits: the JS API of issue #16's names, edits, deletes
// and limits, through Do, between two apps on a real relay.
func TestNamesEditsLimits(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	bob := startApp(t, "bob", url)
	bobEvents := record(bob.App)
	anaEvents := record(ana.App) // Ana learns Bob's name from his join: with an event

	var lim Limits
	if err := json.Unmarshal(do(t, ana.App, "limits", `[]`), &lim); err != nil || lim != (Limits{room.MaxText, room.MaxTitle, room.MaxName, room.MaxFile, room.MaxFiles}) {
		t.Fatalf("limits: %+v, %v", lim, err)
	}
	if got := string(do(t, ana.App, "name", `[]`)); got != `""` {
		t.Fatalf("a new profile's name: %s", got)
	}
	do(t, ana.App, "setName", `["Ana \u202e<b>"]`)
	if got := string(do(t, ana.App, "name", `[]`)); got != `"Ana \u003cb\u003e"` { // JSON escapes <
		t.Fatalf("name: %s", got)
	}
	if _, err := ana.Do(testCtx(t), "setName", json.RawMessage(`["`+strings.Repeat("a", 65)+`"]`)); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Fatalf("a long name: %v", err)
	}

	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	var code string
	json.Unmarshal(do(t, ana.App, "invite", `[`+id+`]`), &code)
	do(t, bob.App, "setName", `["Bob"]`)
	do(t, bob.App, "join", `["`+code+`",{"timeout":30000}]`)

	var mine MessageView
	if err := json.Unmarshal(do(t, ana.App, "send", `[`+id+`,"helo"]`), &mine); err != nil {
		t.Fatal(err)
	}
	if mine.Name != "Ana <b>" {
		t.Fatalf("own message's name: %q", mine.Name)
	}
	mid := `"` + mine.ID + `"`
	var edited MessageView
	if err := json.Unmarshal(do(t, ana.App, "edit", `[`+id+`,`+mid+`,"hello"]`), &edited); err != nil || edited.Edited == 0 || !strings.Contains(string(edited.Data), "hello") {
		t.Fatalf("edit: %+v %s, %v", edited, edited.Data, err)
	}
	var gone MessageView
	json.Unmarshal(do(t, ana.App, "send", `[`+id+`,"oops"]`), &gone)

	// Bob sees the message edited and Ana's name; his own edit of Ana's
	// message is refused, with a clear error.
	// Her name comes in her task message, in a book Bob follows apart
	// from hers to him: it may come after the edit. The edit stored, not
	// only shown pending.
	bobEvents.wait(t, "ana's edit and name at bob", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Message != nil && ev.Message.Type == room.TypeEdit && !ev.Message.Pending
		}) && slices.ContainsFunc(evs, func(ev Event) bool { return ev.Type == room.EventName && ev.Peer == ana.ID() })
	})
	var v MessageView
	if err := json.Unmarshal(do(t, bob.App, "lookup", `[`+id+`,`+mid+`]`), &v); err != nil || v.Name != "Ana <b>" || v.Edited == 0 || !strings.Contains(string(v.Data), `"hello"`) {
		t.Fatalf("bob's lookup: %+v %s, %v", v, v.Data, err)
	}
	for _, c := range []struct{ method, args, want string }{
		{"edit", `[` + id + `,` + mid + `,"mine now"]`, "only its author"},
		{"delete", `[` + id + `,` + mid + `]`, "only its author"},
		{"edit", `[` + id + `,"` + strings.Split(mine.ID, "/")[0] + `/99","x"]`, "no such message"},
		{"edit", `[` + id + `]`, "a message or its id is required"},
		{"edit", `[` + id + `,` + mid + `]`, "text must be a string"},
	} {
		if _, err := bob.Do(testCtx(t), c.method, json.RawMessage(c.args)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bob %s%s: %v, want %q", c.method, c.args, err, c.want)
		}
	}
	if _, err := ana.Do(testCtx(t), "edit", json.RawMessage(`[`+id+`,`+mid+`,"`+strings.Repeat("x", room.MaxText+1)+`"]`)); err == nil || !strings.Contains(err.Error(), "at most 16384") {
		t.Errorf("a long edit: %v", err)
	}
	var deleted MessageView
	if err := json.Unmarshal(do(t, ana.App, "delete", `[`+id+`,"`+gone.ID+`"]`), &deleted); err != nil || !deleted.Deleted || deleted.Data != nil {
		t.Fatalf("delete: %+v, %v", deleted, err)
	}
	if _, err := ana.Do(testCtx(t), "delete", json.RawMessage(`[`+id+`,"`+gone.ID+`"]`)); err == nil || !strings.Contains(err.Error(), "was deleted") {
		t.Errorf("a second delete: %v", err)
	}

	// Bob's timeline: the newest versions, no edit or delete lines, names.
	bobEvents.wait(t, "ana's delete at bob", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Message != nil && ev.Message.Type == room.TypeDelete && !ev.Message.Pending
		})
	})
	var vs []MessageView
	if err := json.Unmarshal(do(t, bob.App, "timeline", `[`+id+`]`), &vs); err != nil {
		t.Fatal(err)
	}
	var saw int
	for _, v := range vs {
		switch {
		case v.Type == room.TypeEdit || v.Type == room.TypeDelete || v.Type == room.TypeInvalid:
			t.Fatalf("bob's timeline shows %s", v.Type)
		case v.ID == mine.ID && v.Edited != 0 && strings.Contains(string(v.Data), "hello"):
			saw++
		case v.ID == gone.ID && v.Deleted && v.Data == nil:
			saw++
		}
	}
	if saw != 2 {
		t.Fatalf("bob's timeline lacks the newest versions: %+v", vs)
	}
	var ms []room.MemberInfo
	if err := json.Unmarshal(do(t, ana.App, "members", `[`+id+`]`), &ms); err != nil || len(ms) != 2 || ms[0].Name != "Ana <b>" {
		t.Fatalf("members: %+v, %v", ms, err)
	}
	anaEvents.wait(t, "bob's name at ana", func([]Event) bool {
		json.Unmarshal(do(t, ana.App, "members", `[`+id+`]`), &ms)
		return len(ms) == 2 && ms[1].Name == "Bob"
	})
}
