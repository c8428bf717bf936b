package room

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestForget: Ana deletes her copy of one task; its books are gone from
// her store, the other task is untouched, and her profile reopens
// without it while Bob keeps everything.
func TestForget(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	gone, err := bob.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := bob.CreateTask(testCtx(t), "Garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, gone.ID)
	ana.join(bob, kept.ID)
	long := strings.Repeat("tiles ", 1000)
	for range 5 {
		ana.send(gone.ID, long, nil)
		bob.send(gone.ID, long, nil)
	}
	ana.send(kept.ID, "water the plants", nil)
	lines := converged(t, gone.ID, 13, bob, ana)
	keptLines := converged(t, kept.ID, 4, bob, ana)

	before, err := ana.Usage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if before.Tasks[gone.ID] < 10*6000 || before.Tasks[kept.ID] == 0 || before.Total < before.Tasks[gone.ID]+before.Tasks[kept.ID] {
		t.Fatalf("usage before = %+v: want the roof's ten messages of 6 KB counted", before)
	}
	keys := ana.taskBookKeys(t, gone.ID)
	if len(keys) < 3 {
		t.Fatalf("the task's books = %d, want the log, Ana's book to Bob and Bob's to Ana", len(keys))
	}

	freed, err := ana.Forget(testCtx(t), gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ana.Usage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("usage %d → %d bytes, the task held %d, freed %d", before.Total, after.Total, before.Tasks[gone.ID], freed)
	if _, ok := after.Tasks[gone.ID]; ok {
		t.Fatalf("usage after still lists the task: %+v", after)
	}
	// The forget record and the audit's entries take a little back.
	const written = 4 << 10
	if freed < before.Tasks[gone.ID] || after.Total > before.Total-before.Tasks[gone.ID]+written {
		t.Fatalf("freed %d, usage %d → %d: want the task's %d bytes freed", freed, before.Total, after.Total, before.Tasks[gone.ID])
	}
	if after.Tasks[kept.ID] != before.Tasks[kept.ID] {
		t.Fatalf("the other task went from %d to %d bytes", before.Tasks[kept.ID], after.Tasks[kept.ID])
	}
	for _, k := range keys {
		if _, err := ana.db.Get(testCtx(t), k.Key); !errors.Is(err, journal.ErrNotFound) {
			t.Fatalf("book %s of the forgotten task: %v, want ErrNotFound", k.Key.Short(), err)
		}
	}
	if _, err := ana.Timeline(testCtx(t), gone.ID, nil, 10); !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("timeline of a forgotten task: %v, want ErrUnknownTask", err)
	}
	if ts := ana.Tasks(); len(ts) != 1 || ts[0].ID != kept.ID {
		t.Fatalf("Ana's tasks = %+v, want the garden only", ts)
	}

	// The other task goes on; reopening keeps it all so.
	ana.send(kept.ID, "and the roses", nil)
	converged(t, kept.ID, len(keptLines)+1, bob, ana)
	ana.stop()
	ana.start()
	if ts := ana.Tasks(); len(ts) != 1 || ts[0].ID != kept.ID {
		t.Fatalf("Ana's tasks after reopening = %+v", ts)
	}
	bob.send(kept.ID, "thanks", nil)
	converged(t, kept.ID, len(keptLines)+2, bob, ana)
	if got := bob.lines(gone.ID); len(got) != len(lines) {
		t.Fatalf("Bob's copy of the roof has %d messages, want %d", len(got), len(lines))
	}
	if _, err := ana.Forget(testCtx(t), gone.ID); !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("forgetting it again: %v, want ErrUnknownTask", err)
	}
}

// TestLeave: Ana leaves; Bob and Carl see her leave message and show her
// as left, and her copy is gone.
func TestLeave(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	for _, n := range []*node{bob, ana, carl} {
		n.receiptEvery = 50 * time.Millisecond
	}
	task, err := bob.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	carl.join(bob, task.ID)
	eventually(t, "three members paired", func() bool { return ana.paired(task.ID, 2) && carl.paired(task.ID, 2) && bob.paired(task.ID, 2) }, state(task.ID, bob, ana, carl))
	ana.send(task.ID, "bye all", nil)
	n := len(converged(t, task.ID, 6, bob, ana, carl))

	if _, err := ana.Leave(testCtx(t), task.ID); err != nil {
		t.Fatal(err)
	}
	if ts := ana.Tasks(); len(ts) != 0 {
		t.Fatalf("Ana's tasks after leaving = %+v", ts)
	}
	for _, other := range []*node{bob, carl} {
		eventually(t, other.name+" sees Ana leave", func() bool {
			ls := other.lines(task.ID)
			return len(ls) == n+1 && strings.Contains(ls[n], " leave ")
		}, state(task.ID, other))
		ms, err := other.Members(task.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == ana.ID() && !m.Left {
				t.Fatalf("%s shows Ana as a member still: %+v", other.name, m)
			}
		}
	}
	// Left is kept: after a reopen Bob still shows it.
	bob.stop()
	bob.start()
	ms, _ := bob.Members(task.ID)
	for _, m := range ms {
		if m.ID == ana.ID() && !m.Left {
			t.Fatalf("after reopening, Bob shows Ana as a member: %+v", m)
		}
	}
	bob.send(task.ID, "bye Ana", nil)
	converged(t, task.ID, n+2, bob, carl)
}

// taskBookKeys returns the keys of a task's books in the store.
func (n *node) taskBookKeys(t *testing.T, id TaskID) []journal.BookInfo {
	t.Helper()
	infos, err := n.db.Books(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	owner := n.bookTasks(infos)
	var out []journal.BookInfo
	for _, bi := range infos {
		if owner[bi.Key] == id {
			out = append(out, bi)
		}
	}
	return out
}

// fullStore refuses every write while full is set, as a browser out of
// quota does.
type fullStore struct {
	store.Store
	full bool
}

func (s *fullStore) Write(ctx context.Context, b *store.Batch) error {
	if s.full {
		return fmt.Errorf("idb test: write: %w", store.ErrQuota)
	}
	return s.Store.Write(ctx, b)
}

// TestQuotaErrorReachesSend: a store out of space makes Send fail with
// store.ErrQuota, and nothing is lost once space is freed.
func TestQuotaErrorReachesSend(t *testing.T) {
	url := startRelay(t)
	full := &fullStore{Store: store.NewMemory()}
	ana := &node{t: t, name: "ana", url: url, st: full}
	for i := range ana.seed {
		ana.seed[i] = 1
	}
	ana.start()
	t.Cleanup(ana.stop)
	task, err := ana.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	full.full = true
	if _, err := ana.Send(testCtx(t), task.ID, "one", nil); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Send on a full store: %v, want store.ErrQuota", err)
	}
	if _, err := ana.CreateTask(testCtx(t), "Garden", nil); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("CreateTask on a full store: %v, want store.ErrQuota", err)
	}
	full.full = false
	ana.send(task.ID, "one", nil)
	if ls := ana.lines(task.ID); len(ls) != 2 {
		t.Fatalf("timeline after space was freed: %q", ls)
	}
}
