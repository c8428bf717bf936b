package room

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

// offline is a Dial to peers that never answer: the benchmarks and tests
// of opening measure the profile's own work, not the network.
func offline(ctx context.Context, _ identity.ID) (port.Port, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// manyTasksStore returns a store holding a profile with n tasks, each
// shared with members of a few people (their books to this profile
// recorded as paired, empty), opened once so every book exists.
func manyTasksStore(tb testing.TB, seed identity.Seed, n, members int) store.Store {
	tb.Helper()
	ctx := testCtx(tb)
	st := store.NewMemory()
	m := openOn(tb, st, seed)
	peers := make([]identity.ID, members)
	for i := range peers {
		var s identity.Seed
		s[0], s[1] = 0xee, byte(i)
		peers[i] = identity.New(s).ID()
	}
	var pages [][]byte
	flush := func() {
		if _, err := m.tasksLog.Append(ctx, pages...); err != nil {
			tb.Fatal(err)
		}
		pages = pages[:0]
	}
	for i := range n {
		id, _ := NewTaskID()
		recs := []record{{Op: opTask, Task: id, Title: fmt.Sprintf("task %d", i), Host: m.self, Date: int64(i)}}
		for j, p := range peers {
			var k identity.Seed
			k[0], k[1], k[2], k[3] = 0xdd, byte(i), byte(i>>8), byte(j)
			recs = append(recs, record{Op: opMember, Task: id, Peer: p}, record{Op: opPair, Task: id, Peer: p, Key: identity.New(k).ID()})
		}
		for _, r := range recs {
			b, err := encodeRecord(r)
			if err != nil {
				tb.Fatal(err)
			}
			pages = append(pages, b)
		}
		if len(pages) >= 900 {
			flush()
		}
	}
	flush()
	m.Close()
	m = openOn(tb, st, seed) // makes every task's books
	for _, t := range m.Tasks() {
		if _, err := m.Timeline(ctx, t.ID, nil, 1); err != nil {
			tb.Fatal(err)
		}
	}
	m.Close()
	return st
}

// openOn opens a messenger on st, offline.
func openOn(tb testing.TB, st store.Store, seed identity.Seed) *Messenger {
	tb.Helper()
	ctx := testCtx(tb)
	db, err := journal.Open(ctx, st, seed, nil)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := Open(ctx, Config{DB: db, Dial: offline, Logger: quiet, Sync: testSync})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkOpen1kTasks and BenchmarkOpen10kTasks: the time from
// journal.Open to a messenger whose task list is read, for a profile of
// 1,000 or 10,000 tasks with 2 members each.
func BenchmarkOpen1kTasks(b *testing.B)  { benchOpen(b, 1000) }
func BenchmarkOpen10kTasks(b *testing.B) { benchOpen(b, 10000) }

func benchOpen(b *testing.B, n int) {
	seed := identity.Seed{0x42}
	st := manyTasksStore(b, seed, n, 2)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		m := openOn(b, st, seed)
		if got := len(m.Tasks()); got != n {
			b.Fatalf("%d tasks, want %d", got, n)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-open")
		b.StopTimer()
		m.Close()
		b.StartTimer()
	}
}

// BenchmarkOpenTaskOf10: the first timeline of a task shared with ten
// people, in a profile just opened (its books not open yet: lazy.go), on
// a store that answers each request after 1 ms: ms-open-task is about
// the count of the store's round trips the opening waits on in turn (22
// requests; 25 ms when the members' books opened one after the other).
func BenchmarkOpenTaskOf10(b *testing.B) {
	seed := identity.Seed{0x43}
	st := manyTasksStore(b, seed, 1, 10)
	slow := &storetest.Slow{Store: st, Delay: time.Millisecond}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		m := openOn(b, slow, seed)
		task := m.Tasks()[0].ID
		b.StartTimer()
		start := time.Now()
		if _, err := m.Timeline(testCtx(b), task, nil, 50); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.ReportMetric(float64(took.Microseconds())/1000, "ms-open-task")
		b.StopTimer()
		m.Close()
		b.StartTimer()
	}
}
