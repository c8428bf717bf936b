//go:build !js

package mirror

import (
	"fmt"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// receive reads the mirror's receipts on ch and checks each against the
// author's books: signed by the mirror, of a book of the author's, with
// the root of the author's tree at its length, never told twice or
// shorter. It returns when every book of want is told at its length, with
// the number of messages read.
func receive(t *testing.T, ch port.Port, mirror identity.ID, books map[identity.ID]*journal.Book, want map[identity.ID]uint64) int {
	t.Helper()
	told := make(map[identity.ID]uint64)
	done := func() bool {
		for k, n := range want {
			if told[k] != n {
				return false
			}
		}
		return true
	}
	msgs := 0
	for !done() {
		b, err := ch.Recv(testCtx(t))
		if err != nil {
			t.Fatalf("receipts %v; told %v, want %v", err, told, want)
		}
		msgs++
		ss, err := held.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if err := s.Verify(mirror); err != nil {
				t.Fatal(err)
			}
			book := books[s.Book]
			if book == nil {
				t.Fatalf("a receipt of book %s, not one of the author's", s.Book.Short())
			}
			if root, err := book.TreeHash(testCtx(t), s.Length); err != nil || root != s.Root {
				t.Fatalf("book %s at %d: the root told is not the author's (%v)", s.Book.Short(), s.Length, err)
			}
			if s.Length <= told[s.Book] {
				t.Fatalf("book %s told at %d after %d", s.Book.Short(), s.Length, told[s.Book])
			}
			told[s.Book] = s.Length
		}
	}
	return msgs
}

// TestReceipts: the mirror tells Ana, on her port, how far it holds each
// of her books as they are pinned and grow, signed; on a port she opens
// later it tells everything it holds again; it tells nothing else
// (receive checks each statement).
func TestReceipts(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	m, err := Start(testCtx(t), Config{Store: store.NewMemory(), Seed: identity.Seed{9}, Relay: url, Logger: quiet, HeldEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	books := make(map[identity.ID]*journal.Book)
	var shared []*journal.Book
	for i := range 3 {
		b, err := ana.db.Author(testCtx(t), fmt.Sprintf("%s-%s-task%d", ana.db.ID(), bob.db.ID(), i), nil)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			b.Append(testCtx(t), []byte(fmt.Sprintf("page %d of book %d", j, i)))
		}
		books[b.Key()] = b
		shared = append(shared, b)
	}
	lengths := func() map[identity.ID]uint64 {
		want := make(map[identity.ID]uint64)
		for k, b := range books {
			want[k] = b.Len()
		}
		return want
	}
	stop, ch := ana.sessionHeld(t, m.ID(), replication.Config{}, true, shared...)
	receive(t, ch, m.ID(), books, lengths())

	const appends = 50
	for j := range appends {
		if _, err := shared[0].Append(testCtx(t), []byte(fmt.Sprint("more ", j))); err != nil {
			t.Fatal(err)
		}
	}
	msgs := receive(t, ch, m.ID(), books, map[identity.ID]uint64{shared[0].Key(): shared[0].Len()})
	t.Logf("%d appends told in %d messages", appends, msgs)
	stop()

	// A port opened later: everything held, told again.
	_, ch = ana.sessionHeld(t, m.ID(), replication.Config{}, true)
	receive(t, ch, m.ID(), books, lengths())

}
