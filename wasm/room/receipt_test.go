package room

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// memberInfo is peer's entry in n's members of task.
func (n *node) memberInfo(task TaskID, peer identity.ID) MemberInfo {
	n.t.Helper()
	ms, err := n.Members(task)
	if err != nil {
		n.t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(mi MemberInfo) bool { return mi.ID == peer })
	if i < 0 {
		n.t.Fatalf("%s is not a member", peer.Short())
	}
	return ms[i]
}

// TestReceipts: Bob learns how far Ana holds and read his messages, from
// her receipts: as they arrive, as she reads them, and when she comes back
// online after he wrote while she was away.
func TestReceipts(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Receipts", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	var sent []Message
	for i := range 3 {
		sent = append(sent, bob.send(task.ID, fmt.Sprint("m", i), nil))
	}
	at := func(received, read uint64) func() bool {
		return func() bool {
			mi := bob.memberInfo(task.ID, ana.ID())
			return mi.Received == received && mi.Read == read
		}
	}
	info := func() string { return fmt.Sprintf("Bob's view of Ana: %+v", bob.memberInfo(task.ID, ana.ID())) }
	eventually(t, "Ana's receipt of the three", at(sent[2].Head.Mid, 0), info)

	if err := ana.MarkRead(task.ID, sent[1].Ref()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana read the second", at(sent[2].Head.Mid, sent[1].Head.Mid), info)
	if err := ana.MarkRead(task.ID, sent[0].Ref()); err != nil { // an older one: nothing moves back
		t.Fatal(err)
	}

	// Away, then back: Bob learns it on the port that opens.
	ana.stop()
	last := bob.send(task.ID, "while away", nil)
	ana.start()
	eventually(t, "Ana's receipt after she came back", at(last.Head.Mid, sent[1].Head.Mid), info)
	if err := ana.MarkRead(task.ID, Ref{By: identity.New(identity.Seed{9}).ID(), Mid: 1}); err == nil {
		t.Fatal("a read mark of a stranger's message was taken")
	}
}

// TestReceiptPageBounds: a receipt page's data is checked like any
// message's: a page that breaks a bound reads as invalid (and is shown so).
func TestReceiptPageBounds(t *testing.T) {
	author := identity.New(identity.Seed{3}).ID()
	other := identity.New(identity.Seed{4}).ID().String()
	page := func(data string, cause string) []byte {
		return fmt.Appendf(nil, `{"head":[%q,"",1],"refs":{%s},"type":"receipt","data":%s,"meta":{"date":%d,"clock":1}}`,
			author.String(), cause, data, int64(MinDate))
	}
	ok := []string{
		`{"of":{}}`,
		fmt.Sprintf(`{"of":{%q:{"received":3,"read":2}}}`, other),
		fmt.Sprintf(`{"of":{%q:{"received":3}},"later":"a field of a later version"}`, other),
	}
	for _, d := range ok {
		if m, err := Decode(page(d, ""), author); err != nil || m.Type != TypeReceipt {
			t.Errorf("%s: %v (%s)", d, err, m.Type)
		}
	}
	bad := []string{
		`{}`,
		`{"of":null}`,
		`{"of":[]}`,
		`{"of":{"not an id":{"received":1,"read":1}}}`,
		fmt.Sprintf(`{"of":{%q:null}}`, other),
		fmt.Sprintf(`{"of":{%q:{"received":-1}}}`, other),
		fmt.Sprintf(`{"of":{%q:{"received":1.5}}}`, other),
		fmt.Sprintf(`{"of":{%q:{"received":2,"read":3}}}`, other),
		fmt.Sprintf(`{"of":{%q:{"received":%d}}}`, other, uint64(MaxClock)+1),
	}
	for _, d := range bad {
		if m, err := Decode(page(d, ""), author); err == nil || m.Type != TypeInvalid {
			t.Errorf("%s: taken as %s", d, m.Type)
		}
	}
	many := map[string]Mark{}
	for i := range MaxMembers + 1 {
		many[identity.New(identity.Seed{byte(i), byte(i >> 8), 1}).ID().String()] = Mark{}
	}
	d, _ := json.Marshal(receiptData{many})
	if _, err := Decode(page(string(d), ""), author); err == nil {
		t.Errorf("a receipt of %d authors was taken", len(many))
	}
	if _, err := Decode(page(`{"of":{}}`, fmt.Sprintf(`"cause":[%q,1]`, author.String())), author); err == nil {
		t.Error("a receipt replying to a message was taken")
	}
}

// TestReceiptPageCapped: a member's receipt page is taken in bounds: its
// claims beyond this profile's messages are capped to them, a page by a
// stranger is ignored, and receipt pages never show in the timeline.
func TestReceiptPageCapped(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Bounds", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	sent := bob.send(task.ID, "one", nil)
	tk := bob.task(task.ID)
	stranger := identity.New(identity.Seed{9}).ID()
	claim := func(by identity.ID) Message {
		d, _ := json.Marshal(receiptData{map[string]Mark{
			bob.ID().String(): {Received: 1 << 40, Read: 1 << 40},
			stranger.String(): {Received: 5, Read: 5},
		}})
		return Message{Head: Head{By: by, Mid: 1}, Type: TypeReceipt, Data: d}
	}
	bob.onReceiptPage(tk, stranger, claim(stranger))
	bob.onReceiptPage(tk, ana.ID(), claim(ana.ID()))
	last := tk.log.Len() - 1
	if mi := bob.memberInfo(task.ID, ana.ID()); mi.Received != last || mi.Read != last || last < sent.Head.Mid {
		t.Fatalf("Bob's view of Ana after a claim of 2^40: %+v, want received and read %d", mi, last)
	}
	if _, err := bob.write(testCtx(t), tk, TypeReceipt, receiptData{map[string]Mark{ana.ID().String(): {}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana holds Bob's receipt page", func() bool { return ana.memberInfo(task.ID, bob.ID()).Have >= tk.log.Len() })
	for _, n := range []*node{bob, ana} {
		for _, l := range n.lines(task.ID) {
			if strings.Contains(l, TypeReceipt) {
				t.Fatalf("%s's timeline shows a receipt page: %s", n.name, l)
			}
		}
	}
}

// TestReceiptPageOfNewTask: in a task made after the messenger opened,
// Ana's read of Bob's message, once he left, goes in a receipt page
// (written after the default Config.ReceiptEvery).
func TestReceiptPageOfNewTask(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "New", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bobID := bob.ID()
	sent := bob.send(task.ID, "read me later", nil)
	eventually(t, "Ana has Bob's message", func() bool { return ana.hasChat(task.ID, bobID, "read me later") })
	bob.stop()
	eventually(t, "Ana sees Bob offline", func() bool { return !ana.memberInfo(task.ID, bobID).Online })
	if err := ana.MarkRead(task.ID, sent.Ref()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ana's receipt page says she read it", func() bool {
		return ana.memberInfo(task.ID, bobID).ToldRead >= sent.Head.Mid
	}, func() string { return fmt.Sprintf("Ana's view of Bob: %+v", ana.memberInfo(task.ID, bobID)) })
}

// receiptDue reports whether n owes author a receipt in task that it has
// not sent.
func (n *node) receiptDue(task TaskID, author identity.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	rs := n.tasks[task].receipts[author]
	return rs != nil && rs.due
}

// TestReceiptsSpaced: a receipt owed within Config.ReceiptGap (here an
// hour) of the last one sent to the same author waits for the gap to pass:
// it is still owed, and the author has not learned it.
func TestReceiptsSpaced(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	ana.stop()
	ana.receiptGap = time.Hour
	ana.start()
	task, err := bob.CreateTask(testCtx(t), "Spaced", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	received := func() uint64 { return bob.memberInfo(task.ID, ana.ID()).Received }
	info := func() string { return fmt.Sprintf("Bob's view of Ana: %+v", bob.memberInfo(task.ID, ana.ID())) }

	// A port that opens carries the receipts whatever the gap.
	m0 := bob.send(task.ID, "m0", nil)
	eventually(t, "Ana holds m0", func() bool { return ana.hasChat(task.ID, bob.ID(), "m0") })
	ana.stop()
	ana.start()
	eventually(t, "Ana's receipt of m0, on the port that opened", func() bool { return received() >= m0.Head.Mid }, info)

	// m1's receipt goes (the first since the restart) or is held (one went
	// before it): either way one went less than the gap before m2 comes.
	m1 := bob.send(task.ID, "m1", nil)
	eventually(t, "Ana holds m1 and sent or holds its receipt", func() bool {
		return ana.hasChat(task.ID, bob.ID(), "m1") && (received() == m1.Head.Mid || ana.receiptDue(task.ID, bob.ID()))
	}, info)
	m2 := bob.send(task.ID, "m2", nil)
	eventually(t, "Ana holds m2 and owes its receipt", func() bool {
		return ana.hasChat(task.ID, bob.ID(), "m2") && ana.receiptDue(task.ID, bob.ID())
	}, info)
	if got := received(); got >= m2.Head.Mid {
		t.Fatalf("within the gap, Bob learned that Ana holds up to %d (m2 is %d)", got, m2.Head.Mid)
	}
}

// TestReceiptsHeldArrive: receipts owed within the gap (a burst of
// messages, read as they come) reach the author once it has passed: the
// author ends up knowing the last is held and read.
func TestReceiptsHeldArrive(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	ana.stop()
	ana.receiptGap = 300 * time.Millisecond
	ana.start()
	task, err := bob.CreateTask(testCtx(t), "Burst", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	var last Message
	for i := range 20 {
		last = bob.send(task.ID, fmt.Sprint("burst ", i), nil)
		if i%5 == 4 {
			eventually(t, "Ana holds "+fmt.Sprint("burst ", i), func() bool { return ana.hasChat(task.ID, bob.ID(), fmt.Sprint("burst ", i)) })
			if err := ana.MarkRead(task.ID, last.Ref()); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "Bob learns Ana holds and read the last", func() bool {
		mi := bob.memberInfo(task.ID, ana.ID())
		return mi.Received == last.Head.Mid && mi.Read == last.Head.Mid
	}, func() string { return fmt.Sprintf("Bob's view of Ana: %+v", bob.memberInfo(task.ID, ana.ID())) })
}
