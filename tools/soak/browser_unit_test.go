//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/cluster/clustertest"
	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestTabClient drives the soak's tab client through what the soak does
// to it, beside a native peer on one relay node that serves the page: a
// profile in two tabs of one browser creates a task the native joins;
// one tab's renderer crashes in the middle of a burst while the other
// stays; the crashed tab reopens; the three timelines hold every
// acknowledged message once, in one order. It runs where the soak runs
// (make soak-short: a network namespace, WebRTC on).
func TestTabClient(t *testing.T) {
	if os.Getenv("E2E_NETNS") == "" {
		t.Skip("runs in a private network namespace with the module built: make soak-short")
	}
	nodes := clustertest.StartServing(t, 1, quiet, relay.DefaultLimits(), cluster.Config{Every: 200 * time.Millisecond}, servePage(staticDir(), nil, ""))
	seen := newSightings()
	nat := &peer{i: 0, name: "native", start: nativeStart("native", kept{store.NewMemory()}, app.Config{Relay: nodes[0].URL, Logger: quiet})}
	b, err := startBrowser(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	tabs := make([]*peer, 2)
	for k := range tabs {
		cfg := tabConfig{name: fmt.Sprint("tab", k), b: b, url: pageURL(nodes[0].URL), profile: "two-tabs", logf: t.Logf}
		tabs[k] = &peer{i: 1 + k, name: cfg.name, start: tabStart(cfg)}
	}
	all := []*peer{nat, tabs[0], tabs[1]}
	for _, p := range all {
		if err := p.open(seen); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.close)
	}
	w := &world{nodes: nodes, peers: all, seen: seen}
	if err := w.waitOnline(time.Minute); err != nil {
		t.Fatal(err)
	}
	// What a page that does not answer a call is doing: its goroutines.
	if got := tabs[0].current().(*tab).stuck(); !strings.Contains(got, "its goroutines") || !strings.Contains(got, "wasm/") {
		t.Errorf("a page's stuck() = %q, want its goroutines grouped, some in wasm/", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := tabs[0].do(ctx, "createTask", `[{"title":"tabs"}]`)
	if err != nil {
		t.Fatal(err)
	}
	var info room.TaskInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	task := `"` + info.ID.String() + `"`
	code, err := tabs[1].do(ctx, "invite", `[`+task+`]`) // through the other tab: its writer
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nat.do(ctx, "join", `[`+string(code)+`]`); err != nil {
		t.Fatal(err)
	}

	// A burst from the first tab, its renderer crashed after the third
	// send; the other tab and the native send meanwhile.
	var acked []string
	send := func(p *peer, text string) {
		out, err := p.do(ctx, "send", `[`+task+`,`+strconv.Quote(text)+`]`)
		var v app.MessageView
		if err == nil && json.Unmarshal(out, &v) == nil {
			acked = append(acked, v.ID)
		}
	}
	crashed := make(chan error, 1)
	for i := range 8 {
		if i == 3 {
			go func() {
				_, err := tabs[0].crash()
				crashed <- err
			}()
		}
		send(tabs[0], fmt.Sprint("burst ", i))
		send(tabs[1], fmt.Sprint("other tab ", i))
		send(nat, fmt.Sprint("native ", i))
	}
	if err := <-crashed; err != nil {
		t.Fatal(err)
	}
	if tabs[0].current() != nil {
		t.Fatal("the crashed tab is still open")
	}
	if err := tabs[0].open(seen); err != nil {
		t.Fatal(err)
	}
	send(tabs[0], "after the crash")
	if len(acked) < 17 {
		t.Fatalf("%d messages acknowledged, want at least 17 (16 of the other tab and the native, one after the crash)", len(acked))
	}

	// Every timeline converges on every acknowledged message, once, in
	// one order.
	deadline := time.Now().Add(time.Minute)
	for {
		var seqs [][]string
		for _, p := range all {
			seqs = append(seqs, chatIDs(t, ctx, p, task))
		}
		ok := true
		for _, seq := range seqs {
			ok = ok && slices.Equal(seq, seqs[0])
		}
		for _, id := range acked {
			ok = ok && slices.Contains(seqs[0], id)
		}
		if ok {
			if len(seqs[0]) != len(slices.Compact(slices.Sorted(slices.Values(seqs[0])))) {
				t.Fatalf("a message twice: %v", seqs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timelines %v, acknowledged %v", seqs, acked)
		}
		time.Sleep(200 * time.Millisecond) // polling the timelines
	}
	// The tabs' events reached the sightings, as the soak's latencies need.
	if _, ok := seen.at(info.ID, acked[len(acked)-1], 0); !ok {
		t.Error("the native saw no event of the last message")
	}
	if !seen.has(info.ID, acked[0], 2) && !seen.has(info.ID, acked[2], 2) {
		t.Error("the second tab saw no event of the others' messages")
	}
}

// chatIDs is p's timeline of task (a JSON string) as the ids of its chat
// messages, oldest first.
func chatIDs(t *testing.T, ctx context.Context, p *peer, task string) []string {
	out, err := p.do(ctx, "timeline", `[`+task+`,{"limit":500}]`)
	if err != nil {
		t.Fatal(err)
	}
	var page []app.MessageView
	if err := json.Unmarshal(out, &page); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range page {
		if v.Message != nil && v.Type == room.TypeChat {
			ids = append(ids, v.ID)
		}
	}
	return ids
}
