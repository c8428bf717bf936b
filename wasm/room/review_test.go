package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// Hostile members, second round: introductions chained through fake
// identities, the host's own cap, silent joins, an inviter's list, a
// ratcheting clock, stuck proofs and a slow prove.

// openPiped opens a messenger over an in-memory store whose Dial hands out
// dial(peer), or waits for ctx if dial is nil.
func openPiped(t *testing.T, seed byte, dial func(identity.ID) port.Port) *Messenger {
	t.Helper()
	ctx := testCtx(t)
	db, err := journal.Open(ctx, store.NewMemory(), identity.Seed{seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(ctx, Config{DB: db, Logger: quiet, Sync: testSync, StrangerIdle: time.Hour, Retry: 50 * time.Millisecond,
		Dial: func(ctx context.Context, peer identity.ID) (port.Port, error) {
			if dial != nil {
				if p := dial(peer); p != nil {
					return p, nil
				}
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// pipeTo opens an in-memory port from id to m and returns its room channel.
func pipeTo(t *testing.T, m *Messenger, id identity.ID) (*port.Mux, port.Port) {
	a, b := port.Pipe(id, m.ID(), 64)
	m.Accept(b)
	mux := port.NewMux(a, port.ChannelSync, port.ChannelRoom)
	t.Cleanup(func() { mux.Close() })
	return mux, mux.Channel(port.ChannelRoom)
}

// recvType reads room messages until one of type typ.
func recvType(t *testing.T, ctx context.Context, room port.Port, typ string) wire {
	t.Helper()
	for {
		b, err := room.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if w, err := decodeWire(b); err == nil && w.Type == typ {
			return w
		}
	}
}

func fakeID(a, b byte) identity.ID { return identity.New(identity.Seed{a, b}).ID() }

// Finding 3: a member and the identities it announces bring in at most
// MaxIntroduced members, however they chain.
func TestIntroductionsChargedToChainRoot(t *testing.T) {
	url := startRelay(t)
	bob, mal, sock := newNode(t, url, "bob", 2), newNode(t, url, "mallory", 6), newNode(t, url, "sock", 7)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	mal.join(bob, task.ID)
	sock.join(mal, task.ID) // Mallory's second identity, admitted by her invite
	eventually(t, "Bob paired with Mallory's sock", func() bool { return bob.paired(task.ID, 2) }, state(task.ID, bob, mal, sock))
	var refused atomic.Int64
	defer bob.Subscribe(func(ev Event) {
		if ev.Type == EventError && errors.Is(ev.Err, ErrTooManyMembers) {
			refused.Add(1)
		}
	})()
	// The sock announces MaxIntroduced more: charged to Mallory, who
	// introduced it, so one is refused.
	drafts := make([]draft, MaxIntroduced)
	for i := range drafts {
		drafts[i] = draft{TypeMember, map[string]any{"id": fakeID(101, byte(i))}, nil}
	}
	if _, err := sock.writeMany(testCtx(t), sock.task(task.ID), drafts); err != nil {
		t.Fatal(err)
	}
	members := func() int { ms, _ := bob.Members(task.ID); return len(ms) }
	eventually(t, "the sock's announcements handled", func() bool {
		return refused.Load() == 1 && members() == 3+MaxIntroduced-1
	}, func() string { return fmt.Sprintf("%d members, %d refused", members(), refused.Load()) })
	// Across a reload the count is the same.
	bob.stop()
	bob.start()
	bob.mu.Lock()
	n := bob.tasks[task.ID].introduced[mal.ID()]
	bob.mu.Unlock()
	if n != MaxIntroduced {
		t.Fatalf("after a reload Mallory is charged %d introductions, want %d", n, MaxIntroduced)
	}
}

// Finding 12: this profile admits at most MaxIntroduced by its invites,
// as every other member counts them; the next is refused, clearly.
func TestHostAdmissionsCapped(t *testing.T) {
	ctx := testCtx(t)
	bob := openPiped(t, 2, nil)
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := bob.Invite(ctx, task.ID, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := ParseInvite(code)
	for i := range MaxIntroduced + 1 {
		id := fakeID(50, byte(i))
		mux, room := pipeTo(t, bob, id)
		join := wire{V: RoomVersion, Type: wireJoin, Task: task.ID, Key: fakeID(51, byte(i)), Secret: inv.Secret[:]}
		b, _ := json.Marshal(join)
		if err := room.Send(ctx, b); err != nil {
			t.Fatal(err)
		}
		var w wire
		for w.Type != wireJoined && w.Type != wireRefused {
			b, err := room.Recv(ctx)
			if err != nil {
				t.Fatalf("join %d: %v", i, err)
			}
			w, _ = decodeWire(b)
		}
		switch {
		case i < MaxIntroduced && w.Type != wireJoined:
			t.Fatalf("join %d refused: %s", i, w.Error)
		case i == MaxIntroduced && (w.Type != wireRefused || !strings.Contains(w.Error, ErrTooManyMembers.Error())):
			t.Fatalf("join %d past the cap: %s %q", i, w.Type, w.Error)
		}
		mux.Close()
	}
	if ms, _ := bob.Members(task.ID); len(ms) != 1+MaxIntroduced {
		t.Fatalf("Bob has %d members", len(ms))
	}
}

// Finding 4: an admission whose pairing fails is announced all the same
// (the record and the announcement are one write).
func TestFailedPairingStillAnnounced(t *testing.T) {
	ctx := testCtx(t)
	bob := openPiped(t, 2, nil)
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := bob.Invite(ctx, task.ID, InviteOptions{})
	inv, _ := ParseInvite(code)
	eve := fakeID(9, 0)
	_, room := pipeTo(t, bob, eve)
	// The key of a book Bob authored: following it as Eve's fails.
	join := wire{V: RoomVersion, Type: wireJoin, Task: task.ID, Key: bob.tasksLog.Key(), Secret: inv.Secret[:]}
	b, _ := json.Marshal(join)
	if err := room.Send(ctx, b); err != nil {
		t.Fatal(err)
	}
	if w := recvType(t, ctx, room, wireRefused); !strings.Contains(w.Error, "book") {
		t.Fatalf("refused with %q", w.Error)
	}
	msgs, err := bob.Timeline(ctx, task.ID, nil, MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		var d struct{ ID identity.ID }
		if m.Type == TypeMember && json.Unmarshal(m.Data, &d) == nil && d.ID == eve {
			return
		}
	}
	t.Fatalf("Eve is a member of Bob's task and no one was told: %d messages", len(msgs))
}

// Finding 5: the members an inviter lists are not taken: only a verified
// announcement in a member's book admits one.
func TestInviterListNotTrusted(t *testing.T) {
	ctx := testCtx(t)
	mal := identity.New(identity.Seed{6}).ID()
	fakes := []identity.ID{fakeID(70, 1), fakeID(70, 2)}
	served := make(chan error, 1)
	var ana *Messenger
	ana = openPiped(t, 1, func(peer identity.ID) port.Port {
		if peer != mal {
			return nil
		}
		a, b := port.Pipe(ana.ID(), mal, 64)
		go func() {
			mux := port.NewMux(b, port.ChannelSync, port.ChannelRoom)
			room := mux.Channel(port.ChannelRoom)
			msg, err := room.Recv(ctx)
			if err != nil {
				served <- err
				return
			}
			w, err := decodeWire(msg)
			if err != nil {
				served <- err
				return
			}
			answer := wire{V: RoomVersion, Type: wireJoined, Task: w.Task, Key: fakeID(71, 0), Title: "T", Members: fakes}
			out, _ := json.Marshal(answer)
			served <- room.Send(ctx, out)
			<-mux.Done()
		}()
		return a
	})
	task, _ := NewTaskID()
	code := Invite{Host: mal, Task: task}.Code()
	if _, err := ana.Join(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	ms, err := ana.Members(task)
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range ms {
		for _, f := range fakes {
			if mi.ID == f {
				t.Fatalf("Ana took %s from her inviter's list: %+v", f.Short(), ms)
			}
		}
	}
	if len(ms) != 2 {
		t.Fatalf("Ana has %d members", len(ms))
	}
}

// Finding 11: a member's own messages cannot ratchet the clock: each step
// is bounded by the other authors' highest clock.
func TestClockCannotRatchet(t *testing.T) {
	url := startRelay(t)
	bob, mal := newNode(t, url, "bob", 2), newNode(t, url, "mallory", 6)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	mal.join(bob, task.ID)
	eventually(t, "paired", func() bool { return bob.paired(task.ID, 1) && mal.paired(task.ID, 1) })
	for k := uint64(1); k <= 3; k++ {
		mal.rawWrite(task.ID, mal.forged(Message{Type: TypeChat, Data: json.RawMessage(fmt.Sprintf(`{"text":"step %d"}`, k)), Meta: Meta{Date: MinDate, Clock: k * MaxClockStep}}))
	}
	// The worker refuses a page after it is stored: wait for it.
	eventually(t, "Mallory's steps at Bob, two refused", func() bool {
		chat, invalid := 0, 0
		for _, m := range bob.timeline(task.ID) {
			switch {
			case m.Head.By != mal.ID():
			case m.Type == TypeInvalid:
				invalid++
			case m.Type == TypeChat:
				chat++
			}
		}
		return chat == 1 && invalid == 2
	}, state(task.ID, bob))
	if sent := bob.send(task.ID, "next", nil); sent.Meta.Clock > MaxClockStep+1000 {
		t.Fatalf("Bob's next clock is %d: ratcheted", sent.Meta.Clock)
	}
}

// Finding 6: copies asked for expire, are capped per member and are
// forgotten when the member's port closes, so no member can stop the
// detection by never answering.
func TestProvingBounded(t *testing.T) {
	m := openPiped(t, 2, nil)
	mal, carl := fakeID(6, 0), fakeID(3, 0)
	task, _ := NewTaskID()
	now := time.Now()
	m.mu.Lock()
	for i := range maxProvingPerPeer {
		if !m.askLocked(proveKey{task, fakeID(8, 0), uint64(i + 1), mal}, now) {
			t.Fatalf("ask %d refused", i)
		}
	}
	overMal := m.askLocked(proveKey{task, fakeID(8, 0), 1000, mal}, now)
	okCarl := m.askLocked(proveKey{task, fakeID(8, 0), 1, carl}, now)
	again := m.askLocked(proveKey{task, fakeID(8, 0), 1, mal}, now)
	later := m.askLocked(proveKey{task, fakeID(8, 0), 1, mal}, now.Add(provingTTL))
	m.mu.Unlock()
	if overMal || !okCarl || again || !later {
		t.Fatalf("over Mallory's cap %v, Carl's %v, asked again at once %v, after the TTL %v", overMal, okCarl, again, later)
	}
	// Mallory's asks (the one just made) are dropped when her port closes.
	mux, _ := pipeTo(t, m, mal)
	mux.Close()
	eventually(t, "Mallory's asks dropped", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for k := range m.proving {
			if k.peer == mal {
				return false
			}
		}
		return true
	})
}

// Finding 7: a prove is answered off the room reader: a member's port
// keeps being served while a copy is made.
func TestProveDoesNotBlockRoom(t *testing.T) {
	ctx := testCtx(t)
	bob := openPiped(t, 2, nil)
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	mal, author := fakeID(6, 0), fakeID(8, 0)
	tk := bob.task(task.ID)
	for _, id := range []identity.ID{mal, author} {
		if _, _, err := bob.admit(ctx, tk, id, identity.ID{}); err != nil {
			t.Fatal(err)
		}
	}
	entered, release := make(chan struct{}), make(chan struct{})
	bob.proveHook = func() {
		close(entered)
		<-release
	}
	defer close(release)
	_, room := pipeTo(t, bob, mal)
	for _, w := range []wire{
		{V: RoomVersion, Type: wireProve, Task: task.ID, Author: author, Start: 1},
		{V: RoomVersion, Type: wireJoin, Task: fakeTask(), Key: fakeID(9, 9)},
	} {
		b, _ := json.Marshal(w)
		if err := room.Send(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	// The join after the prove is answered while the copy is being made.
	if w := recvType(t, ctx, room, wireRefused); !strings.Contains(w.Error, "unknown task") {
		t.Fatalf("refused with %q", w.Error)
	}
}

func fakeTask() TaskID {
	id, _ := NewTaskID()
	return id
}

// Without the inviter's list, a chain of invites still pairs everyone:
// each newcomer learns its inviter's inviter from the inviter's join
// message, and the others from their books.
func TestInviteChainPairsEveryone(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl, dave := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3), newNode(t, url, "dave", 4)
	task, err := bob.CreateTask(testCtx(t), "Chain", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	carl.join(ana, task.ID)
	dave.join(carl, task.ID)
	all := []*node{bob, ana, carl, dave}
	for _, n := range all {
		eventually(t, n.name+" paired with all three", func() bool { return n.paired(task.ID, 3) }, state(task.ID, all...))
	}
	for _, n := range all {
		n.send(task.ID, "hi from "+n.name, nil)
	}
	// The task, three joins, three announcements, four messages.
	converged(t, task.ID, 11, all...)
}
