package app

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// TestUnreadInTasks: tasks() carries each task's unread count and first
// unread message; an 'unread' event says it changed; read() clears it.
func TestUnreadInTasks(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	bob := startApp(t, "bob", url)
	bobEvents := record(bob.App)
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	var code string
	if err := json.Unmarshal(do(t, ana.App, "invite", `[`+id+`]`), &code); err != nil {
		t.Fatal(err)
	}
	do(t, bob.App, "join", `["`+code+`",{"timeout":30000}]`)
	readAll := func(a *App) {
		var vs []MessageView
		if err := json.Unmarshal(do(t, a, "timeline", `[`+id+`]`), &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			do(t, a, "read", `[`+id+`,"`+v.ID+`"]`)
		}
	}
	texts := func(a *App) []MessageView {
		var vs []MessageView
		if err := json.Unmarshal(do(t, a, "timeline", `[`+id+`]`), &vs); err != nil {
			t.Fatal(err)
		}
		return vs
	}
	unread := func(a *App) (int, string) {
		var ts []struct {
			Unread      int    `json:"unread"`
			FirstUnread string `json:"firstUnread"`
		}
		if err := json.Unmarshal(do(t, a, "tasks", `[]`), &ts); err != nil || len(ts) != 1 {
			t.Fatalf("tasks: %v %d", err, len(ts))
		}
		return ts[0].Unread, ts[0].FirstUnread
	}
	// Ana's messages so far (the task, Bob's admission) read, as they come.
	bobEvents.wait(t, "Ana's messages read at Bob", func([]Event) bool {
		readAll(bob.App)
		n, _ := unread(bob.App)
		return n == 0 && len(texts(bob.App)) >= 2
	})
	var sent MessageView
	if err := json.Unmarshal(do(t, ana.App, "send", `[`+id+`,"one"]`), &sent); err != nil {
		t.Fatal(err)
	}
	// Each change of the count comes with an 'unread' event. Ana's
	// messages written before "one" may still be on their way (her
	// admission of Bob): they are read as they come, "one" is not.
	var n int
	var first, said string
	bobEvents.wait(t, "one unread at Bob", func([]Event) bool {
		var line []string // the timeline as Bob has it, for a failure
		for _, v := range texts(bob.App) {
			line = append(line, fmt.Sprintf("%s %s %s", v.ID, v.Type, v.Key))
			if v.ID == sent.ID {
				break
			}
			do(t, bob.App, "read", `[`+id+`,"`+v.ID+`"]`)
		}
		n, first = unread(bob.App)
		if now := fmt.Sprintf("%d unread, first %s; timeline up to %s: %q", n, first, sent.ID, line); now != said {
			said = now
			t.Log(now)
		}
		return n == 1 && first == sent.ID
	})
	t.Logf("one unread at Bob: %d, first %s", n, first)
	do(t, bob.App, "read", `[`+id+`,"`+sent.ID+`"]`)
	if n, first := unread(bob.App); n != 0 || first != "" {
		t.Fatalf("after read: %d unread, first %q", n, first)
	}
}
