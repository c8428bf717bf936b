package room

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// heldStore is a store whose writes of pages of some books wait while it
// is held: a write that takes as long as the test wants. Other writes (the
// profile's own receipts, records) go through.
type heldStore struct {
	store.Store
	mu    sync.Mutex
	gate  *gate                // nil: writes go through
	books map[identity.ID]bool // whose page writes wait
}

// A gate holds writes until it opens; fail (set before open is closed)
// fails every write it held. held is closed when a write first waits.
type gate struct {
	open     chan struct{}
	held     chan struct{}
	heldOnce sync.Once
	fail     bool
}

// hold makes writes of pages of books wait until release.
func (s *heldStore) hold(books ...identity.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = &gate{open: make(chan struct{}), held: make(chan struct{})}
	}
	s.books = make(map[identity.ID]bool)
	for _, b := range books {
		s.books[b] = true
	}
}

func (s *heldStore) release() { s.open(false) }

// releaseFailing waits until a write is held, then lets the writes held
// go on, failing, like a tab that died before its transactions committed.
// (A page can reach a peer before its author's write reaches the store:
// released before that, the write would go through.)
func (s *heldStore) releaseFailing(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g == nil {
		t.Fatal("releaseFailing: nothing held")
	}
	select {
	case <-g.held:
	case <-testCtx(t).Done():
		t.Fatal("no write was held")
	}
	s.open(true)
}

func (s *heldStore) open(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		s.gate.fail = fail
		close(s.gate.open)
		s.gate = nil
	}
}

// gateFor returns the gate b waits on, or nil.
func (s *heldStore) gateFor(b *store.Batch) *gate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		return nil
	}
	for _, op := range b.Ops {
		if op.Table == store.TablePages && len(op.Key) >= identity.IDSize && s.books[identity.ID(op.Key[:identity.IDSize])] {
			return s.gate
		}
	}
	return nil
}

// newHeldNode is newNode on a heldStore.
func newHeldNode(t *testing.T, url, name string, n byte) (*node, *heldStore) {
	held := &heldStore{Store: store.NewMemory()}
	nd := &node{t: t, name: name, url: url, st: held}
	for i := range nd.seed {
		nd.seed[i] = n
	}
	nd.start()
	t.Cleanup(nd.stop)
	t.Cleanup(held.release) // before stop: nothing stays held
	return nd, held
}

func (s *heldStore) Write(ctx context.Context, b *store.Batch) error {
	if g := s.gateFor(b); g != nil {
		g.heldOnce.Do(func() { close(g.held) })
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
		if g.fail { // set before open closed
			return errors.New("the tab died")
		}
	}
	return s.Store.Write(ctx, b)
}

// previewPair starts Ana and Bob (on a heldStore) in a task of Ana's, with
// Ana's first message stored at Bob, and returns Ana's books of the task
// (whose page writes Bob's store can hold).
func previewPair(t *testing.T) (ana, bob *node, held *heldStore, task TaskID, anas []identity.ID) {
	return heldPair(t, false)
}

// heldPair is previewPair with the heldStore Ana's if sender is set (her
// writes of her own books can be held), else Bob's.
func heldPair(t *testing.T, sender bool) (ana, bob *node, held *heldStore, task TaskID, anas []identity.ID) {
	url := startRelay(t)
	if sender {
		ana, held = newHeldNode(t, url, "ana", 1)
		bob = newNode(t, url, "bob", 2)
	} else {
		ana = newNode(t, url, "ana", 1)
		bob, held = newHeldNode(t, url, "bob", 2)
	}
	info, err := ana.CreateTask(testCtx(t), "preview", nil)
	if err != nil {
		t.Fatal(err)
	}
	task = info.ID
	bob.join(ana, task)
	first := ana.send(task, "first", nil)
	eventually(t, "Ana's first message at Bob", func() bool { return bob.hasChat(task, ana.ID(), "first") })
	// Bob's worker done with it too (its receipt, computed from Ana's
	// book, reached Ana).
	eventually(t, "Bob's receipt of it at Ana", func() bool {
		mb, ok := ana.member(task, bob.ID())
		return ok && mb.Received >= first.Head.Mid
	})
	for _, bi := range ana.taskBookKeys(t, task) {
		if bi.Writable {
			anas = append(anas, bi.Key)
		}
	}
	return ana, bob, held, task, anas
}

// watchMessages notes the events of n's messages with these texts: it
// returns them as "text:pending", "text:withdrawn" or "text:stored", in
// order, and the clock
// of the last, and stops at the test's end.
func watchMessages(t *testing.T, n *node, texts ...string) func() (string, uint64) {
	var mu sync.Mutex
	var seen []string
	var clock uint64
	unsub := n.Subscribe(func(ev Event) {
		if ev.Type != EventMessage || ev.Message == nil {
			return
		}
		for _, text := range texts {
			if strings.Contains(string(ev.Message.Data), fmt.Sprintf("%q", text)) {
				mu.Lock()
				defer mu.Unlock()
				clock = ev.Message.Meta.Clock
				state := "stored"
				if ev.Withdrawn {
					state = "withdrawn"
				} else if ev.Pending {
					state = "pending"
				}
				seen = append(seen, text+":"+state)
			}
		}
	})
	t.Cleanup(unsub)
	return func() (string, uint64) {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(seen, " "), clock
	}
}

// TestShownWhileStored: a member's message shows (pending) once verified,
// while the write that stores it is still running, and again (stored)
// once it is done.
func TestShownWhileStored(t *testing.T) {
	ana, bob, held, task, anas := previewPair(t)
	watch := watchMessages(t, bob, "held")
	events := func() string { s, _ := watch(); return s }

	held.hold(anas...)
	ana.send(task, "held", nil)
	// (Bob's timeline cannot be read now: it waits for the book, which
	// is being written.)
	eventually(t, "the message shown pending while Bob's store is held", func() bool { return events() == "held:pending" }, events)
	// What Bob writes after seeing it comes after it, for every member.
	reply := bob.send(task, "after the held one", nil)
	if _, hc := watch(); reply.Meta.Clock <= hc {
		t.Fatalf("Bob's message after the one shown pending has clock %d, not above its %d", reply.Meta.Clock, hc)
	}
	held.release()
	eventually(t, "the message shown stored", func() bool { return events() == "held:pending held:stored" }, events)
	eventually(t, "the message in Bob's timeline", func() bool { return bob.hasChat(task, ana.ID(), "held") })
}

// TestShownBehindAWrite: a message that arrives while the write of the one
// before it is still running shows (pending) at once, not once that write
// is done; each shows pending once, then stored, in order.
func TestShownBehindAWrite(t *testing.T) {
	ana, bob, held, task, anas := previewPair(t)
	watch := watchMessages(t, bob, "one", "two")
	events := func() string { s, _ := watch(); return s }

	held.hold(anas...)
	ana.send(task, "one", nil)
	eventually(t, "the first shown pending, its write held", func() bool { return events() == "one:pending" }, events)
	ana.send(task, "two", nil)
	eventually(t, "the second shown pending behind the first's write", func() bool { return events() == "one:pending two:pending" }, events)
	held.release()
	eventually(t, "both shown stored", func() bool {
		return events() == "one:pending two:pending one:stored two:stored"
	}, events)
	eventually(t, "both in Bob's timeline", func() bool {
		return bob.hasChat(task, ana.ID(), "one") && bob.hasChat(task, ana.ID(), "two")
	})
}

// TestFilesShownStored: a message with files is not shown pending (its
// files are read from the stored message): it shows once stored.
func TestFilesShownStored(t *testing.T) {
	ana, bob, held, task, anas := previewPair(t)
	watch := watchMessages(t, bob, "with a file", "after it")
	events := func() string { s, _ := watch(); return s }

	held.hold(anas...)
	if _, err := ana.SendFiles(testCtx(t), task, "with a file", nil, []FileData{{Name: "a.txt", Data: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	ana.send(task, "after it", nil)
	eventually(t, "the message after it shown pending", func() bool { return events() == "after it:pending" }, events)
	held.release()
	eventually(t, "both shown stored", func() bool {
		return events() == "after it:pending with a file:stored after it:stored"
	}, events)
}

// TestCatchUpOneEvent: a member back from offline receives many messages in
// one write: they come as one EventMessage of their count, not one each,
// and the timeline has them all.
func TestCatchUpOneEvent(t *testing.T) {
	url := startRelay(t)
	ana, bob := newNode(t, url, "ana", 1), newNode(t, url, "bob", 2)
	task, err := ana.CreateTask(testCtx(t), "catch-up", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob.join(ana, task.ID)
	eventually(t, "Bob paired", func() bool { return bob.paired(task.ID, 1) })
	bob.stop()
	texts := make([]string, 3*MaxEventPages)
	for i := range texts {
		texts[i] = fmt.Sprintf("many %d", i)
	}
	if _, err := ana.SendMany(testCtx(t), task.ID, texts); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	one, counted := 0, 0
	bob.start()
	unsub := bob.Subscribe(func(ev Event) {
		if ev.Type != EventMessage || ev.Task != task.ID {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.Message != nil && strings.Contains(string(ev.Message.Data), "many ") {
			one++
		}
		counted += ev.Count
	})
	defer unsub()
	eventually(t, "Bob holds Ana's messages", func() bool {
		_, got := bob.chatsOf(task.ID, ana.ID())
		return len(got) == len(texts)
	})
	reported := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%d messages came one event each and %d in counts", one, counted)
	}
	eventually(t, "the messages reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return one+counted >= len(texts)
	}, reported)
	mu.Lock()
	bad := counted == 0 || one > MaxEventPages
	mu.Unlock()
	if bad {
		t.Fatalf("%s; want the %d in counts, but for a push", reported(), len(texts))
	}
}

// TestShownWhileSenderWrites: Bob shows Ana's message while Ana's own
// write of it is still running (her tab previews it, protocol version 3).
// If her write then fails, Bob never stores it: the message Ana writes
// next, at the same place, is what Bob stores, with no fork.
func TestShownWhileSenderWrites(t *testing.T) {
	ana, bob, held, task, anas := heldPair(t, true)
	watch := watchMessages(t, bob, "held", "lost", "kept")
	events := func() string { s, _ := watch(); return s }

	held.hold(anas...)
	sent := make(chan error, 1)
	go func() {
		_, err := ana.Send(testCtx(t), task, "held", nil)
		sent <- err
	}()
	eventually(t, "shown at Bob while Ana's write is held", func() bool { return events() == "held:pending" }, events)
	held.release()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	eventually(t, "stored at Bob", func() bool { return events() == "held:pending held:stored" }, events)

	held.hold(anas...)
	go func() {
		_, err := ana.Send(testCtx(t), task, "lost", nil)
		sent <- err
	}()
	eventually(t, "the message whose write fails shown pending", func() bool { return strings.HasSuffix(events(), "lost:pending") }, events)
	held.releaseFailing(t)
	if err := <-sent; err == nil {
		t.Fatal("Ana's send succeeded on a failing store")
	}
	kept := ana.send(task, "kept", nil)
	eventually(t, "the message written instead stored at Bob", func() bool { return bob.hasChat(task, ana.ID(), "kept") })
	if bob.hasChat(task, ana.ID(), "lost") || strings.Contains(events(), "lost:stored") {
		t.Fatalf("the message whose write failed is stored at Bob: %s", events())
	}
	if mb, ok := bob.member(task, ana.ID()); !ok || mb.Forks != 0 || len(mb.Equivocations) != 0 {
		t.Fatalf("Ana at Bob: %+v", mb)
	}
	if msgs, _ := bob.chatsOf(task, ana.ID()); msgs[len(msgs)-1].Head.Mid != kept.Head.Mid {
		t.Fatalf("Bob's last message of Ana's is not the one she kept")
	}
}

// TestReplyToPending: a reply to a message shown pending (its author's
// write still running) goes once the message is stored, rather than
// failing with "no message"; a reply to one whose write then fails says so.
func TestReplyToPending(t *testing.T) {
	ana, bob, held, task, anas := heldPair(t, true)
	shown := make(chan Ref, 4)
	defer bob.Subscribe(func(ev Event) {
		if ev.Type == EventMessage && ev.Pending && ev.Message != nil {
			shown <- Ref{By: ev.Message.Head.By, Mid: ev.Message.Head.Mid}
		}
	})()
	pendingRef := func() Ref {
		t.Helper()
		select {
		case r := <-shown:
			return r
		case <-testCtx(t).Done():
			t.Fatal("never shown pending")
			return Ref{}
		}
	}

	held.hold(anas...)
	sent := make(chan error, 1)
	go func() {
		_, err := ana.Send(testCtx(t), task, "held", nil)
		sent <- err
	}()
	ref := pendingRef()
	replied := make(chan error, 1)
	go func() {
		_, err := bob.Send(testCtx(t), task, "a reply", &ref)
		replied <- err
	}()
	select {
	case err := <-replied:
		t.Fatalf("the reply went before its cause was stored: %v", err)
	default:
	}
	held.release()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := <-replied; err != nil {
		t.Fatalf("the reply to a message shown pending: %v", err)
	}
	eventually(t, "the reply at Ana", func() bool { return ana.hasChat(task, bob.ID(), "a reply") })

	held.hold(anas...)
	go func() {
		_, err := ana.Send(testCtx(t), task, "lost", nil)
		sent <- err
	}()
	ref = pendingRef()
	held.releaseFailing(t)
	if err := <-sent; err == nil {
		t.Fatal("Ana's send succeeded on a failing store")
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	if _, err := bob.Send(ctx, task, "a reply to nothing", &ref); err == nil {
		t.Fatal("a reply to a message never stored went")
	}
}

// withdrawingPair is heldPair with Bob's Config.PendingFor short, each
// level with the other again after Bob's restart (Ana's book to Bob has
// her message "again", and Bob's receipt of it reached her).
func withdrawingPair(t *testing.T, sender bool) (ana, bob *node, held *heldStore, task TaskID, anas []identity.ID) {
	ana, bob, held, task, anas = heldPair(t, sender)
	bob.stop()
	bob.pendingFor = 300 * time.Millisecond
	bob.start()
	again := ana.send(task, "again", nil)
	eventually(t, "Ana's message at Bob restarted", func() bool { return bob.hasChat(task, ana.ID(), "again") })
	eventually(t, "Bob's receipt of it at Ana", func() bool {
		mb, ok := ana.member(task, bob.ID())
		return ok && mb.Received >= again.Head.Mid
	})
	return ana, bob, held, task, anas
}

// TestPendingWithdrawn: a message shown pending whose author's write then
// fails is withdrawn after Config.PendingFor (it would stay on the page,
// pending, until a reload); a reply to it fails then, not at causeWait;
// the message written in its place shows and is stored.
func TestPendingWithdrawn(t *testing.T) {
	ana, bob, held, task, anas := withdrawingPair(t, true)
	watch := watchMessages(t, bob, "lost", "kept")
	events := func() string { s, _ := watch(); return s }
	shown := make(chan Ref, 1)
	defer bob.Subscribe(func(ev Event) {
		if ev.Type == EventMessage && ev.Pending && !ev.Withdrawn && ev.Message != nil {
			select {
			case shown <- ev.Message.Ref():
			default:
			}
		}
	})()

	held.hold(anas...)
	sent := make(chan error, 1)
	go func() {
		_, err := ana.Send(testCtx(t), task, "lost", nil)
		sent <- err
	}()
	eventually(t, "the message shown pending at Bob", func() bool { return events() == "lost:pending" }, events)
	ref := <-shown
	replied := make(chan error, 1)
	ctx, cancel := context.WithTimeout(testCtx(t), causeWait/2)
	defer cancel()
	go func() {
		_, err := bob.Send(ctx, task, "a reply to it", &ref)
		replied <- err
	}()
	held.releaseFailing(t)
	if err := <-sent; err == nil {
		t.Fatal("Ana's send succeeded on a failing store")
	}
	eventually(t, "the message withdrawn at Bob", func() bool { return events() == "lost:pending lost:withdrawn" }, events)
	if err := <-replied; err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a reply to the message withdrawn: %v, want its cause not found once withdrawn", err)
	}

	ana.send(task, "kept", nil)
	eventually(t, "the message written in its place stored at Bob", func() bool { return strings.HasSuffix(events(), "kept:stored") }, events)
	if bob.hasChat(task, ana.ID(), "lost") || !bob.hasChat(task, ana.ID(), "kept") {
		t.Fatalf("Bob's messages after the withdrawal: %s", events())
	}
}

// TestPendingWithdrawnThenStored: a message shown pending while this
// profile's own write of it stalls past Config.PendingFor is withdrawn,
// and shown again, stored, once the write is done.
func TestPendingWithdrawnThenStored(t *testing.T) {
	ana, bob, held, task, anas := withdrawingPair(t, false)
	watch := watchMessages(t, bob, "slow")
	events := func() string { s, _ := watch(); return s }
	held.hold(anas...)
	ana.send(task, "slow", nil)
	eventually(t, "withdrawn while Bob's write is held", func() bool { return events() == "slow:pending slow:withdrawn" }, events)
	held.release()
	eventually(t, "stored once Bob's write is done", func() bool { return events() == "slow:pending slow:withdrawn slow:stored" }, events)
}

// TestWithdrawForgetsStored: a page shown pending that its writer took as
// stored is forgotten once its time is up, without a Withdrawn event (the
// worker reports it stored), so the previewer's timer does not fire again
// and again for it.
func TestWithdrawForgetsStored(t *testing.T) {
	url := startRelay(t)
	n := newNode(t, url, "solo", 1)
	book := identity.ID{7}
	var withdrawn atomic.Int32
	defer n.Subscribe(func(ev Event) {
		if ev.Withdrawn {
			withdrawn.Add(1)
		}
	})()
	n.previews.mu.Lock()
	n.previews.stored[book] = 5
	n.previews.mu.Unlock()
	long := time.Now().Add(-time.Hour)
	n.keepShown(book, 3, shownPage{at: long, ev: Event{Type: EventMessage, Pending: true}})
	n.keepShown(book, 6, shownPage{at: long, ev: Event{Type: EventMessage, Pending: true}})
	n.withdraw(time.Now().Add(-n.cfg.PendingFor))
	if _, ok := n.firstShown(); ok {
		t.Fatal("a page shown pending is still kept after its time")
	}
	if got := withdrawn.Load(); got != 1 {
		t.Fatalf("%d pages withdrawn, want 1 (the one not stored)", got)
	}
}
