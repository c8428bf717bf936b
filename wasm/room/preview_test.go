package room

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// heldStore is a store whose writes of pages of some books wait while it
// is held: a write that takes as long as the test wants. Other writes (the
// profile's own receipts, records) go through.
type heldStore struct {
	store.Store
	mu    sync.Mutex
	gate  chan struct{}        // nil: writes go through
	books map[identity.ID]bool // whose page writes wait
}

// hold makes writes of pages of books wait until release.
func (s *heldStore) hold(books ...identity.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
	s.books = make(map[identity.ID]bool)
	for _, b := range books {
		s.books[b] = true
	}
}

func (s *heldStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// gateFor returns the gate b waits on, or nil.
func (s *heldStore) gateFor(b *store.Batch) chan struct{} {
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
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Store.Write(ctx, b)
}

// TestShownWhileStored: a member's message shows (pending) once verified,
// while the write that stores it is still running, and again (stored)
// once it is done.
func TestShownWhileStored(t *testing.T) {
	url := startRelay(t)
	ana := newNode(t, url, "ana", 1)
	bob, held := newHeldNode(t, url, "bob", 2)

	task, err := ana.CreateTask(testCtx(t), "preview", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob.join(ana, task.ID)
	first := ana.send(task.ID, "first", nil)
	eventually(t, "Ana's first message at Bob", func() bool { return bob.hasChat(task.ID, ana.ID(), "first") })
	// Bob's worker done with it too (its receipt, computed from Ana's
	// book, reached Ana): a worker still on it when the write below is
	// held would wait for the book's lock, the preview behind it.
	eventually(t, "Bob's receipt of it at Ana", func() bool {
		mb, ok := ana.member(task.ID, bob.ID())
		return ok && mb.Received >= first.Head.Mid
	})

	var mu sync.Mutex
	var seen []string // "pending" or "stored", for each event of the message "held"
	var heldClock uint64
	unsub := bob.Subscribe(func(ev Event) {
		if ev.Type == EventMessage && ev.Message != nil && strings.Contains(string(ev.Message.Data), `"held"`) {
			mu.Lock()
			defer mu.Unlock()
			heldClock = ev.Message.Meta.Clock
			if ev.Pending {
				seen = append(seen, "pending")
			} else {
				seen = append(seen, "stored")
			}
		}
	})
	defer unsub()
	events := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(seen, " ")
	}

	var anas []identity.ID
	for _, bi := range ana.taskBookKeys(t, task.ID) {
		if bi.Writable {
			anas = append(anas, bi.Key)
		}
	}
	held.hold(anas...)
	ana.send(task.ID, "held", nil)
	// (Bob's timeline cannot be read now: it waits for the book, which
	// is being written.)
	eventually(t, "the message shown pending while Bob's store is held", func() bool { return events() == "pending" }, events)
	// What Bob writes after seeing it comes after it, for every member.
	reply := bob.send(task.ID, "after the held one", nil)
	mu.Lock()
	hc := heldClock
	mu.Unlock()
	if reply.Meta.Clock <= hc {
		t.Fatalf("Bob's message after the one shown pending has clock %d, not above its %d", reply.Meta.Clock, hc)
	}
	held.release()
	eventually(t, "the message shown stored", func() bool { return events() == "pending stored" }, events)
	eventually(t, "the message in Bob's timeline", func() bool { return bob.hasChat(task.ID, ana.ID(), "held") })
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
