package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// newDevice links a new device of person's to it: person's identity
// signs its key, and the device opens with the bundle.
func newDevice(t testing.TB, url string, person *node, name string, n byte) *node {
	t.Helper()
	var seed identity.Seed
	for i := range seed {
		seed[i] = n
	}
	d := &node{t: t, name: name, url: url, seed: seed, st: store.NewMemory()}
	cert, err := person.SignDevice(identity.New(seed).ID(), name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := person.Link(testCtx(t), cert)
	if err != nil {
		t.Fatal(err)
	}
	// The bundle travels as JSON.
	enc, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	d.link = new(LinkBundle)
	if err := json.Unmarshal(enc, d.link); err != nil {
		t.Fatal(err)
	}
	d.device = &Self{Cert: cert}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func TestLinkedDevices(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Two devices", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bob.send(task.ID, "before the phone", nil)
	ana.send(task.ID, "ana before", nil)
	converged(t, task.ID, 5, bob, ana) // create, member, join, 2 chats

	// The phone gets the whole history, with the announcement, and
	// everyone sees it as Bob's.
	phone := newDevice(t, url, bob, "phone", 7)
	if phone.Person() != bob.ID() || phone.CanLink() {
		t.Fatalf("phone: person %s, can link %v", phone.Person().Short(), phone.CanLink())
	}
	converged(t, task.ID, 6, bob, ana, phone)
	eventually(t, "ana knows the phone is Bob's", func() bool {
		mi, ok := ana.member(task.ID, phone.ID())
		return ok && mi.Person == bob.ID() && mi.Label == "phone"
	}, state(task.ID, ana))

	// Both of Bob's devices write at once: Ana shows every message once,
	// in the order all three agree on.
	var wg sync.WaitGroup
	for _, n := range []*node{bob, phone, ana} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if _, err := n.Send(testCtx(t), task.ID, fmt.Sprintf("%s %d", n.name, i), nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	lines := converged(t, task.ID, 21, bob, ana, phone)
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Fatalf("a message twice: %s", l)
		}
		seen[l] = true
	}

	// Bob revokes the phone: its later messages are refused everywhere,
	// and the task's secret moves on without it.
	if err := bob.RevokeDevice(testCtx(t), phone.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ana removes the phone", func() bool {
		mi, ok := ana.member(task.ID, phone.ID())
		return ok && mi.Removed
	}, state(task.ID, ana))
	eventually(t, "the phone knows it was revoked", func() bool {
		_, err := phone.Send(testCtx(t), task.ID, "after", nil)
		return errors.Is(err, ErrDeviceRevoked)
	}, state(task.ID, phone))
	phone.rawWrite(task.ID, phone.forged(Message{Type: TypeChat, Data: json.RawMessage(`{"text":"forged after"}`), Meta: Meta{Date: MinDate, Clock: 1000}}))
	bob.send(task.ID, "after the revocation", nil)
	eventually(t, "ana has bob's last", func() bool { return ana.hasChat(task.ID, bob.ID(), "after the revocation") }, state(task.ID, ana))
	if ana.hasChat(task.ID, phone.ID(), "forged after") || bob.hasChat(task.ID, phone.ID(), "forged after") {
		t.Fatal("a revoked device's message is shown")
	}
	ana.mu.Lock()
	at := ana.tasks[task.ID]
	epoch := at.epoch
	ana.mu.Unlock()
	phone.mu.Lock()
	_, phoneHas := phone.tasks[task.ID].secrets[epoch]
	phone.mu.Unlock()
	if epoch == 0 || phoneHas {
		t.Fatalf("after the revocation ana seals with epoch %d; the phone has it: %v", epoch, phoneHas)
	}
	if got := bob.Devices(); len(got) != 2 || !got[1].Revoked {
		t.Fatalf("bob's devices: %+v", got)
	}
	// In a task made after, an announcement of the revoked device is not
	// taken.
	later, err := bob.CreateTask(testCtx(t), "Later", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, later.ID)
	if mb, _, err := ana.admit(testCtx(t), ana.task(later.ID), phone.ID(), bob.ID()); err == nil || mb != nil {
		t.Fatalf("a revoked device admitted to a later task: %v", err)
	}
}

// TestRecallNewDevice: Bob's only device is gone; his recovery code
// restores him on an empty browser as a new device of the same person,
// holding the identity key. Ana, dialling Bob's first device, reaches the
// new browser's identity connection and tells it the tasks they share;
// the new device reads Bob's history through Ana, writes as Bob, and
// revokes the lost device, whose later messages Ana refuses.
func TestRecallNewDevice(t *testing.T) {
	url := startRelay(t)
	var evMu sync.Mutex
	var evs []string
	logTo := func(who string) *replication.Config {
		return &replication.Config{Logger: quiet, OnEvent: func(ev replication.Event) {
			evMu.Lock()
			evs = append(evs, fmt.Sprintf("%s %v %d %s %d-%d", who, ev.Send, ev.Type, ev.Book.Short(), ev.Start, ev.End))
			evMu.Unlock()
		}}
	}
	t.Cleanup(func() {
		if t.Failed() {
			evMu.Lock()
			t.Logf("replication:\n%s", strings.Join(evs, "\n"))
			evMu.Unlock()
		}
	})
	bob := newNode(t, url, "bob", 2)
	ana := &node{t: t, name: "ana", url: url, seed: identity.Seed{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, st: store.NewMemory(), sync: logTo("ana")}
	ana.start()
	t.Cleanup(ana.stop)
	task, err := bob.CreateTask(testCtx(t), "Lost laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bob.send(task.ID, "from the old laptop", nil)
	ana.send(task.ID, "ana's", nil)
	want := converged(t, task.ID, 5, bob, ana)
	bobID := bob.ID()
	bob.stop()

	var seed identity.Seed
	for i := range seed {
		seed[i] = 9
	}
	idKey := identity.New(bob.seed)
	cert, err := device.Sign(idKey, identity.New(seed).ID(), "restored", time.Now().UnixMilli(), true)
	if err != nil {
		t.Fatal(err)
	}
	fresh := &node{t: t, name: "bob-restored", url: url, seed: seed, st: store.NewMemory(), device: &Self{Cert: cert, Identity: idKey}}
	fresh.sync = logTo("restored")
	fresh.start()
	t.Cleanup(fresh.stop)
	if !fresh.Recalling().Recalling {
		t.Fatal("a restored holder with no task does not recall")
	}
	// The identity's own connection, as the app opens it.
	idIO := peerio.New("bob-identity", bob.seed, peerio.Config{Relay: url, Logger: quiet, Retry: 50 * time.Millisecond})
	t.Cleanup(func() { idIO.Close() })
	if err := idIO.On(testCtx(t), fresh.Recall); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restored device has the task and its history", func() bool {
		if fresh.task(task.ID) == nil {
			return false
		}
		return len(fresh.lines(task.ID)) >= len(want)
	}, state(task.ID, fresh, ana))
	got := fresh.lines(task.ID)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("restored history differs at %d:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
	// A reload before the recall ended (it waits for answers that teach
	// nothing new for a while) recalls on: more tasks may still come.
	idIO.Close()
	fresh.stop()
	fresh.start()
	if !fresh.Recalling().Recalling {
		t.Fatal("a reload ended the recall")
	}
	fresh.FinishRecall()
	fresh.stop()
	fresh.start()
	if fresh.Recalling().Recalling {
		t.Fatal("a finished recall starts again at the next open")
	}
	fresh.send(task.ID, "back again", nil)
	eventually(t, "ana has the restored device's message, as Bob's", func() bool {
		return ana.hasChat(task.ID, fresh.ID(), "back again") && ana.PersonOf(fresh.ID()) == bobID
	}, state(task.ID, ana, fresh))

	// The lost laptop is revoked; when it comes back, what it writes is
	// refused.
	if err := fresh.RevokeDevice(testCtx(t), bobID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ana removes the lost laptop", func() bool {
		mi, ok := ana.member(task.ID, bobID)
		return ok && mi.Removed
	}, state(task.ID, ana))
	idIO.Close()
	bob.start()
	bob.rawWrite(task.ID, bob.forged(Message{Type: TypeChat, Data: json.RawMessage(`{"text":"from the thief"}`), Meta: Meta{Date: MinDate, Clock: 1000}}))
	fresh.send(task.ID, "after", nil)
	eventually(t, "ana has the restored device's last", func() bool { return ana.hasChat(task.ID, fresh.ID(), "after") }, state(task.ID, ana))
	if ana.hasChat(task.ID, bob.ID(), "from the thief") {
		t.Fatal("ana shows a revoked device's message")
	}
}

// TestDevicesRevokeEachOther: two linked devices revoke each other at
// once: both end revoked on every member, whichever it read first.
func TestDevicesRevokeEachOther(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Feud", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	phone := newDevice(t, url, bob, "phone", 7)
	tablet := newDevice(t, url, bob, "tablet", 8)
	all := []*node{bob, ana, phone, tablet}
	for _, n := range all {
		eventually(t, n.name+" paired with all", func() bool { return n.paired(task.ID, 3) }, state(task.ID, n))
	}
	// Each revocation made (RevokeDevice returned nil) ends its device at
	// every member. The other may not be made: a device told it is
	// revoked before it recorded its own revocation makes none.
	type result struct {
		target *node
		err    error
	}
	results := make(chan result, 2)
	go func() { results <- result{tablet, phone.RevokeDevice(testCtx(t), tablet.ID())} }()
	go func() { results <- result{phone, tablet.RevokeDevice(testCtx(t), phone.ID())} }()
	var made []*node
	for range 2 {
		switch r := <-results; {
		case r.err == nil:
			made = append(made, r.target)
		case !errors.Is(r.err, ErrDeviceRevoked):
			t.Fatal(r.err)
		}
	}
	if len(made) == 0 {
		t.Fatal("neither revocation made")
	}
	t.Logf("%d of the two revocations made", len(made))
	for _, n := range []*node{bob, ana} {
		for _, d := range made {
			eventually(t, n.name+" has "+d.name+" revoked", func() bool {
				a, ok := n.member(task.ID, d.ID())
				return ok && a.Removed
			}, state(task.ID, n))
		}
	}
	// A device may not revoke the holder. (Asked before the holder revokes
	// itself: a revocation of a device already revoked is done, nil.)
	if err := phone.RevokeDevice(testCtx(t), bob.ID()); err == nil {
		t.Fatal("a revoked linked device revoked the holder")
	}
	if err := bob.RevokeDevice(testCtx(t), bob.ID()); err != nil {
		t.Fatal(err) // a holder may even revoke itself
	}
	if _, err := bob.Send(testCtx(t), task.ID, "x", nil); !errors.Is(err, ErrDeviceRevoked) {
		t.Fatalf("a revoked device writes: %v", err)
	}
}

// TestDeviceChurn: five devices of Bob's in a task of four people; Bob's
// devices go offline and come back at random (seeded: the seed is
// printed) while everyone writes. At the end, with everyone back, every
// device of every person shows every message once, in one order.
func TestDeviceChurn(t *testing.T) {
	seed := time.Now().UnixNano()
	if testing.Short() {
		seed = 1
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	url := startRelay(t)
	bob := newNode(t, url, "bob", 2)
	task, err := bob.CreateTask(testCtx(t), "Churn", nil)
	if err != nil {
		t.Fatal(err)
	}
	people := []*node{bob}
	for i, name := range []string{"ana", "carl", "dan"} {
		n := newNode(t, url, name, byte(10+i))
		n.join(bob, task.ID)
		people = append(people, n)
	}
	devices := []*node{bob}
	for i := range 4 {
		devices = append(devices, newDevice(t, url, bob, fmt.Sprintf("bob-%d", i+1), byte(20+i)))
	}
	all := append(slices.Clone(devices), people[1:]...)
	sent := map[string]bool{}
	for round := range 40 {
		n := all[rng.IntN(len(all))]
		if n.Messenger == nil {
			n.start()
			continue
		}
		text := fmt.Sprintf("%s %d", n.name, round)
		if _, err := n.Send(testCtx(t), task.ID, text, nil); err != nil {
			t.Fatalf("round %d: %s: %v", round, n.name, err)
		}
		sent[text] = true
		if d := devices[rng.IntN(len(devices))]; d != bob && d.Messenger != nil && rng.IntN(3) == 0 {
			d.stop() // a linked device goes offline (the first stays: it made the task)
		}
	}
	for _, n := range all {
		if n.Messenger == nil {
			n.start()
		}
	}
	eventually(t, "every device shows every message once, in one order", func() bool {
		ref := all[0].lines(task.ID)
		chats := 0
		for _, l := range ref {
			if strings.Contains(l, " chat ") {
				chats++
			}
		}
		if chats != len(sent) {
			return false
		}
		for _, n := range all[1:] {
			if !slices.Equal(n.lines(task.ID), ref) {
				return false
			}
		}
		return true
	}, state(task.ID, all...))
	for _, n := range all {
		for text := range sent {
			if !slices.ContainsFunc(n.lines(task.ID), func(l string) bool { return strings.Contains(l, `"text":"`+text+`"`) }) {
				t.Fatalf("%s lacks %q", n.name, text)
			}
		}
	}
}

// TestSiblingServesHistory: Ana is offline when Bob links a new device:
// the new device gets Ana's messages from Bob, its sibling, which holds
// her book to Bob.
func TestSiblingServesHistory(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Offline Ana", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	hi := ana.send(task.ID, "hi", nil)
	want := converged(t, task.ID, 4, bob, ana)
	// Bob's worker took "hi" in (its receipt reached Ana), so Bob's clock
	// is past it: the device message below comes after the history. A
	// timeline shows a page once stored, before the worker reads it.
	eventually(t, "Bob's receipt of hi at Ana", func() bool {
		mb, ok := ana.member(task.ID, bob.ID())
		return ok && mb.Received >= hi.Head.Mid
	})
	anaID := ana.ID()
	ana.stop()
	phone := newDevice(t, url, bob, "phone", 7)
	eventually(t, "the phone has the history, Ana's message from Bob", func() bool {
		got := phone.lines(task.ID)
		return phone.hasChat(task.ID, anaID, "hi") && len(got) > len(want) && slices.Equal(got[:len(want)], want)
	}, state(task.ID, phone, bob))
}

// TestForeignCertificates: a device certified by another identity, or a
// certificate forged in Bob's name, never becomes a member of Bob's task.
func TestForeignCertificates(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Guarded", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	mallory := identity.New(identity.Seed{6})
	dev := identity.New(identity.Seed{66}).ID()
	theirs, err := device.Sign(mallory, dev, "mallory's", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	forged := *theirs
	forged.Person = bob.ID() // signed by Mallory, claiming Bob
	tk := ana.task(task.ID)
	for name, c := range map[string]*device.Cert{"another identity's": theirs, "forged": &forged} {
		if err := ana.takeDevice(testCtx(t), tk, dev, c.Encode()); err == nil {
			t.Fatalf("%s certificate admitted", name)
		}
		if ana.isMember(tk, dev) {
			t.Fatalf("%s certificate made a member", name)
		}
	}
	// A certificate of Bob's naming another key than the port's.
	real, err := bob.SignDevice(identity.New(identity.Seed{67}).ID(), "phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.takeDevice(testCtx(t), tk, dev, real.Encode()); !errors.Is(err, device.ErrBadCert) {
		t.Fatalf("a certificate of another key: %v", err)
	}
}
