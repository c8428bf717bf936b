package app

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// TestRecover: Ana's recovery code, read through Do, restores her in a
// new empty profile while Bob is online, as a new device of hers: the same
// person, her task and her messages back, then her next message reaches
// Bob as hers.
func TestRecover(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	bob := startApp(t, "bob", url)
	bobEvents := record(bob.App)
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, bob.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	var invite string
	json.Unmarshal(do(t, bob.App, "invite", `[`+id+`]`), &invite)
	do(t, ana.App, "join", `["`+invite+`"]`)
	do(t, ana.App, "send", `[`+id+`,"before"]`)
	bobEvents.wait(t, "Ana's message at Bob", hasChat(ana.ID(), "before"))

	var code string
	if err := json.Unmarshal(do(t, ana.App, "recoveryCode", `[]`), &code); err != nil {
		t.Fatal(err)
	}
	if seed, err := identity.ParseRecoveryCode(code); err != nil || identity.New(seed).ID() != ana.ID() {
		t.Fatalf("recovery code %q: %v", code, err)
	}
	anaID := ana.ID()
	if err := ana.Close(); err != nil { // Ana's browser is gone
		t.Fatal(err)
	}

	fresh := startApp(t, "ana", url) // another browser: a new identity, empty
	events := record(fresh.App)
	typo := "x"
	if code[20] == 'x' {
		typo = "y" // a typo, whatever the code holds there
	}
	if _, err := fresh.Do(testCtx(t), "recover", json.RawMessage(`["`+strings.ToUpper(code[:20])+typo+code[21:]+`"]`)); err == nil {
		t.Fatal("a code with a typo restored")
	}
	var st room.RestoreStatus
	if err := json.Unmarshal(do(t, fresh.App, "recover", `["`+code+`"]`), &st); err != nil {
		t.Fatal(err)
	}
	if fresh.Person() != anaID || fresh.ID() == anaID || st.ID != fresh.ID() {
		t.Fatalf("recovered device %s of %s (status %+v), want a new device of %s", fresh.ID().Short(), fresh.Person().Short(), st, anaID.Short())
	}
	events.wait(t, "the restore done", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == room.EventRestore && ev.State == "done" && ev.Restore != nil && ev.Restore.Tasks == 1
		})
	})
	var tree []*TaskNode
	if err := json.Unmarshal(do(t, fresh.App, "tasks", `[]`), &tree); err != nil || len(tree) != 1 || tree[0].Title != "plan" {
		t.Fatalf("tasks after recover: %s", do(t, fresh.App, "tasks", `[]`))
	}
	var msgs []MessageView
	json.Unmarshal(do(t, fresh.App, "timeline", `[`+id+`]`), &msgs)
	if !slices.ContainsFunc(msgs, func(v MessageView) bool { return v.Head.By == anaID && strings.Contains(string(v.Data), "before") }) {
		t.Fatalf("Ana's message is not back: %d messages", len(msgs))
	}
	do(t, fresh.App, "send", `[`+id+`,"after"]`)
	bobEvents.wait(t, "Ana's message after the restore at Bob", hasChat(fresh.ID(), "after"))
	bm, err := bob.App.messenger()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := bm.DeviceOf(fresh.ID()); got != anaID {
		t.Fatalf("Bob takes the restored device for %s's", got.Short())
	}

	// A profile that is not empty is not replaced by a code.
	other := startApp(t, "carl", url)
	do(t, other.App, "createTask", `[{"title":"mine"}]`)
	if _, err := other.Do(testCtx(t), "recover", json.RawMessage(`["`+code+`"]`)); !errors.Is(err, vault.ErrNotEmpty) {
		t.Fatalf("recover into a profile with tasks: %v", err)
	}
}

func hasChat(by identity.ID, text string) func([]Event) bool {
	return func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == room.EventMessage && ev.Message != nil && ev.Message.Head.By == by && !ev.Message.Pending && strings.Contains(string(ev.Message.Data), text)
		})
	}
}
