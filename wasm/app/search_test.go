package app

import (
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/search"
)

// searchIDs is search(args) at a, as the ids of the results.
func searchIDs(t *testing.T, a *App, args string) []string {
	t.Helper()
	var rs []search.Result
	if err := json.Unmarshal(do(t, a, "search", args), &rs); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// eventuallyFinds polls search(args) at a until its ids are want.
func eventuallyFinds(t *testing.T, a *App, args string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got := searchIDs(t, a, args)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("search(%s) = %v, want %v", args, got, want)
		}
		<-tick.C
	}
}

func sendView(t *testing.T, a *App, task room.TaskID, text string) MessageView {
	t.Helper()
	var v MessageView
	args, _ := json.Marshal([]any{task.String(), text})
	if err := json.Unmarshal(do(t, a, "send", string(args)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func createTask(t *testing.T, a *App, title string) room.TaskInfo {
	t.Helper()
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, a, "createTask", `[{"title":"`+title+`"}]`), &task); err != nil {
		t.Fatal(err)
	}
	return task
}

// TestSearch: messages written here and received from a member are found
// across tasks and within one, newest first, as the user types.
func TestSearch(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	bob := startApp(t, "bob", url)
	plan := createTask(t, ana.App, "plan")
	trip := createTask(t, ana.App, "trip")
	var code string
	json.Unmarshal(do(t, ana.App, "invite", `["`+plan.ID.String()+`"]`), &code)
	do(t, bob.App, "join", `["`+code+`",{"timeout":30000}]`)

	m1 := sendView(t, ana.App, plan.ID, "Budget meeting on Thursday")
	// Across tasks, newest first is by the authors' dates (milliseconds):
	// the second message is written a millisecond later at least.
	for time.Now().UnixMilli() <= m1.Meta.Date {
		runtime.Gosched()
	}
	m2 := sendView(t, ana.App, trip.ID, "Train tickets for the meeting")
	m3 := sendView(t, bob.App, plan.ID, "Le café est prêt pour la réunion")

	if got := searchIDs(t, ana.App, `["meeting"]`); strings.Join(got, ",") != m2.ID+","+m1.ID {
		t.Fatalf("meeting: %v, want %s, %s", got, m2.ID, m1.ID)
	}
	// As typed: "mee", "meeting t" (prefix of "thursday", "tickets").
	eventuallyFinds(t, ana.App, `["mee"]`, m2.ID, m1.ID)
	eventuallyFinds(t, ana.App, `["meeting thu"]`, m1.ID) // "th" would find "the" too
	eventuallyFinds(t, ana.App, `["meeting t",{"task":"`+trip.ID.String()+`"}]`, m2.ID)
	eventuallyFinds(t, ana.App, `["meeting",{"limit":1}]`, m2.ID)
	// Bob's message, received, folded: "cafe pret".
	eventuallyFinds(t, ana.App, `["CAFE PRET"]`, m3.ID)
	eventuallyFinds(t, bob.App, `["budget"]`, m1.ID)
	// Bob holds no copy of the trip.
	eventuallyFinds(t, bob.App, `["tickets"]`)
	eventuallyFinds(t, ana.App, `[""]`)
	eventuallyFinds(t, ana.App, `["  !? "]`)

	var rs []search.Result
	json.Unmarshal(do(t, ana.App, "search", `["réunion"]`), &rs)
	if len(rs) != 1 || rs[0].Task != plan.ID.String() || rs[0].Key != m3.Key || rs[0].By != bob.ID().String() ||
		rs[0].Text != "Le café est prêt pour la réunion" || rs[0].Date != m3.Meta.Date || rs[0].Snippet == "" {
		t.Fatalf("result %+v", rs)
	}
	for _, bad := range []string{`[]`, `[1]`, `["` + strings.Repeat("a", search.MaxQuery+1) + `"]`, `["a",{"task":"nope"}]`, `["a",{"task":1}]`} {
		if _, err := ana.Do(testCtx(t), "search", json.RawMessage(bad)); !errors.Is(err, ErrBadArgs) {
			t.Errorf("search(%.40s…): %v, want ErrBadArgs", bad, err)
		}
	}
}

// TestSearchRebuilt: an import restarts the messenger, whose index is
// rebuilt from the timelines.
func TestSearchRebuilt(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	task := createTask(t, ana.App, "plan")
	texts := make([]string, 2*room.MaxPage+10) // more than a page of the timeline
	for i := range texts {
		texts[i] = "filler"
	}
	texts[3] = "the oldest needle"
	args, _ := json.Marshal([]any{task.ID.String(), texts})
	do(t, ana.App, "sendMany", string(args))
	last := sendView(t, ana.App, task.ID, "a newer needle")
	eventuallyFinds(t, ana.App, `["needle"]`, last.ID, ana.ID().String()+"/5")
	exported := do(t, ana.App, "export", `[{"passphrase":"pass"}]`)
	ana.Close()

	fresh := startApp(t, "fresh", deadRelay(t))
	eventuallyFinds(t, fresh.App, `["needle"]`)
	do(t, fresh.App, "import", `[`+string(exported)+`,{"passphrase":"pass"}]`)
	eventuallyFinds(t, fresh.App, `["needle"]`, last.ID, last.ID[:strings.Index(last.ID, "/")]+"/5")
	if n := fresh.index.Load().Len(); n != len(texts)+1 {
		t.Fatalf("%d messages indexed, want %d", n, len(texts)+1)
	}
}

// BenchmarkIndexTimelines100k: the index of a profile with 100,000
// messages in 10 tasks read from its timelines, as by the first search after a start
// (native, on the in-memory store: the browser reads IndexedDB).
func BenchmarkIndexTimelines100k(b *testing.B) {
	const tasks, each = 10, 10_000
	ana := startApp(b, "ana", deadRelay(b))
	m, err := ana.messenger()
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, room.MaxBatch)
	for i := range texts {
		texts[i] = "a message of some ordinary length about the plan number " + strconv.Itoa(i)
	}
	for range tasks {
		task, err := m.CreateTask(testCtx(b), "t", nil)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < each; n += room.MaxBatch {
			if _, err := m.SendMany(testCtx(b), task.ID, texts[:min(room.MaxBatch, each-n)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		ix := &textIndex{Index: search.New(), read: make(map[room.TaskID]bool)}
		if err := ix.readIn(testCtx(b), m, room.TaskID{}); err != nil {
			b.Fatal(err)
		}
		if ix.Len() != tasks*each {
			b.Fatalf("%d indexed", ix.Len())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/rebuild")
}
