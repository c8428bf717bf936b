package room

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// chats returns by's chat texts in n's timeline of task, in order.
func (n *node) chats(task TaskID, by identity.ID) []string {
	_, texts := n.chatsOf(task, by)
	return texts
}

// TestForkHeals: Bob's profile copied to a second device, both writing
// from the same state, forks his book to Ana, whether the device's history
// is shorter than the one Ana holds, as long or longer. The device Ana
// proves it to goes on in a successor book: Ana follows it and gets the
// messages she lacked, once, after those she has (none of the first
// device's is lost); new messages and replies follow; both sides keep it
// all after a restart.
func TestForkHeals(t *testing.T) {
	laptop := []string{"two", "three"}
	for _, c := range []struct {
		name  string
		phone []string
	}{
		{"shorter", []string{"another two"}},
		{"as long", []string{"another two", "another three"}},
		{"longer", []string{"another two", "another three", "four"}},
	} {
		t.Run(c.name, func(t *testing.T) { forkHeals(t, laptop, c.phone) })
	}
}

func forkHeals(t *testing.T, laptop, phone []string) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Forked", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bobID := bob.ID()
	bob.send(task.ID, "one", nil)
	eventually(t, "Ana has one", func() bool { return ana.hasChat(task.ID, bobID, "one") })
	bob.stop()
	twin := copyStore(t, bob.st) // Bob's profile, copied to another device
	bob.start()
	for _, text := range laptop {
		bob.send(task.ID, text, nil)
	}
	eventually(t, "Ana has the laptop's messages", func() bool { return ana.hasChat(task.ID, bobID, laptop[len(laptop)-1]) }, state(task.ID, ana, bob))
	bob.stop()

	var opens atomic.Int32 // ports the device opens or takes, to Ana
	dev := &node{t: t, name: "bob2", url: url, seed: bob.seed, st: twin}
	dev.start()
	t.Cleanup(dev.stop)
	events := make(chan Event, 16)
	dev.Subscribe(func(ev Event) {
		switch {
		case ev.Type == EventFork:
			events <- ev
		case ev.Type == EventPeer && ev.Peer == ana.ID() && ev.State == "online":
			opens.Add(1)
		}
	})
	followed := make(chan Event, 4)
	ana.Subscribe(func(ev Event) {
		if ev.Type == EventFork {
			followed <- ev
		}
	})
	var last Message
	for _, text := range phone {
		last = dev.send(task.ID, text, nil)
	}
	for _, want := range []string{"", "healed"} {
		select {
		case ev := <-events:
			if ev.Task != task.ID || ev.Peer != ana.ID() || ev.State != want || ev.Err == nil {
				t.Fatalf("fork event %+v, want state %q", ev, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no fork event %q on the device", want)
		}
	}
	select {
	case ev := <-followed:
		if ev.State != "followed" || ev.Peer != bobID {
			t.Fatalf("Ana's fork event %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ana never followed the successor")
	}
	// In the timeline's order: by clock, the two places' interleaved.
	want := append(append([]string{"one"}, laptop...), phone...)
	slices.Sort(want)
	eventually(t, "Ana has both places' messages, once each", func() bool {
		return slices.Equal(slices.Sorted(slices.Values(ana.chats(task.ID, bobID))), want)
	}, state(task.ID, ana, dev))
	want = ana.chats(task.ID, bobID)

	for _, c := range []struct {
		n    *node
		peer identity.ID
		want func(MemberInfo) bool
	}{
		{ana, bobID, func(mi MemberInfo) bool { return mi.Forks == 1 && mi.Have == mi.Length }},
		{dev, ana.ID(), func(mi MemberInfo) bool { return mi.Continued == 1 }},
	} {
		ms, err := c.n.Members(task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(ms, func(mi MemberInfo) bool { return mi.ID == c.peer }); i < 0 || !c.want(ms[i]) {
			t.Fatalf("%s's members: %+v", c.n.name, ms)
		}
	}

	// New messages go on in the successor, replies both ways included.
	lastForAna := ana.find(task.ID, bobID, phone[len(phone)-1])
	if lastForAna.Meta.Clock != last.Meta.Clock {
		t.Fatalf("the device's last message has clock %d on Ana, %d on the device", lastForAna.Meta.Clock, last.Meta.Clock)
	}
	dev.send(task.ID, "five", nil)
	ana.send(task.ID, "ack", &Ref{By: bobID, Mid: lastForAna.Head.Mid})
	want = append(want, "five")
	eventually(t, "Ana has five", func() bool { return slices.Equal(ana.chats(task.ID, bobID), want) }, state(task.ID, ana, dev))
	eventually(t, "the device has Ana's ack", func() bool { return dev.hasChat(task.ID, ana.ID(), "ack") })
	ack := dev.lastFrom(task.ID, ana.ID())
	if c := ack.Refs.Cause; c == nil || *c != last.Ref() {
		t.Fatalf("Ana's ack answers %v on the device, want %v (as the device numbers it)", c, last.Ref())
	}

	// Both keep it after a restart.
	dev.stop()
	ana.stop()
	ana.start()
	dev.start()
	dev.send(task.ID, "six", nil)
	want = append(want, "six")
	eventually(t, "Ana has six after both restarted", func() bool { return slices.Equal(ana.chats(task.ID, bobID), want) }, state(task.ID, ana, dev))
	if n := opens.Load(); n > 3 {
		t.Fatalf("the device's port to Ana opened %d times before the restart", n)
	}
}

// find is by's chat message with text in n's timeline of task.
func (n *node) find(task TaskID, by identity.ID, text string) Message {
	n.t.Helper()
	msgs, texts := n.chatsOf(task, by)
	if i := slices.Index(texts, text); i >= 0 {
		return msgs[i]
	}
	n.t.Fatalf("no message %q of %s", text, by.Short())
	return Message{}
}

// lastFrom is by's last message in n's timeline of task.
func (n *node) lastFrom(task TaskID, by identity.ID) Message {
	n.t.Helper()
	msgs, err := n.Timeline(testCtx(n.t), task, nil, MaxPage)
	if err != nil {
		n.t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Head.By == by {
			return msgs[i]
		}
	}
	n.t.Fatalf("no message of %s", by.Short())
	return Message{}
}

// TestSuccessorNeedsAFork: a member cannot replace its book to this
// profile by announcing a successor: one is followed only when the book
// it continues forked here.
func TestSuccessorNeedsAFork(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Not forked", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bob.send(task.ID, "one", nil)
	eventually(t, "Ana has one", func() bool { return ana.hasChat(task.ID, bob.ID(), "one") })
	meta := genesisMeta{Task: task.ID, To: ana.ID(), Follows: &follows{Book: ana.inBooks(ana.task(task.ID), bob.ID())[0].key, Length: 1, First: 100}}
	next, err := bob.db.Author(testCtx(t), succName(bob.ID(), ana.ID(), task.ID, 1), meta.encode())
	if err != nil {
		t.Fatal(err)
	}
	ana.follow(testCtx(t), &conn{peer: bob.ID()}, wire{Type: wireSuccessor, Task: task.ID, Key: next.Key()})
	ana.mu.Lock()
	_, followed := ana.replica[next.Key()]
	ana.mu.Unlock()
	if followed {
		t.Fatal("Ana follows a successor of a book that did not fork")
	}
	if books := ana.inBooks(ana.task(task.ID), bob.ID()); len(books) != 1 {
		t.Fatalf("Ana reads %d books of Bob", len(books))
	}
}

// BenchmarkForkHeal: Bob's profile copied to a second device writes one
// message that forks his book to Ana (as long as hers): the time from that
// send until Ana has the message through the successor (the fork proven,
// the agreed length found, the successor written, announced, followed and
// read), on a relay on loopback.
func BenchmarkForkHeal(b *testing.B) {
	for range b.N {
		b.StopTimer()
		url := startRelay(b)
		bob, ana := newNode(b, url, "bob", 2), newNode(b, url, "ana", 1)
		task, err := bob.CreateTask(testCtx(b), "Forked", nil)
		if err != nil {
			b.Fatal(err)
		}
		ana.join(bob, task.ID)
		bobID := bob.ID()
		bob.stop()
		twin := copyStore(b, bob.st)
		bob.start()
		bob.send(task.ID, "two", nil)
		eventually(b, "Ana has two", func() bool { return ana.hasChat(task.ID, bobID, "two") })
		bob.stop()
		dev := &node{t: b, name: "bob2", url: url, seed: bob.seed, st: twin}
		dev.start()
		eventually(b, "the device is online", func() bool {
			ms, _ := dev.Members(task.ID)
			return len(ms) == 2 && ms[1].Online
		})
		b.StartTimer()
		dev.send(task.ID, "another two", nil)
		eventually(b, "Ana has the device's message", func() bool { return ana.hasChat(task.ID, bobID, "another two") })
		b.StopTimer()
		dev.stop()
		ana.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/heal")
}
