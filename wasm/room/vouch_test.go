//go:build !js

package room

import (
	"slices"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/mirror"
	mirrorheld "github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// TestMirrorVouches: Bob's message to Ana, who is offline, is "on a
// mirror" once the mirror's signed receipt of his book to her arrives
// (not delivered: she has not got it), and the receipt names the mirror.
// Statements that do not verify are ignored: another key's signature,
// another root, more pages than the book has, a book that is not Bob's to
// a member.
func TestMirrorVouches(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{HeldEvery: 10 * time.Millisecond})
	bob, ana, task := mirrorPair(t, url, []identity.ID{mir.ID()}, "Vouched for", nil)
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
	root := treeHashAt(t, toAna, n)
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

	// Through the wire: a would-be mirror of Bob's sends, on its port, a
	// message out of form, then statements of the whole book signed by
	// another key and of another root, then one that verifies, of one page
	// less. Only the last counts, and the port goes on after the others.
	fake := identity.New(identity.Seed{0x79})
	sent := func(s mirrorheld.Statement) []byte {
		b, err := mirrorheld.Encode([]mirrorheld.Statement{s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	forged := [][]byte{[]byte(`{"v":1,"held":"nothing"}`)}
	for _, change := range []func(*mirrorheld.Statement){
		func(s *mirrorheld.Statement) { s.Sign(stranger) },
		func(s *mirrorheld.Statement) { s.Root[0] ^= 1; s.Sign(fake) },
		func(s *mirrorheld.Statement) { s.Length, s.Root = n-1, treeHashAt(t, toAna, n-1); s.Sign(fake) },
	} {
		forged = append(forged, sent(statement(change)))
	}
	fio := peerio.New("fake", fake.Seed(), peerio.Config{Relay: url, Logger: quiet})
	t.Cleanup(func() { fio.Close() })
	if err := fio.On(testCtx(t), func(p port.Port) {
		ch := port.NewMux(p, port.ChannelHeld).Channel(port.ChannelHeld)
		for _, msg := range forged {
			if ch.Send(testCtx(t), msg) != nil {
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	bob.stop()
	bob.mirrors = []identity.ID{mir.ID(), fake.ID()}
	bob.start()
	eventually(t, "the would-be mirror's statement that verifies", func() bool { return vouchedBy(fake.ID()) }, state(task.ID, bob))
	for _, v := range bob.memberInfo(task.ID, anaID).Vouches {
		if v.Mirror == fake.ID() && v.Length != n-1 {
			t.Fatalf("the would-be mirror vouches for %d pages, by a statement that does not verify", v.Length)
		}
	}
}

// treeHashAt is b's tree hash at n.
func treeHashAt(t *testing.T, b *journal.Book, n uint64) journal.Hash {
	t.Helper()
	root, err := b.TreeHash(testCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	return root
}
