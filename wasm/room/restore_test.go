package room

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// restored starts n's profile again from its seed alone: a new, empty
// store (another browser), restoring from its peers.
func restored(t *testing.T, n *node) *node {
	t.Helper()
	n.stop()
	r := &node{t: t, name: n.name + "-restored", url: n.url, seed: n.seed, st: store.NewMemory(), restoring: true}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// noFork fails if any book n reads is forked.
func noFork(t *testing.T, n *node) {
	t.Helper()
	books, err := n.db.Books(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range books {
		if b.Forked {
			t.Fatalf("%s holds book %q forked", n.name, b.Name)
		}
	}
}

// TestRestoreFromPeers: Ana, restored from her seed alone in an empty
// store, gets her tasks, her timeline and her books back from Bob before
// she writes, and her next message is accepted by Bob: no fork.
func TestRestoreFromPeers(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task, err := bob.CreateTask(testCtx(t), "Paint the fence", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	carl.join(bob, task.ID)
	for _, n := range []*node{bob, ana, carl} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana, carl))
	}
	sub, err := ana.CreateTask(testCtx(t), "Buy paint", &task.ID)
	if err != nil {
		t.Fatal(err)
	}
	bob.join(ana, sub.ID)
	for i := range 3 {
		ana.send(task.ID, "ana "+string(rune('a'+i)), nil)
	}
	bob.send(task.ID, "bob says hi", nil)
	ana.send(sub.ID, "white or green?", nil)
	// Bob: task, 2 members, hi; Ana: join, 3 chats, subtask; Carl: join.
	before := converged(t, task.ID, 10, bob, ana, carl)
	subBefore := converged(t, sub.ID, 4, bob, ana)
	anaID := ana.ID()

	ana2 := restored(t, ana)
	if ana2.ID() != anaID {
		t.Fatalf("restored id %s, want %s", ana2.ID().Short(), anaID.Short())
	}
	eventually(t, "the restore to finish", func() bool { return !ana2.Restoring().Active }, state(task.ID, bob, carl))
	st := ana2.Restoring()
	if !st.Restored || st.Tasks != 2 || st.Books != 3 || len(st.Answered) != 2 || len(st.Waiting) != 0 {
		t.Fatalf("restore status %+v", st)
	}
	if s := ana2.Secret(task.ID); s == nil || !bytes.Equal(s, bob.Secret(task.ID)) {
		t.Fatal("the restored profile has not the task's secret")
	}
	tasks := ana2.Tasks()
	if len(tasks) != 2 || !slices.ContainsFunc(tasks, func(i TaskInfo) bool {
		return i.ID == sub.ID && i.Title == "Buy paint" && i.Parent != nil && *i.Parent == task.ID && i.Host == anaID
	}) {
		t.Fatalf("restored tasks %+v", tasks)
	}
	// Her own messages are back when the restore finishes; the members'
	// follow from their books, before Ana writes anything.
	own := func(lines []string) []string {
		return slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.Contains(l, " "+anaID.Short()+" ") })
	}
	if got := own(ana2.lines(task.ID)); !slices.Equal(got, own(before)) || len(got) != 5 {
		t.Fatalf("restored messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(own(before), "\n"))
	}
	eventually(t, "the restored timelines", func() bool {
		return slices.Equal(ana2.lines(task.ID), before) && slices.Equal(ana2.lines(sub.ID), subBefore)
	}, state(task.ID, ana2), state(sub.ID, ana2))
	// Her next messages are accepted by every member: no fork.
	ana2.send(task.ID, "back again", nil)
	ana2.send(sub.ID, "green", nil)
	carl.send(task.ID, "welcome back", nil)
	converged(t, task.ID, 12, bob, ana2, carl)
	converged(t, sub.ID, 5, bob, ana2)
	for _, n := range []*node{bob, carl, ana2} {
		noFork(t, n)
	}
	for _, n := range []*node{bob, carl} {
		eventually(t, n.name+" paired with the restored Ana", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana2, carl))
	}
}

// TestRestoreWaitsForPeers: a restoring profile writes nothing until its
// peers answered, or until the user stops waiting.
func TestRestoreWaitsForPeers(t *testing.T) {
	url := startRelay(t)
	ana := newNode(t, url, "ana", 1)
	ana2 := restored(t, ana)
	if st := ana2.Restoring(); !st.Active || !st.Restored {
		t.Fatalf("status %+v", st)
	}
	if _, err := ana2.CreateTask(testCtx(t), "Too soon", nil); !errors.Is(err, ErrRestoring) || err.Error() != "restoring: waiting for your peers" {
		t.Fatalf("CreateTask while restoring: %v", err)
	}
	if _, err := ana2.Join(testCtx(t), "tm2-whatever"); err == nil {
		t.Fatal("Join while restoring")
	}
	// Still restoring after a reload (the record is in the tasks book).
	ana2.stop()
	ana2.restoring = false
	ana2.start()
	if !ana2.Restoring().Active {
		t.Fatal("a reload forgot the restore")
	}
	if err := ana2.FinishRestore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := ana2.CreateTask(testCtx(t), "Now", nil); err != nil {
		t.Fatalf("CreateTask after the restore: %v", err)
	}
	// A restored profile joins a new task (it does not ask the inviter for
	// a restore first: it is a stranger to it, which would close the port).
	dave := newNode(t, url, "dave", 4)
	task, err := dave.CreateTask(testCtx(t), "New", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana2.join(dave, task.ID)
	ana2.send(task.ID, "hello Dave", nil)
	eventually(t, "Dave has Ana's message", func() bool { return dave.hasText(task.ID, "hello Dave") })
}

// held is what n holds of author's book in task, as a restore answer
// sends it.
func held(t *testing.T, n *node, task TaskID, author identity.ID) *heldTask {
	t.Helper()
	ti := n.task(task)
	n.mu.Lock()
	mb := ti.members[author]
	w := wire{Type: wireHeld, Task: task, Title: ti.title, Host: ti.host, Key: mb.out.Key(), TaskSecret: ti.secretLocked()}
	in := mb.in
	n.mu.Unlock()
	info := in.Info()
	head, err := journal.Marshal(info.Head)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := in.GetRange(testCtx(t), 0, info.Head.Length)
	if err != nil {
		t.Fatal(err)
	}
	w.Head = head
	return &heldTask{w: w, pages: pages}
}

// TestRestoreRefusesHostileAnswers: an answer that does not prove it is
// the restoring profile's own books is refused whole, and nothing is
// written.
func TestRestoreRefusesHostileAnswers(t *testing.T) {
	url := startRelay(t)
	bob, ana, eve := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "eve", 5)
	task, err := bob.CreateTask(testCtx(t), "Secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eve.join(bob, task.ID)
	ana.send(task.ID, "mine", nil)
	for _, n := range []*node{bob, ana, eve} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana, eve))
	}
	converged(t, task.ID, 6, bob, ana, eve)
	genuine := held(t, bob, task.ID, ana.ID()) // Ana's book to Bob, as Bob holds it
	evesOwn := held(t, ana, task.ID, eve.ID()) // Eve's book to Ana
	evesOwn.w.Key = identity.ID{}
	bobID, eveID := bob.ID(), eve.ID()
	bob.stop()
	eve.stop()
	ana2 := restored(t, ana)
	books := func() int {
		bs, err := ana2.db.Books(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return len(bs)
	}
	n0 := books()
	tampered := *genuine
	tampered.pages = slices.Clone(genuine.pages)
	tampered.pages[2] = slices.Clone(tampered.pages[2])
	tampered.pages[2][len(tampered.pages[2])-1] ^= 1
	short := *genuine
	short.pages = genuine.pages[:2]
	badTitle := *genuine
	badTitle.w.Title = ""
	if badTitle.w.Task, err = NewTaskID(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		from identity.ID
		held []*heldTask
		want string
	}{
		{"another author's book", eveID, []*heldTask{evesOwn}, "is not of your book"},
		{"a page changed", bobID, []*heldTask{&tampered}, "proof"},
		{"pages missing", bobID, []*heldTask{&short}, "with 2 pages"},
		{"Ana's book to Bob, sent by Eve", eveID, []*heldTask{genuine}, "is not of your book"},
		{"a task twice", bobID, []*heldTask{genuine, genuine}, "twice"},
		{"one good task, one bad", bobID, []*heldTask{genuine, &badTitle}, "title"},
	} {
		err := ana2.takeHeld(testCtx(t), c.from, c.held)
		if !errors.Is(err, ErrBadRestore) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadRestore saying %q", c.name, err, c.want)
		}
		if n := books(); n != n0 || len(ana2.Tasks()) != 0 || !ana2.Restoring().Active {
			t.Fatalf("%s: refused, but %d books (was %d), %d tasks, status %+v", c.name, n, n0, len(ana2.Tasks()), ana2.Restoring())
		}
	}

	// Oversize messages are refused as they are read.
	big := wire{V: RoomVersion, Type: wireHeld, Task: task.ID, Host: bobID, Pages: make([][]byte, maxHeldPages+1)}
	for i := range big.Pages {
		big.Pages[i] = []byte{1}
	}
	huge := wire{V: RoomVersion, Type: wireHeld, Task: task.ID, Host: bobID, Pages: [][]byte{make([]byte, maxHeldPage+1)}}
	ask := wire{V: RoomVersion, Type: wireRestore, Pages: [][]byte{{1}}}
	for _, w := range []wire{big, huge, ask} {
		b := mustJSON(t, w)
		if _, err := decodeWire(b); !errors.Is(err, ErrBadRestore) {
			t.Errorf("a %s of %d pages: %v", w.Type, len(w.Pages), err)
		}
	}
	// An answer over maxHeldBytes is refused at its end, whole.
	c := &conn{restoreAsked: true}
	page := make([]byte, maxHeldPage)
	ana2.onHeld(c, wire{Type: wireHeld, Task: task.ID, Host: bobID, Pages: [][]byte{page}})
	for i := 1; c.held.err == nil && i < 2*maxHeldBytes/maxHeldPage; i++ {
		ana2.onHeld(c, wire{Type: wireHeld, Task: task.ID, Start: uint64(i), Pages: [][]byte{page}})
	}
	if err := c.held.err; !errors.Is(err, ErrBadRestore) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("an answer of too many bytes: %v", err)
	}
	ana2.onRestored(testCtx(t), c)
	if ana2.restore.inflight != 0 || len(ana2.Tasks()) != 0 {
		t.Fatalf("after a refused answer: %d bytes held, %d tasks", ana2.restore.inflight, len(ana2.Tasks()))
	}

	// The genuine answer is taken.
	if err := ana2.takeHeld(testCtx(t), bobID, []*heldTask{genuine}); err != nil {
		t.Fatal(err)
	}
	if got := ana2.Tasks(); len(got) != 1 || got[0].Title != "Secret" {
		t.Fatalf("tasks after the genuine answer: %+v", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// threeMembers makes Bob's task with Ana and Carl paired, Ana having
// written, and returns it.
func threeMembers(t *testing.T, bob, ana, carl *node) TaskID {
	t.Helper()
	task, err := bob.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	carl.join(bob, task.ID)
	for _, n := range []*node{bob, ana, carl} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana, carl))
	}
	ana.send(task.ID, "first", nil)
	converged(t, task.ID, 6, bob, ana, carl)
	return task.ID
}

// TestRestoreWaitsForAnOfflineMember: Carl is offline when Ana restores:
// Bob's answer names him, so Ana waits (her writes fail) until Carl is back
// and gave his copy; then her message reaches both, with no fork.
func TestRestoreWaitsForAnOfflineMember(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task := threeMembers(t, bob, ana, carl)
	carl.stop()
	ana2 := restored(t, ana)
	eventually(t, "Bob's answer", func() bool { return slices.Contains(ana2.Restoring().Answered, bob.ID()) })
	st := ana2.Restoring()
	if !st.Active || len(st.Waiting) != 1 || st.Waiting[0] != carl.seedID() {
		t.Fatalf("status after Bob's answer %+v, want waiting for Carl", st)
	}
	if _, err := ana2.Send(testCtx(t), task, "too soon", nil); !errors.Is(err, ErrRestoring) {
		t.Fatalf("Send while waiting for Carl: %v", err)
	}
	carl.start()
	eventually(t, "the restore to finish", func() bool { return !ana2.Restoring().Active }, state(task, bob, ana2, carl))
	ana2.send(task, "back", nil)
	converged(t, task, 7, bob, ana2, carl)
	for _, n := range []*node{bob, carl, ana2} {
		noFork(t, n)
	}
}

// TestRestoreLateMember: Ana stops waiting before Carl is back and writes
// to Bob; when Carl comes back, his copy of Ana's book comes back first,
// then catches up: Carl gets what Ana wrote meanwhile, with no fork.
func TestRestoreLateMember(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task := threeMembers(t, bob, ana, carl)
	carl.stop()
	ana2 := restored(t, ana)
	eventually(t, "Bob's answer", func() bool { return slices.Contains(ana2.Restoring().Answered, bob.ID()) })
	if err := ana2.FinishRestore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ana2.send(task, "while Carl was away", nil)
	eventually(t, "Bob has it", func() bool { return bob.hasText(task, "while Carl was away") })
	carl.start()
	converged(t, task, 7, bob, ana2, carl)
	for _, n := range []*node{bob, carl, ana2} {
		noFork(t, n)
	}
	eventually(t, "Ana paired with Carl again", func() bool { return ana2.paired(task, 2) }, state(task, bob, ana2, carl))
}

// seedID is the node's id, also while it is stopped.
func (n *node) seedID() identity.ID { return identity.New(n.seed).ID() }

// TestRestoreLarge: a book of thousands of messages comes back in many
// held messages (each about 160 KiB) on a port that is a stranger's to
// the restoring profile until the answer is taken.
func TestRestoreLarge(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Big", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	const n = 3000
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("line %d %s", i, strings.Repeat("x", 200))
	}
	if _, err := ana.SendMany(testCtx(t), task.ID, texts); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Bob holds all", func() bool { return bob.holds(task.ID, 2+1+n) })
	ana2 := restored(t, ana)
	start := time.Now()
	eventually(t, "the restore to finish", func() bool { return !ana2.Restoring().Active })
	t.Logf("restored %d messages (%d KiB of pages) in %v", ana2.Restoring().Messages, n*260/1024, time.Since(start).Round(time.Millisecond))
	if got := ana2.Restoring().Messages; got != n+1 {
		t.Fatalf("restored %d messages, want %d", got, n+1)
	}
	msg := ana2.send(task.ID, "after", nil)
	if msg.Head.Mid != n+2 {
		t.Fatalf("first message after the restore has mid %d, want %d", msg.Head.Mid, n+2)
	}
	eventually(t, "Bob has it", func() bool { return bob.hasText(task.ID, "after") })
	noFork(t, bob)
}
