package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// Hostile members and strangers, through a real relay on 127.0.0.1.

// rawWrite appends pages a hostile member forged into its books of the
// task, bypassing every check of Send: page(reader) is what the member
// writes at the next mid for reader (zero: its own log).
func (n *node) rawWrite(task TaskID, page func(mid uint64, reader identity.ID) []byte) uint64 {
	n.t.Helper()
	t := n.task(task)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	mid := t.log.Len()
	appends := []journal.BookAppend{{Book: t.log, Pages: [][]byte{page(mid, identity.ID{})}}}
	n.mu.Lock()
	written := map[*journal.Book]bool{}
	for id, mb := range t.members {
		if mb.out != nil && !written[mb.out] {
			written[mb.out] = true
			appends = append(appends, journal.BookAppend{Book: mb.out, Pages: [][]byte{page(mid, n.personLocked(id))}})
		}
	}
	n.mu.Unlock()
	if _, err := n.db.AppendMany(testCtx(n.t), appends); err != nil {
		n.t.Fatal(err)
	}
	return mid
}

// forged returns a page function writing msg (by, mid and to filled in).
func (n *node) forged(msg Message) func(uint64, identity.ID) []byte {
	return func(mid uint64, to identity.ID) []byte {
		msg.Head = Head{By: n.ID(), To: to, Mid: mid}
		b, err := json.Marshal(&msg)
		if err != nil {
			n.t.Fatal(err)
		}
		return b
	}
}

// member returns what n knows of id in task.
func (n *node) member(task TaskID, id identity.ID) (MemberInfo, bool) {
	ms, _ := n.Members(task)
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return MemberInfo{}, false
}

// timeline returns n's whole timeline of task.
func (n *node) timeline(task TaskID) []Message {
	n.t.Helper()
	msgs, err := n.Timeline(testCtx(n.t), task, nil, MaxPage)
	if err != nil {
		n.t.Fatal(err)
	}
	return msgs
}

// hasText reports whether n's timeline of task holds a chat message text.
func (n *node) hasText(task TaskID, text string) bool {
	for _, m := range n.timeline(task) {
		if m.Type == TypeChat && strings.Contains(string(m.Data), text) {
			return true
		}
	}
	return false
}

func TestInviteIsACapability(t *testing.T) {
	url := startRelay(t)
	bob, ana, eve := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "eve", 5)
	task, err := bob.CreateTask(testCtx(t), "Private", nil)
	if err != nil {
		t.Fatal(err)
	}
	members := func() int { ms, _ := bob.Members(task.ID); return len(ms) }

	// Eve knows Bob's id and the task id (they are in every code and
	// book name) but has no secret: a silent join, then a made-up secret.
	for _, secret := range [][]byte{nil, make([]byte, InviteSecretSize)} {
		w, err := eve.ask(testCtx(t), bob.ID(), task.ID, secret)
		if err != nil {
			t.Fatal(err)
		}
		if w.Type != wireRefused || !strings.Contains(w.Error, "not invited") {
			t.Fatalf("a join with secret %x: %+v", secret, w)
		}
	}
	// A version 1 code (no secret) is refused before anything is sent.
	if _, err := eve.Join(testCtx(t), "tm1"+zbase32.EncodeToString(make([]byte, 52))); !errors.Is(err, ErrBadInvite) || !strings.Contains(err.Error(), "older version") {
		t.Fatalf("a tm1 code: %v", err)
	}

	// A revoked invite, and one that expired, admit no one.
	revoked, _ := bob.Invite(testCtx(t), task.ID, InviteOptions{})
	if err := bob.RevokeInvite(testCtx(t), revoked); err != nil {
		t.Fatal(err)
	}
	if err := eve.RevokeInvite(testCtx(t), revoked); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("Eve revoked Bob's invite: %v", err)
	}
	expiring, err := bob.Invite(testCtx(t), task.ID, InviteOptions{Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	bob.skew.Store(int64(2 * time.Hour))
	for code, why := range map[string]string{revoked: "revoked", expiring: "expired"} {
		if _, err := eve.Join(testCtx(t), code); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), why) {
			t.Fatalf("joining with an invite %s: %v", why, err)
		}
	}
	// Across a reload too (the invites are in Bob's books).
	bob.stop()
	bob.start()
	if _, err := eve.Join(testCtx(t), revoked); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked invite after Bob's reload: %v", err)
	}
	if n := members(); n != 1 || len(eve.Tasks()) != 0 {
		t.Fatalf("Bob has %d members, Eve %d tasks", n, len(eve.Tasks()))
	}
	// Eve's replication never ran: Bob holds no book of hers.
	books, _ := bob.db.Books(testCtx(t))
	for _, b := range books {
		if b.Author == eve.ID() {
			t.Fatalf("Bob holds Eve's book %s", b.Name)
		}
	}

	// A live invite admits Ana, and the admission is shown to every
	// member: a message in Bob's books naming her, through Bob.
	ana.join(bob, task.ID)
	eventually(t, "Ana's admission in both timelines", func() bool {
		for _, n := range []*node{bob, ana} {
			found := false
			for _, m := range n.timeline(task.ID) {
				var d struct{ ID, Via identity.ID }
				if m.Type == TypeMember && m.Head.By == bob.ID() && json.Unmarshal(m.Data, &d) == nil && d.ID == ana.ID() && d.Via == bob.ID() {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	}, state(task.ID, bob, ana))
}

func TestStrangerCannotStoreBooks(t *testing.T) {
	url := startRelay(t)
	bob := &node{t: t, name: "bob", url: url, st: store.NewMemory(), idle: 200 * time.Millisecond}
	bob.seed[0] = 2
	bob.start()
	t.Cleanup(bob.stop)
	if _, err := bob.CreateTask(testCtx(t), "Mine", nil); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		books, err := bob.db.Books(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return len(books)
	}
	before := count()

	// Eve, a stranger on the relay, authors 100 books addressed to Bob and
	// opens a port to him: her replication session announces them all.
	ctx := testCtx(t)
	eveSeed := identity.Seed{9}
	db, err := journal.Open(ctx, store.NewMemory(), eveSeed, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		b, err := db.Author(ctx, fmt.Sprintf("%s-%s-junk%d", db.ID(), bob.ID(), i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	io := peerio.New("eve", eveSeed, peerio.Config{Relay: url, Logger: quiet, Retry: 50 * time.Millisecond})
	defer io.Close()
	if err := io.On(ctx, func(port.Port) {} /* At hands its ports here too */); err != nil {
		t.Fatal(err)
	}
	p, err := io.At(ctx, bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	mux := port.NewMux(p, port.ChannelSync, port.ChannelRoom)
	done := make(chan error, 1)
	go func() {
		done <- replication.NewSession(db, mux.Channel(port.ChannelSync), replication.Config{Logger: quiet}).Run(ctx)
	}()
	// Bob closes a stranger's port that joins nothing, and its sync
	// channel was never read.
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case <-mux.Done():
	case <-wait.Done():
		t.Fatal("Bob kept a stranger's port open")
	}
	<-done
	if after := count(); after != before {
		t.Fatalf("Bob holds %d books after a stranger's announcements, %d before", after, before)
	}

	// Anything but a join on the room channel closes the port at once.
	io2 := peerio.New("eve2", identity.Seed{10}, peerio.Config{Relay: url, Logger: quiet, Retry: 50 * time.Millisecond})
	defer io2.Close()
	if err := io2.On(ctx, func(port.Port) {} /* At hands its ports here too */); err != nil {
		t.Fatal(err)
	}
	p, err = io2.At(ctx, bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	mux = port.NewMux(p, port.ChannelRoom)
	if err := mux.Channel(port.ChannelRoom).Send(ctx, []byte(`{"v":2,"type":"digest"}`)); err != nil {
		t.Fatal(err)
	}
	wait, cancel = context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case <-mux.Done():
	case <-wait.Done():
		t.Fatal("Bob kept a port that sent garbage open")
	}
}

func TestMemberCannotStoreUnsolicitedBooks(t *testing.T) {
	url := startRelay(t)
	bob, mal := newNode(t, url, "bob", 2), newNode(t, url, "mallory", 6)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	mal.join(bob, task.ID)
	eventually(t, "paired", func() bool { return bob.paired(task.ID, 1) && mal.paired(task.ID, 1) })
	// Mallory, a member, authors books addressed to Bob: her session
	// announces them on the port.
	for i := range 50 {
		b, err := mal.db.Author(testCtx(t), fmt.Sprintf("%s-%s-junk%d", mal.ID(), bob.ID(), i), nil)
		if err != nil {
			t.Fatal(err)
		}
		b.Append(testCtx(t), []byte("junk"))
	}
	mal.send(task.ID, "after the junk", nil)
	eventually(t, "Mallory's message at Bob", func() bool { return bob.hasText(task.ID, "after the junk") })
	books, _ := bob.db.Books(testCtx(t))
	for _, b := range books {
		if strings.Contains(b.Name, "junk") {
			t.Fatalf("Bob stored %s", b.Name)
		}
	}
}

func TestMemberFloodCapped(t *testing.T) {
	url := startRelay(t)
	bob, mal := newNode(t, url, "bob", 2), newNode(t, url, "mallory", 6)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	mal.join(bob, task.ID)
	var refused atomic.Int64
	defer bob.Subscribe(func(ev Event) {
		if ev.Type == EventError && errors.Is(ev.Err, ErrTooManyMembers) {
			refused.Add(1)
		}
	})()
	const flood = MaxIntroduced + 36
	drafts := make([]draft, flood)
	for i := range drafts {
		drafts[i] = draft{TypeMember, map[string]any{"id": identity.New(identity.Seed{100, byte(i)}).ID()}, nil}
	}
	if _, err := mal.writeMany(testCtx(t), mal.task(task.ID), drafts); err != nil {
		t.Fatal(err)
	}
	members := func() int { ms, _ := bob.Members(task.ID); return len(ms) }
	// Every announcement is shown; MaxIntroduced act, the rest are refused.
	eventually(t, "every announcement handled at Bob", func() bool {
		return refused.Load() == flood-MaxIntroduced && members() == 2+MaxIntroduced
	}, func() string { return fmt.Sprintf("%d members, %d refused", members(), refused.Load()) })
	n := 0
	for _, m := range bob.timeline(task.ID) {
		if m.Type == TypeMember && m.Head.By == mal.ID() {
			n++
		}
	}
	if n != flood {
		t.Fatalf("Bob shows %d of Mallory's %d announcements", n, flood)
	}
	// Another member may still announce (the cap is per member).
	ana := newNode(t, url, "ana", 1)
	ana.join(bob, task.ID)
	eventually(t, "Ana added", func() bool { return members() == 3+MaxIntroduced })
}

func TestClockOverflowRefused(t *testing.T) {
	url := startRelay(t)
	bob, ana, mal := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "mallory", 6)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	mal.join(bob, task.ID)
	for _, n := range []*node{bob, ana, mal} {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 2) }, state(task.ID, bob, ana, mal))
	}
	// Mallory writes a clock at the wrap, one far ahead, and pages the
	// page could not render; then a good message.
	bad := []Message{
		{Type: TypeChat, Data: json.RawMessage(`{"text":"wrap"}`), Meta: Meta{Date: MinDate, Clock: ^uint64(0)}},
		{Type: TypeChat, Data: json.RawMessage(`{"text":"far"}`), Meta: Meta{Date: MinDate, Clock: 1 << 40}},
		{Type: TypeChat, Data: json.RawMessage(`{"text":"date"}`), Meta: Meta{Date: 1 << 60, Clock: 50}},
		{Type: TypeMember, Data: json.RawMessage(`{"id":42}`), Meta: Meta{Date: MinDate, Clock: 51}},
	}
	// Each member has taken Mallory's last message (its clock seen) once its
	// message event comes: stored is not enough.
	taken := map[*node]chan struct{}{}
	for _, n := range []*node{bob, ana} {
		ch := make(chan struct{})
		var once sync.Once
		cancel := n.Subscribe(func(ev Event) {
			if ev.Type == EventMessage && !ev.Pending && ev.Message != nil && strings.Contains(string(ev.Message.Data), "still here") {
				once.Do(func() { close(ch) })
			}
		})
		t.Cleanup(cancel)
		taken[n] = ch
	}
	for _, msg := range bad {
		mal.rawWrite(task.ID, mal.forged(msg))
	}
	mal.rawWrite(task.ID, mal.forged(Message{Type: TypeChat, Data: json.RawMessage(`{"text":"still here"}`), Meta: Meta{Date: MinDate, Clock: 52}}))
	for _, n := range []*node{bob, ana} {
		select {
		case <-taken[n]:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never took Mallory's last message", n.name)
		}
	}
	check := func(n *node) {
		t.Helper()
		// The worker refuses a page after it is stored: wait for it.
		eventually(t, fmt.Sprintf("%s shows %d invalid messages", n.name, len(bad)), func() bool {
			invalid := 0
			for _, m := range n.timeline(task.ID) {
				if m.Type == TypeInvalid {
					invalid++
					if m.Reason == "" || m.Head.By != mal.ID() {
						t.Errorf("%s: an invalid message without a reason: %+v", n.name, m)
					}
				}
			}
			return invalid == len(bad)
		}, state(task.ID, n))
		// The clock stays sane: a new message comes last, with a small clock.
		sent := n.send(task.ID, "after "+n.name, nil)
		if sent.Meta.Clock == 0 || sent.Meta.Clock > 1000 {
			t.Fatalf("%s's next clock is %d", n.name, sent.Meta.Clock)
		}
		msgs := n.timeline(task.ID)
		if last := msgs[len(msgs)-1]; last.Key() != sent.Key() {
			t.Fatalf("%s's new message is not last: %s", n.name, line(last))
		}
		for i := 1; i < len(msgs); i++ {
			if msgs[i].Type != TypeInvalid && msgs[i-1].Type != TypeInvalid && msgs[i-1].Key().Compare(msgs[i].Key()) >= 0 {
				t.Fatalf("%s's timeline is out of order at %d", n.name, i)
			}
		}
	}
	check(bob)
	check(ana)
	// After a reload: the refused pages stay invalid, the clock sane.
	bob.stop()
	bob.start()
	check(bob)
}

func TestEquivocationDetected(t *testing.T) {
	url := startRelay(t)
	bob, ana, carl, mal := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3), newNode(t, url, "mallory", 6)
	task, err := bob.CreateTask(testCtx(t), "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{ana, carl, mal} {
		n.join(bob, task.ID)
	}
	all := []*node{bob, ana, carl, mal}
	for _, n := range all {
		eventually(t, n.name+" paired", func() bool { return n.paired(task.ID, 3) }, state(task.ID, all...))
	}
	var mu sync.Mutex
	var seen []*Equivocation
	for _, n := range []*node{bob, ana, carl} {
		cancel := n.Subscribe(func(ev Event) {
			if ev.Type == EventEquivocation {
				mu.Lock()
				seen = append(seen, ev.Evidence)
				mu.Unlock()
			}
		})
		defer cancel()
	}
	// Mallory tells each reader something else under one mid.
	mid := mal.rawWrite(task.ID, func(mid uint64, to identity.ID) []byte {
		text := "pay " + to.Short()
		return mal.forged(Message{Type: TypeChat, Data: json.RawMessage(fmt.Sprintf(`{"text":%q}`, text)), Meta: Meta{Date: MinDate, Clock: 100}})(mid, to)
	})
	eventually(t, "the equivocation detected", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0
	}, state(task.ID, all...))
	mu.Lock()
	e := seen[0]
	mu.Unlock()
	if e.Author != mal.ID() || e.Mid != mid || e.Task != task.ID {
		t.Fatalf("evidence against %s mid %d", e.Author.Short(), e.Mid)
	}
	if err := e.Verify(ana.opener(ana.task(task.ID))); err != nil {
		t.Fatalf("the evidence does not verify: %v", err)
	}
	if e.Copies[0].Reader == e.Copies[1].Reader {
		t.Fatal("both copies of one reader")
	}
	// Tampered evidence does not verify.
	bad := *e
	bad.Copies[1].Page = bad.Copies[0].Page
	if err := bad.Verify(ana.opener(ana.task(task.ID))); err == nil {
		t.Fatal("a copy with another reader's page verified")
	}
	// members() shows it on the member that saw it.
	found := false
	for _, n := range []*node{bob, ana, carl} {
		if mi, _ := n.member(task.ID, mal.ID()); len(mi.Equivocations) > 0 {
			found = true
		}
	}
	if !found {
		t.Fatal("no member lists the equivocation")
	}
	// Honest members are not accused.
	for _, n := range []*node{bob, ana, carl} {
		for _, other := range []*node{bob, ana, carl} {
			if mi, _ := n.member(task.ID, other.ID()); len(mi.Equivocations) > 0 {
				t.Fatalf("%s accuses %s", n.name, other.name)
			}
		}
	}
}

// TestStrangerOverPipe: the room protocol with a stranger, over an
// in-memory port: joins are answered (refused without an invite), a fifth
// join or anything but a join closes the port, and no replication runs.
func TestStrangerOverPipe(t *testing.T) {
	ctx := testCtx(t)
	db, err := journal.Open(ctx, store.NewMemory(), identity.Seed{2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := Open(ctx, Config{DB: db, Logger: quiet, Sync: testSync, StrangerIdle: time.Hour,
		Dial: func(ctx context.Context, _ identity.ID) (port.Port, error) { <-ctx.Done(); return nil, ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	eve := identity.New(identity.Seed{9}).ID()
	join := fmt.Appendf(nil, `{"v":2,"type":"join","task":%q,"key":%q}`, task.ID, eve)
	for _, tc := range []struct {
		name  string
		sends [][]byte
	}{
		{"a fifth join", [][]byte{join, join, join, join, join}},
		{"a digest", [][]byte{fmt.Appendf(nil, `{"v":2,"type":"digest","task":%q,"author":%q,"start":1,"digests":%q}`, task.ID, eve, strings.Repeat("A", 43)+"=")}},
		{"garbage", [][]byte{[]byte("{")}},
		{"version 1", [][]byte{fmt.Appendf(nil, `{"type":"join","task":%q,"key":%q,"invite":true}`, task.ID, eve)}},
	} {
		a, b := port.Pipe(eve, bob.ID(), 64)
		bob.Accept(b)
		mux := port.NewMux(a, port.ChannelSync, port.ChannelRoom)
		room := mux.Channel(port.ChannelRoom)
		for i, msg := range tc.sends {
			if err := room.Send(ctx, msg); err != nil {
				t.Fatalf("%s: send %d: %v", tc.name, i, err)
			}
			if i < maxStrangerJoins && string(msg) == string(join) {
				answer, err := room.Recv(ctx)
				if err != nil {
					t.Fatalf("%s: join %d unanswered: %v", tc.name, i, err)
				}
				if w, err := decodeWire(answer); err != nil || w.Type != wireRefused {
					t.Fatalf("%s: answer %s, %v", tc.name, answer, err)
				}
			}
		}
		if _, err := room.Recv(ctx); !errors.Is(err, port.ErrClosed) {
			t.Fatalf("%s: the port is still open (%v)", tc.name, err)
		}
		// No replication ran: nothing came on the sync channel.
		if msg, err := mux.Channel(port.ChannelSync).Recv(ctx); err == nil {
			t.Fatalf("%s: Bob sent a stranger %d bytes of replication", tc.name, len(msg))
		}
	}
}
