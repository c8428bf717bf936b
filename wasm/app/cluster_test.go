//go:build !js

package app

import (
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/cluster/clustertest"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// startClusterNodes runs k relay nodes of a cluster on 127.0.0.1.
func startClusterNodes(t *testing.T, k int) []*clustertest.Node {
	lim := relay.DefaultLimits()
	lim.MaxConnsPerIP = lim.MaxConns
	return clustertest.Start(t, k, quiet, lim, cluster.Config{Every: 100 * time.Millisecond})
}

// chats returns the chat texts of a task's timeline, in order.
func chats(t *testing.T, a *App, id string) []string {
	t.Helper()
	var views []MessageView
	if err := json.Unmarshal(do(t, a, "timeline", `[`+id+`,{"limit":100}]`), &views); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range views {
		if v.Message != nil && v.Type == room.TypeChat {
			var d struct{ Text string }
			json.Unmarshal(v.Data, &d)
			out = append(out, d.Text)
		}
	}
	return out
}

// waitChat polls a's timeline of task id until it shows text; on a
// timeout it says what a's timeline and members were.
func waitChat(t *testing.T, a *App, id, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(chats(t, a, id), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%q never reached %s: timeline %q; members %s", text, a.Profile(), chats(t, a, id), do(t, a, "members", `[`+id+`]`))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRoomAcrossNodes: a room of three members, each on its own relay
// node of a cluster; the node of one dies mid-conversation. Its member
// moves to another node, and every timeline ends with every message,
// each once.
func TestRoomAcrossNodes(t *testing.T) {
	nodes := startClusterNodes(t, 3)
	urls := []string{nodes[0].URL, nodes[1].URL, nodes[2].URL}
	// Each on its own node first, the others after it.
	if f := os.Getenv("TM_CLUSTER_LOG"); f != "" {
		w, _ := os.Create(f)
		defer w.Close()
		old := quiet
		quiet = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
		defer func() { quiet = old }()
	}
	ana := startClusterApp(t, "ana", urls[0], urls[1], urls[2])
	bob := startClusterApp(t, "bob", urls[1], urls[2], urls[0])
	carol := startClusterApp(t, "carol", urls[2], urls[0], urls[1])
	anaEv, bobEv, carolEv := record(ana), record(bob), record(carol)
	anaEv.wait(t, "Ana online at node 1", onlineAt(ana.ID().String(), urls[0], 0))
	bobEv.wait(t, "Bob online at node 2", onlineAt(bob.ID().String(), urls[1], 0))
	carolEv.wait(t, "Carol online at node 3", onlineAt(carol.ID().String(), urls[2], 0))

	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana, "createTask", `[{"title":"across"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id := `"` + task.ID.String() + `"`
	for _, m := range []*App{bob, carol} {
		var code string
		if err := json.Unmarshal(do(t, ana, "invite", `[`+id+`]`), &code); err != nil {
			t.Fatal(err)
		}
		do(t, m, "join", `["`+code+`",{"timeout":30000}]`)
	}
	do(t, ana, "send", `[`+id+`,"ana 1"]`)
	do(t, bob, "send", `[`+id+`,"bob 1"]`)
	do(t, carol, "send", `[`+id+`,"carol 1"]`)
	bobEv.wait(t, "carol 1 at Bob", chat(carol.ID().String(), "carol 1"))
	carolEv.wait(t, "bob 1 at Carol", chat(bob.ID().String(), "bob 1"))
	anaEv.wait(t, "bob 1 at Ana", chat(bob.ID().String(), "bob 1"))

	// Bob's node dies; Ana writes while Bob moves.
	mark := len(bobEv.snapshot())
	nodes[1].Kill()
	do(t, ana, "send", `[`+id+`,"ana 2, as node 2 died"]`)
	bobEv.wait(t, "Bob online at node 3", onlineAt(bob.ID().String(), urls[2], mark))
	do(t, bob, "send", `[`+id+`,"bob 2, from node 3"]`)
	for _, w := range []struct {
		a   *App
		rec *recorder
	}{{ana, anaEv}, {bob, bobEv}, {carol, carolEv}} {
		if w.a != ana {
			waitChat(t, w.a, id, "ana 2, as node 2 died")
		}
		if w.a != bob {
			waitChat(t, w.a, id, "bob 2, from node 3")
		}
	}
	want := []string{"ana 1", "bob 1", "carol 1", "ana 2, as node 2 died", "bob 2, from node 3"}
	for _, a := range []*App{ana, bob, carol} {
		got := chats(t, a, id)
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s's timeline %q, want each of %q once", a.Profile(), got, want)
		}
	}
}
