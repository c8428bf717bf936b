//go:build !js

package room

import (
	"slices"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/mirror"
	mirrorheld "github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestMirrorVouches: Bob's message to Ana, who is offline, is "on a
// mirror" once the mirror's signed receipt of his book to her arrives
// (not delivered: she has not got it), and the receipt names the mirror.
// Statements that do not verify are ignored: another key's signature,
// another root, more pages than the book has, a book that is not Bob's to
// a member.
func TestMirrorVouches(t *testing.T) {
	url := startRelay(t)
	mir, err := mirror.Start(testCtx(t), mirror.Config{Store: store.NewMemory(), Seed: identity.Seed{9}, Relay: url, Logger: quiet, HeldEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close() })
	mirrors := []identity.ID{mir.ID()}
	bob := &node{t: t, name: "bob", url: url, seed: identity.Seed{2}, st: store.NewMemory(), mirrors: mirrors}
	ana := &node{t: t, name: "ana", url: url, seed: identity.Seed{1}, st: store.NewMemory(), mirrors: mirrors}
	bob.start()
	t.Cleanup(bob.stop)
	ana.start()
	t.Cleanup(ana.stop)
	task, err := bob.CreateTask(testCtx(t), "Vouched for", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "the pair", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) })
	bobID, anaID := bob.ID(), ana.ID()
	ana.stop()

	events := make(chan Event, 64)
	off := bob.Subscribe(func(ev Event) {
		if ev.Type == EventReceipt && ev.State == "mirror" && ev.Peer == anaID {
			select {
			case events <- ev:
			default:
			}
		}
	})
	defer off()
	msg := bob.send(task.ID, "keep this for Ana", nil)
	eventually(t, "the mirror vouches for Bob's message to Ana", func() bool {
		mi := bob.memberInfo(task.ID, anaID)
		return mi.Mirrored >= msg.Head.Mid && len(mi.Vouches) == 1 && mi.Vouches[0].Mirror == mir.ID()
	}, state(task.ID, bob))
	if mi := bob.memberInfo(task.ID, anaID); mi.Received >= msg.Head.Mid {
		t.Fatalf("Ana, offline, received message %d (%d)", msg.Head.Mid, mi.Received)
	}
	select {
	case <-events:
	case <-testCtx(t).Done():
		t.Fatal("no mirror receipt event")
	}

	// Statements of a would-be mirror, given to Bob as if on its port.
	toAna, err := bob.db.Get(testCtx(t), bob.db.BookKey(pairName(bobID, anaID, task.ID)))
	if err != nil {
		t.Fatal(err)
	}
	n := toAna.Len()
	root, err := toAna.TreeHash(testCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	other, stranger := identity.New(identity.Seed{0x77}), identity.New(identity.Seed{0x78})
	statement := func(change func(*mirrorheld.Statement)) mirrorheld.Statement {
		s := mirrorheld.Statement{Book: toAna.Key(), Length: n, Root: root, Time: time.Now().UnixMilli()}
		change(&s)
		if s.Sig == nil {
			s.Sign(other)
		}
		return s
	}
	vouchedBy := func(id identity.ID) bool {
		return slices.ContainsFunc(bob.memberInfo(task.ID, anaID).Vouches, func(v Vouch) bool { return v.Mirror == id })
	}
	for name, change := range map[string]func(*mirrorheld.Statement){
		"another key":  func(s *mirrorheld.Statement) { s.Sign(stranger) },
		"another root": func(s *mirrorheld.Statement) { s.Root[0] ^= 1 },
		"more pages":   func(s *mirrorheld.Statement) { s.Length = n + 1 },
		"another book": func(s *mirrorheld.Statement) { s.Book = bob.db.BookKey(logName(bobID, task.ID)) },
	} {
		bob.onVouched(testCtx(t), other.ID(), []mirrorheld.Statement{statement(change)})
		if vouchedBy(other.ID()) {
			t.Fatalf("a statement with %s was taken", name)
		}
	}
	bob.onVouched(testCtx(t), other.ID(), []mirrorheld.Statement{statement(func(*mirrorheld.Statement) {})})
	if !vouchedBy(other.ID()) {
		t.Fatal("a statement that verifies was not taken")
	}
}
