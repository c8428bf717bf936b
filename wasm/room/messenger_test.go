package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = func() *slog.Logger {
	if os.Getenv("ROOM_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

var testSync = replication.Config{Logger: quiet}

// startRelay runs a real relay on 127.0.0.1 and returns its websocket URL.
func startRelay(t testing.TB) string { return relaytest.Start(t, relay.DefaultLimits()) }

// node is a profile that can go offline and come back, like a tab closed
// and reopened: its store survives, its DB, IO and messenger are new.
type node struct {
	t    testing.TB
	name string
	url  string
	seed identity.Seed
	st   store.Store
	io   *peerio.IO
	skew atomic.Int64  // added to its wall clock (an invite's expiry is tested by moving it)
	idle time.Duration // Config.StrangerIdle; 0: the default
	// restoring: Config.Restore (a profile restored from its seed alone)
	restoring bool
	// dialed, if set, sees each port the messenger dials (tests that break them)
	dialed func(port.Port)
	// mirrors: Config.Mirrors
	mirrors []identity.ID
	// receiptEvery is its Config.ReceiptEvery (0: the default)
	receiptEvery time.Duration
	// receiptGap is its Config.ReceiptGap (0: the default)
	receiptGap time.Duration
	// pendingFor is its Config.PendingFor (0: the default)
	pendingFor time.Duration
	// sync, if set, is its Config.Sync (else testSync)
	sync *replication.Config
	// device and link: Config.Device and Config.Link (devices_test.go)
	device *Self
	link   *LinkBundle
	*Messenger
}

func newNode(t testing.TB, url, name string, n byte) *node {
	var seed identity.Seed
	for i := range seed {
		seed[i] = n
	}
	nd := &node{t: t, name: name, url: url, seed: seed, st: store.NewMemory()}
	nd.start()
	t.Cleanup(nd.stop)
	return nd
}

func (n *node) start() {
	n.t.Helper()
	ctx := testCtx(n.t)
	db, err := journal.Open(ctx, n.st, n.seed, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	n.io = peerio.New(n.name, n.seed, peerio.Config{Relay: n.url, Logger: quiet, Retry: 50 * time.Millisecond})
	now := func() time.Time { return time.Now().Add(time.Duration(n.skew.Load())) }
	dial := n.io.At
	if n.dialed != nil {
		dial = func(ctx context.Context, peer identity.ID) (port.Port, error) {
			p, err := n.io.At(ctx, peer)
			if err == nil {
				n.dialed(p)
			}
			return p, err
		}
	}
	sync := testSync
	if n.sync != nil {
		sync = *n.sync
	}
	m, err := Open(ctx, Config{DB: db, Dial: dial, Logger: quiet, Retry: 50 * time.Millisecond, Sync: sync, Now: now, StrangerIdle: n.idle, Restore: n.restoring, Mirrors: n.mirrors, ReceiptEvery: n.receiptEvery, ReceiptGap: n.receiptGap,
		PendingFor: n.pendingFor, Device: n.device, Link: n.link})
	if err != nil {
		n.t.Fatal(err)
	}
	n.Messenger = m
	if err := n.io.On(ctx, m.Accept); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) stop() {
	if n.Messenger == nil {
		return
	}
	n.Messenger.Close()
	n.io.Close()
	n.Messenger = nil
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool, state ...func() string) {
	t.Helper()
	eventuallyMoving(t, what, cond, nil, state...)
}

// eventuallyMoving is eventually whose deadline moves while progress
// (if set) changes: a slow machine making progress is not a failure.
func eventuallyMoving(t testing.TB, what string, cond func() bool, progress func() int, state ...func() string) {
	t.Helper()
	const still = 20 * time.Second
	deadline := time.Now().Add(still)
	last := 0
	if progress != nil {
		last = progress()
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if progress != nil {
			if p := progress(); p != last {
				last, deadline = p, time.Now().Add(still)
			}
		}
		if time.Now().After(deadline) {
			for _, f := range state {
				t.Log(f())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// state describes nodes' timelines and members, for a failing test.
func state(task TaskID, nodes ...*node) func() string {
	return func() string {
		var b strings.Builder
		for _, n := range nodes {
			ms, _ := n.Members(task)
			fmt.Fprintf(&b, "%s %s members %+v\n  %s\n", n.name, n.ID().Short(), ms, strings.Join(n.lines(task), "\n  "))
		}
		return b.String()
	}
}

// line is a message as compared across members.
func line(m Message) string {
	return fmt.Sprintf("%d %s %d %s %s %s", m.Meta.Clock, m.Head.By.Short(), m.Head.Mid, m.Type, m.Data, refString(m.Refs.Cause))
}

func refString(r *Ref) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("re %s/%d", r.By.Short(), r.Mid)
}

func (n *node) lines(task TaskID) []string {
	n.t.Helper()
	msgs, err := n.Timeline(testCtx(n.t), task, nil, MaxPage)
	if err != nil {
		n.t.Fatal(err)
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = line(m)
	}
	return out
}

// converged waits until every node's timeline of task has want messages
// and all are identical.
func converged(t testing.TB, task TaskID, want int, nodes ...*node) []string {
	t.Helper()
	var ref []string
	held := 0 // the messages all nodes hold: progress
	eventuallyMoving(t, fmt.Sprintf("%d identical timelines of %d messages", len(nodes), want), func() bool {
		ref = nodes[0].lines(task)
		held = len(ref)
		same := len(ref) == want
		for _, n := range nodes[1:] {
			ls := n.lines(task)
			held += len(ls)
			same = same && slices.Equal(ls, ref)
		}
		return same
	}, func() int { return held }, state(task, nodes...))
	return ref
}

func (n *node) send(task TaskID, text string, reply *Ref) Message {
	n.t.Helper()
	m, err := n.Send(testCtx(n.t), task, text, reply)
	if err != nil {
		n.t.Fatal(err)
	}
	return m
}

func (n *node) join(host *node, task TaskID) TaskInfo {
	n.t.Helper()
	code, err := host.Invite(testCtx(n.t), task, InviteOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	info, err := n.Join(testCtx(n.t), code)
	if err != nil {
		n.t.Fatalf("%s joins through %s: %v", n.name, host.name, err)
	}
	return info
}

func (n *node) paired(task TaskID, want int) bool {
	ms, err := n.Members(task)
	if err != nil {
		return false
	}
	paired := 0
	for _, m := range ms {
		if !m.Self && m.Paired && m.Length > 0 && m.Have == m.Length {
			paired++
		}
	}
	return paired == want
}

func TestThreeMembers(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)

	task, err := bob.CreateTask(testCtx(t), "Fix the roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	info := ana.join(bob, task.ID)
	if info.Title != "Fix the roof" || info.Host != bob.ID() {
		t.Fatalf("Ana joined %+v", info)
	}
	hello := ana.send(task.ID, "hi Bob", nil)
	cause := &Ref{By: ana.ID(), Mid: hello.Head.Mid}
	eventually(t, "Ana's message at Bob", func() bool {
		_, err := bob.Lookup(testCtx(t), task.ID, *cause)
		return err == nil
	})
	bob.send(task.ID, "hi Ana", cause)
	// Carl joins through Ana: Ana announces him, Bob pairs with him too.
	carl.join(ana, task.ID)
	carl.send(task.ID, "hello both", nil)

	// Bob: task, member(ana), hi Ana; Ana: join, hi Bob, member(carl);
	// Carl: join, hello both.
	lines := converged(t, task.ID, 8, bob, ana, carl)
	want := []string{"task", "join", "member", "chat", "chat", "chat"}
	if !strings.Contains(lines[0], " task ") {
		t.Fatalf("the task's creation is not first:\n%s", strings.Join(lines, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, " "+w+" ") }) {
			t.Fatalf("timeline lacks a %s message:\n%s", w, strings.Join(lines, "\n"))
		}
	}
	for _, n := range []*node{bob, ana, carl} {
		eventually(t, n.name+" paired with both", func() bool { return n.paired(task.ID, 2) })
	}
	// n·(n−1) = 6 one-way books, each member writing 2 and reading 2.
	for _, n := range []*node{bob, ana, carl} {
		books, err := n.db.Books(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		own, read := 0, 0
		for _, b := range books {
			if strings.HasSuffix(b.Name, "-"+task.ID.String()) && strings.Count(b.Name, "-") == 2 {
				if b.Writable {
					own++
				} else {
					read++
				}
			}
		}
		if own != 2 || read != 2 {
			t.Fatalf("%s writes %d and reads %d books of the task, want 2 and 2", n.name, own, read)
		}
	}
	// Causal: the reply comes after what it answers, on every member.
	converged(t, task.ID, len(lines), bob, ana, carl)
	iHello, iReply := -1, -1
	for i, l := range lines {
		if strings.Contains(l, "hi Bob") {
			iHello = i
		}
		if strings.Contains(l, "re "+ana.ID().Short()) {
			iReply = i
		}
	}
	if iHello < 0 || iReply < iHello {
		t.Fatalf("reply at %d, its cause at %d:\n%s", iReply, iHello, strings.Join(lines, "\n"))
	}
}

func TestOfflineMemberCatchesUp(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	task, err := bob.CreateTask(testCtx(t), "Garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	carl.join(bob, task.ID)
	for _, n := range []*node{bob, ana, carl} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana, carl))
	}
	// Bob: the task and two announcements; Ana and Carl: their joins.
	converged(t, task.ID, 5, bob, ana, carl)
	carlID := carl.ID()
	carl.stop() // Carl's tab closes
	eventually(t, "Bob sees Carl offline", func() bool {
		ms, _ := bob.Members(task.ID)
		for _, m := range ms {
			if m.ID == carlID {
				return !m.Online
			}
		}
		return false
	}, state(task.ID, bob))
	for i := range 5 {
		ana.send(task.ID, fmt.Sprintf("ana %d", i), nil)
		bob.send(task.ID, fmt.Sprintf("bob %d", i), nil)
	}
	// Dave joins through Bob while Carl is away.
	dave := newNode(t, url, "dave", 4)
	dave.join(bob, task.ID)
	dave.send(task.ID, "dave here", nil)
	converged(t, task.ID, 18, bob, ana) // Dave lacks Carl's book until Carl is back

	carl.start() // back: learns of Dave from Bob's and Ana's books, and pairs with him
	lines := converged(t, task.ID, 18, bob, ana, carl, dave)
	for _, n := range []*node{bob, ana, carl, dave} {
		eventually(t, n.name+" paired with all three", func() bool { return n.paired(task.ID, 3) })
	}
	if got := strings.Count(strings.Join(lines, "\n"), "ana "); got < 5 {
		t.Fatalf("Carl's timeline has %d of Ana's messages", got)
	}
}

func TestTenMembers(t *testing.T) {
	url := startRelay(t)
	nodes := make([]*node, 10)
	for i := range nodes {
		nodes[i] = newNode(t, url, fmt.Sprintf("p%d", i), byte(i+1))
	}
	task, err := nodes[0].CreateTask(testCtx(t), "Ten", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(nodes); i++ {
		nodes[i].join(nodes[(i-1)/2], task.ID) // through any member
	}
	for _, n := range nodes {
		eventually(t, n.name+" paired with nine", func() bool { return n.paired(task.ID, 9) }, state(task.ID, nodes...))
	}
	// Each joins (1) and announces those who joined through it; the host made the task.
	before := 1 + 9 + 9
	converged(t, task.ID, before, nodes...)
	for r := range 3 {
		for _, n := range nodes {
			n.send(task.ID, fmt.Sprintf("%s round %d", n.name, r), nil)
		}
	}
	converged(t, task.ID, before+30, nodes...)
}

func TestJoinErrors(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := bob.Invite(testCtx(t), task.ID, InviteOptions{})
	for _, bad := range []string{"", "hello", code[:len(code)-3], code + "y", "tm1" + strings.Repeat("y", len(code)-3)} {
		if _, err := ana.Join(testCtx(t), bad); !errors.Is(err, ErrBadInvite) {
			t.Errorf("Join(%q) = %v, want ErrBadInvite", bad, err)
		}
	}
	if _, err := bob.Join(testCtx(t), code); !errors.Is(err, ErrBadInvite) {
		t.Errorf("joining one's own invite: %v", err)
	}
	// A task Bob does not have: refused, with a reason.
	other, _ := NewTaskID()
	if _, err := ana.Join(testCtx(t), Invite{Host: bob.ID(), Task: other}.Code()); !errors.Is(err, ErrRefused) {
		t.Errorf("joining an unknown task: %v, want ErrRefused", err)
	}
	// Bob offline: Join waits, and gives up when its context ends. (Once
	// Ana's port to him closed: a join sent on a port that closes under it
	// fails with that, a case of its own.)
	bobID := bob.ID()
	bob.stop()
	eventually(t, "Ana's port to Bob closed", func() bool {
		ana.mu.Lock()
		defer ana.mu.Unlock()
		c := ana.conns[bobID]
		return c == nil || c.closed()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := ana.Join(ctx, code); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("joining while the host is offline: %v, want a time-out", err)
	}
	if len(ana.Tasks()) != 0 {
		t.Errorf("a failed join left tasks: %+v", ana.Tasks())
	}
	// Bad input to Send and CreateTask.
	if _, err := ana.Send(testCtx(t), task.ID, "x", nil); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("Send to an unknown task: %v", err)
	}
	if _, err := ana.CreateTask(testCtx(t), "  ", nil); err == nil {
		t.Error("CreateTask with an empty title succeeded")
	}
	if _, err := ana.CreateTask(testCtx(t), "x", &other); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("CreateTask under an unknown parent: %v", err)
	}
}

func TestReopenKeepsTasksAndRepairs(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bob.CreateTask(testCtx(t), "Buy tiles", &task.ID)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	ana.send(task.ID, "one", nil)
	if err := ana.Rename(testCtx(t), task.ID, "Roof (urgent)"); err != nil {
		t.Fatal(err)
	}
	lines := converged(t, task.ID, 6, bob, ana)
	eventually(t, "the rename at Bob", func() bool { return bob.Tasks()[0].Title == "Roof (urgent)" })

	// A crash after the log was written and before Ana's book to Bob was:
	// the next open copies the message over.
	tk := ana.task(task.ID)
	msg := Message{Head: Head{By: ana.ID(), Mid: tk.log.Len()}, Type: TypeChat, Data: []byte(`{"text":"lost?"}`), Meta: Meta{Date: MinDate, Clock: 100}}
	page, _ := msg.Encode()
	if _, err := tk.log.Append(testCtx(t), page); err != nil {
		t.Fatal(err)
	}
	ana.stop()
	bob.stop()
	ana.start()
	bob.start()
	tasks := bob.Tasks()
	if len(tasks) != 2 || tasks[0].Title != "Roof (urgent)" || tasks[1].ID != sub.ID || *tasks[1].Parent != task.ID {
		t.Fatalf("Bob's tasks after reopening: %+v", tasks)
	}
	converged(t, task.ID, len(lines)+1, bob, ana)
	if !strings.Contains(strings.Join(bob.lines(task.ID), "\n"), "lost?") {
		t.Fatal("the message written before the crash did not reach Bob")
	}
}

func TestDecodeWire(t *testing.T) {
	id := identity.New(identity.Seed{1}).ID()
	task, _ := NewTaskID()
	root := strings.Repeat("A", 43) + "="
	for _, good := range []string{
		fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[1,5,9]}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"roots","task":%q,"key":%q,"lengths":[1,5],"roots":[%q,""]}`, task, id, root),
		fmt.Sprintf(`{"v":2,"type":"roots","task":%q,"key":%q,"lengths":[1],"error":"no fork here"}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"successor","task":%q,"key":%q}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"receipt","task":%q,"received":9,"read":4}`, task),
		fmt.Sprintf(`{"v":2,"type":"joined","task":%q,"key":%q,"taskSecret":%q}`, task, id, strings.Repeat("A", 43)+"="),
	} {
		if _, err := decodeWire([]byte(good)); err != nil {
			t.Errorf("decodeWire(%.80q): %v", good, err)
		}
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `{"type":"join"}`,
		fmt.Sprintf(`{"type":"join","task":%q,"key":%q}`, task, id),
		fmt.Sprintf(`{"v":1,"type":"join","task":%q,"key":%q}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q,"secret":"AAAA"}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"joined","task":%q,"key":%q,"clock":%d}`, task, id, uint64(1)<<60),
		fmt.Sprintf(`{"v":2,"type":"digest","task":%q,"author":%q,"start":1,"digests":"AAAA"}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"digest","task":%q,"author":%q,"start":0,"digests":%q}`, task, id, strings.Repeat("A", 44)),
		fmt.Sprintf(`{"v":2,"type":"proof","task":%q,"author":%q,"start":1}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"prove","task":%q,"start":1}`, task),
		fmt.Sprintf(`{"v":2,"type":"join","task":%q}`, task),
		fmt.Sprintf(`{"v":2,"type":"hug","task":%q,"key":%q}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q,"extra":1}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"joined","task":%q,"key":%q,"title":%q}`, task, id, strings.Repeat("x", MaxTitle+1)),
		`{"v":2,"type":"join","task":"nope","key":"nope"}`,
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[]}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[0,1]}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[5,5]}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[%d]}`, task, id, uint64(1)<<49),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"lengths":[1]}`, task),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[1],"roots":[%q]}`, task, id, root),
		fmt.Sprintf(`{"v":2,"type":"askroots","task":%q,"key":%q,"lengths":[%s1]}`, task, id, strings.Repeat("1,", maxAskRoots)),
		fmt.Sprintf(`{"v":2,"type":"roots","task":%q,"key":%q,"lengths":[1,2],"roots":[%q]}`, task, id, root),
		fmt.Sprintf(`{"v":2,"type":"roots","task":%q,"key":%q,"lengths":[1],"roots":["AAAA"]}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q,"lengths":[1]}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"successor","task":%q}`, task),
		fmt.Sprintf(`{"v":2,"type":"receipt","task":%q,"received":4,"read":9}`, task),
		fmt.Sprintf(`{"v":2,"type":"receipt","task":%q,"received":%d}`, task, uint64(1)<<60),
		fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q,"received":1}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"joined","task":%q,"key":%q,"taskSecret":"AAAA"}`, task, id),
		fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q,"taskSecret":%q}`, task, id, strings.Repeat("A", 43)+"="),
	} {
		if _, err := decodeWire([]byte(bad)); err == nil {
			t.Errorf("decodeWire(%.60q) accepted", bad)
		}
	}
}

func FuzzDecodeWire(f *testing.F) {
	id := identity.New(identity.Seed{1}).ID()
	task, _ := NewTaskID()
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"joined","task":%q,"key":%q,"members":[%q],"clock":7}`, task, id, id)))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"join","task":%q,"key":%q,"secret":"AAAAAAAAAAAAAAAAAAAAAA=="}`, task, id)))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"digest","task":%q,"author":%q,"start":3,"digests":%q}`, task, id, strings.Repeat("A", 43)+"=")))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"proof","task":%q,"author":%q,"start":3,"copy":{"reader":%q,"book":%q,"index":3,"head":"AA==","page":"e30="}}`, task, id, id, id)))
	f.Add([]byte(`{"v":2,"type":"refused","task":"x","error":"no"}`))
	f.Add([]byte(`{"v":2,"type":"restore"}`))
	f.Add([]byte(`{"v":2,"type":"restored"}`))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"held","task":%q,"key":%q,"host":%q,"title":"t","members":[%q],"clock":3,"head":"AA==","start":0,"pages":["e30=","AA=="]}`, task, id, id, id)))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"held","task":%q,"start":2,"pages":["e30="]}`, task)))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"roots","task":%q,"key":%q,"lengths":[1,5],"roots":[%q,""]}`, task, id, strings.Repeat("A", 43)+"=")))
	f.Add([]byte(fmt.Sprintf(`{"v":2,"type":"successor","task":%q,"key":%q}`, task, id)))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeWire(b)
		if err != nil {
			return
		}
		if len(w.Members) > MaxMembers || len(w.Title) > MaxTitle || w.V != RoomVersion || w.Clock > MaxClock ||
			(w.Secret != nil && len(w.Secret) != InviteSecretSize) || len(w.Digests) > maxDigests*32 || len(w.Digests)%32 != 0 ||
			(w.Copy != nil && w.Copy.checkSizes() != nil) || checkRoots(w) != nil || len(w.Pages) > maxHeldPages || len(w.Head) > maxCopyHead ||
			(w.Type != wireHeld && (w.Pages != nil || w.Head != nil)) {
			t.Fatalf("out of bounds: %+v", w)
		}
		for _, p := range w.Pages {
			if len(p) == 0 || len(p) > maxHeldPage {
				t.Fatalf("a page of %d bytes", len(p))
			}
		}
		if w.Copy != nil {
			_, _ = w.Copy.verify(w.Task, w.Author, w.Start, nil) // must not panic
		}
	})
}

func TestSendMany(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Bulk", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	texts := make([]string, 3000)
	for i := range texts {
		texts[i] = fmt.Sprintf("line %d", i)
	}
	for _, batch := range [][]string{texts[:MaxBatch/2], texts[MaxBatch/2:]} {
		if _, err := ana.SendMany(testCtx(t), task.ID, batch); err != nil {
			t.Fatal(err)
		}
	}
	// Bob: the task and Ana's announcement; Ana: her join and the 3,000.
	eventually(t, "Bob holds all 3,000", func() bool { return bob.holds(task.ID, 2+1+3000) })
	msgs, err := bob.Timeline(testCtx(t), task.ID, nil, 1)
	if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), "line 2999") {
		t.Fatalf("Bob's newest message: %+v, %v", msgs, err)
	}
	for _, bad := range [][]string{nil, {"ok", " "}, make([]string, MaxBatch+1)} {
		if _, err := ana.SendMany(testCtx(t), task.ID, bad); err == nil {
			t.Errorf("SendMany of %d texts accepted", len(bad))
		}
	}
}

// SendOnce writes a message once however often it is retried with the same
// nonce (a send that a closing tab may or may not have written), and a
// reader takes the nonce as an ordinary chat message.
func TestSendOnce(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Once", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	first, err := bob.SendOnce(testCtx(t), task.ID, "hello", nil, "tab1-7", false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := bob.SendOnce(testCtx(t), task.ID, "hello", nil, "tab1-7", true)
	if err != nil || again.Ref() != first.Ref() {
		t.Fatalf("retry = %v, %v; want the first message %v", again.Ref(), err, first.Ref())
	}
	other, err := bob.SendOnce(testCtx(t), task.ID, "hello", nil, "tab1-8", true)
	if err != nil || other.Ref() == first.Ref() {
		t.Fatalf("another nonce = %v, %v; want a new message", other.Ref(), err)
	}
	for _, nonce := range []string{"", strings.Repeat("n", MaxNonce+1), "\xff"} {
		if _, err := bob.SendOnce(testCtx(t), task.ID, "x", nil, nonce, true); err == nil {
			t.Errorf("nonce %q accepted", nonce)
		}
	}
	// Bob: the task, Ana's announcement and two chats; Ana: her join.
	eventually(t, "Ana holds both chats", func() bool { return ana.holds(task.ID, 2+1+2) })
	msgs, err := ana.Timeline(testCtx(t), task.ID, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	chats := 0
	for _, m := range msgs {
		if m.Type == TypeInvalid {
			t.Errorf("Ana marks %s invalid: %s", m.Ref(), m.Reason)
		}
		if m.Type == TypeChat {
			chats++
		}
	}
	if chats != 2 {
		t.Errorf("Ana sees %d chats, want 2", chats)
	}
}

// A member whose ports keep closing as soon as they open (one that refuses
// the session) is dialled again after a pause that doubles, up to
// maxRetries×Retry: not in a tight loop.
func TestDialBacksOff(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Flaky", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	ana.stop()
	var dials atomic.Int64
	ana.dialed = func(p port.Port) {
		dials.Add(1)
		time.AfterFunc(5*time.Millisecond, func() { p.Close() })
	}
	start := time.Now()
	ana.start()
	const retry = 50 * time.Millisecond // node's Retry
	eventually(t, "Ana dials Bob", func() bool { return dials.Load() > 0 })
	time.Sleep(3 * time.Second) // the period dials are counted over
	elapsed := time.Since(start)
	// Pauses of 1, 2, 4, 8, then 10 Retry: within elapsed, at most this
	// many dials (fewer on a slow machine); a tight loop makes hundreds.
	bound := 5 + int64(elapsed/(maxRetries*retry))
	if n := dials.Load(); n > bound {
		t.Fatalf("%d dials in %v, want at most %d", n, elapsed, bound)
	}
}

// TestNextWait: the dial loop's pause doubles after ports that close soon
// (1, 2, 4, 8, then 10 Retry), and starts over at Retry after one that
// stayed up, or that closed because an end went offline (a relay node
// restarted: the pause must not have grown through the restarts).
func TestNextWait(t *testing.T) {
	const retry = time.Second
	refused := fmt.Errorf("%w: refused", port.ErrClosed)
	offline := fmt.Errorf("%w: peerio: x went offline: %w", port.ErrClosed, port.ErrOffline)
	var got []time.Duration
	var wait time.Duration
	for range 6 {
		wait = nextWait(wait, retry, 10*time.Millisecond, refused)
		got = append(got, wait/retry)
	}
	if want := []time.Duration{1, 2, 4, 8, 10, 10}; !slices.Equal(got, want) {
		t.Fatalf("pauses after refusals %v Retry, want %v", got, want)
	}
	for _, c := range []struct {
		up     time.Duration
		closed error
		want   time.Duration
	}{
		{maxRetries * retry, refused, retry},
		{10 * time.Millisecond, offline, retry},
		{10 * time.Millisecond, nil, 10 * retry}, // a dial that failed
	} {
		if w := nextWait(10*retry, retry, c.up, c.closed); w != c.want {
			t.Errorf("after a port up %v that closed with %v: pause %v, want %v", c.up, c.closed, w, c.want)
		}
	}
}

// hasChat reports whether n's timeline of task holds a chat message of
// by's with text.
func (n *node) hasChat(task TaskID, by identity.ID, text string) bool {
	_, texts := n.chatsOf(task, by)
	return slices.Contains(texts, text)
}

// chatsOf returns by's chat messages in n's timeline of task, in order,
// and their texts.
func (n *node) chatsOf(task TaskID, by identity.ID) ([]Message, []string) {
	n.t.Helper()
	msgs, err := n.Timeline(testCtx(n.t), task, nil, MaxPage)
	if err != nil {
		n.t.Fatal(err)
	}
	var chats []Message
	var texts []string
	for _, m := range msgs {
		var d struct{ Text string }
		if m.Head.By == by && m.Type == TypeChat && json.Unmarshal(m.Data, &d) == nil {
			chats, texts = append(chats, m), append(texts, d.Text)
		}
	}
	return chats, texts
}

// copyStore copies every table of st into a new memory store: a second
// device holding the same profile as it was.
func copyStore(t testing.TB, st store.Store) store.Store {
	t.Helper()
	out := store.NewMemory()
	var b store.Batch
	for _, table := range store.Tables {
		es, err := st.Scan(testCtx(t), table, nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			b.Put(table, e.Key, e.Value)
		}
	}
	if err := out.Write(testCtx(t), &b); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestJoinersFirstHelloKept: a joiner starts replication on its port to
// the host at once; its first hello (its lengths and protocol versions)
// arrives while the host is still admitting it, and must wait for the
// host's session rather than be dropped (without it the host never agrees
// on the version and ends the session at the joiner's next message: the
// pair never syncs).
func TestJoinersFirstHelloKept(t *testing.T) {
	url := startRelay(t)
	bob := newNode(t, url, "bob", 2)
	hello := make(chan struct{})
	var once sync.Once
	cfg := testSync
	cfg.OnEvent = func(ev replication.Event) {
		if ev.Send && ev.Type == replication.TypeHello {
			once.Do(func() { close(hello) })
		}
	}
	ana := &node{t: t, name: "ana", url: url, seed: identity.Seed{1}, st: store.NewMemory(), sync: &cfg}
	ana.start()
	t.Cleanup(ana.stop)
	task, err := bob.CreateTask(testCtx(t), "Hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob.admitHook = func() { <-hello } // the hello is on its way before Bob admits Ana
	ana.join(bob, task.ID)
	bob.send(task.ID, "after the join", nil)
	eventually(t, "the pair synced", func() bool {
		return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) && ana.hasChat(task.ID, bob.ID(), "after the join")
	}, state(task.ID, bob, ana))
}
