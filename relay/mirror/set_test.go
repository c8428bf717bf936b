//go:build !js

package mirror

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/mirror/boltstore"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// setEvery is the announcement period of the tests' sets.
const setEvery = 250 * time.Millisecond

// natsFor starts an embedded NATS server listening on loopback and returns
// a function that connects a new client to it.
func natsFor(t testing.TB) func() *natsnode.Node {
	t.Helper()
	addr := relaytest.FreeAddr(t)
	srv, err := natsnode.Start(natsnode.Options{Listen: addr}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return func() *natsnode.Node {
		n, err := natsnode.Start(natsnode.Options{URLs: []string{srv.ClientURL()}}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return n
	}
}

// setMirror starts a mirror of a set, on its own NATS connection.
func setMirror(t testing.TB, url string, nats func() *natsnode.Node, st store.Store, seed byte) *Mirror {
	t.Helper()
	m, err := Start(testCtx(t), Config{Store: st, Seed: identity.Seed{seed}, Relay: url, Logger: quiet,
		NATS: nats().Conn, SetEvery: setEvery})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func setSizes(ms []*Mirror, n int) func() bool {
	return func() bool {
		for _, m := range ms {
			if m.Stats().SetSize != n {
				return false
			}
		}
		return true
	}
}

// holdsWhole reports whether m holds the first n pages of book.
func holdsWhole(t testing.TB, m *Mirror, book identity.ID, n uint64) func() bool {
	return func() bool {
		c := mirrored(t, m, book)
		return c != nil && holds(c, n)()
	}
}

// byRank returns ms in the order of held.Rank(author, their ids).
func byRank(author identity.ID, ms ...*Mirror) []*Mirror {
	ids := make([]identity.ID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID()
	}
	out := make([]*Mirror, 0, len(ms))
	for _, id := range held.Rank(author, ids) {
		for _, m := range ms {
			if m.ID() == id {
				out = append(out, m)
			}
		}
	}
	return out
}

// samePages fails unless rep holds every page of b.
func samePages(t testing.TB, b, rep *journal.Book) {
	t.Helper()
	for i := uint64(0); i < b.Len(); i++ {
		want, _ := b.Get(testCtx(t), i)
		got, err := rep.Get(testCtx(t), i)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("page %d: %q, %v", i, got, err)
		}
	}
}

// TestSetRepin: of three mirrors, Ana pins her book to Bob to the first
// two of its rank; they hold it, the third does not. One of the two
// leaves: the third is re-pinned and copies the whole book from the
// survivor. The survivor leaves too: Bob, with Ana offline, follows the
// book through the third and gets every page, verified as Ana's.
func TestSetRepin(t *testing.T) {
	url := startRelay(t)
	nats := natsFor(t)
	all := []*Mirror{
		setMirror(t, url, nats, store.NewMemory(), 11),
		setMirror(t, url, nats, store.NewMemory(), 12),
		setMirror(t, url, nats, store.NewMemory(), 13),
	}
	eventually(t, "a set of three", setSizes(all, 3))
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	b := authored(t, ana, bob.db.ID(), "task", 50)
	ranked := byRank(ana.db.ID(), all...)
	first, second, third := ranked[0], ranked[1], ranked[2]
	stop1 := ana.session(t, first.ID(), replication.Config{}, b)
	stop2 := ana.session(t, second.ID(), replication.Config{}, b)
	eventually(t, "the first two of the rank hold the book", func() bool {
		return holdsWhole(t, first, b.Key(), b.Len())() && holdsWhole(t, second, b.Key(), b.Len())()
	})
	// Each told the other, its fellow target, to hold it (a no-op): the
	// third was told nothing.
	eventually(t, "the re-pins after the pins", func() bool { return first.Stats().Repinned >= 1 && second.Stats().Repinned >= 1 })
	if mirrored(t, third, b.Key()) != nil || third.Stats().Followed != 0 {
		t.Fatalf("the third mirror holds the book: %+v", third.Stats())
	}
	stop1()
	stop2()
	ana.io.Close() // Ana is offline from here on

	first.Close()
	eventually(t, "a set of two", setSizes([]*Mirror{second, third}, 2))
	eventually(t, "the third copies the whole book from the survivor", holdsWhole(t, third, b.Key(), b.Len()))
	// Counted once stored: the usage follows the pages.
	eventually(t, "the re-pinned book counted", func() bool {
		s := third.Stats()
		return s.Followed == 1 && s.Books == 1 && s.Authors == 1
	})

	second.Close()
	eventually(t, "a set of one", setSizes([]*Mirror{third}, 1))
	rep, err := bob.db.ReaderFrom(testCtx(t), b.Key(), ana.db.ID())
	if err != nil {
		t.Fatal(err)
	}
	bob.session(t, third.ID(), replication.Config{FollowVia: func(_, holder identity.ID) bool { return holder == third.ID() }})
	eventually(t, "Bob has Ana's book from the re-pinned mirror", holds(rep, b.Len()))
	samePages(t, b, rep)
}

// TestSetReturn: a mirror of two that leaves and comes back (the same
// store and seed) catches up, from the other, the pages written while it
// was away, with their author offline.
func TestSetReturn(t *testing.T) {
	url := startRelay(t)
	nats := natsFor(t)
	path := filepath.Join(t.TempDir(), "mirror.db")
	open := func() *boltstore.Store {
		st, err := boltstore.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	stay := setMirror(t, url, nats, store.NewMemory(), 21)
	away := setMirror(t, url, nats, st, 22)
	eventually(t, "a set of two", setSizes([]*Mirror{stay, away}, 2))
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	b := authored(t, ana, bob.db.ID(), "task", 20)
	ana.session(t, away.ID(), replication.Config{}, b)
	stop, ended := ana.run(t, stay.ID(), replication.Config{}, b)
	eventually(t, "both hold the book", func() bool {
		return holdsWhole(t, stay, b.Key(), b.Len())() && holdsWhole(t, away, b.Key(), b.Len())()
	})

	away.Close()
	st.Close()
	before := b.Len()
	if _, err := b.Append(testCtx(t), kib(30)...); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mirror that stayed holds the new pages", func() bool {
		select {
		case err := <-ended:
			t.Fatalf("Ana's session with the mirror that stayed ended: %v", err)
		default:
		}
		return holdsWhole(t, stay, b.Key(), b.Len())()
	})
	stop()
	ana.io.Close()

	st = open()
	t.Cleanup(func() { st.Close() })
	back := setMirror(t, url, nats, st, 22)
	if n := back.Held(b.Key()); n != before {
		t.Fatalf("the mirror back holds %d pages, %d when it left", n, before)
	}
	eventually(t, "the mirror back catches up", holdsWhole(t, back, b.Key(), b.Len()))
	rep := mirrored(t, back, b.Key())
	samePages(t, b, rep)
}

// TestHoldMessage: hold messages round-trip; malformed ones, and those not
// from a live mirror, are dropped and counted.
func TestHoldMessage(t *testing.T) {
	from := identity.New(identity.Seed{1}).ID()
	books := []holdBook{{Key: identity.New(identity.Seed{2}).ID(), Author: identity.New(identity.Seed{3}).ID()}}
	gotFrom, got, err := decodeHold(encodeHold(from, books))
	if err != nil || gotFrom != from || len(got) != 1 || got[0] != books[0] {
		t.Fatalf("%v %v %v", gotFrom, got, err)
	}
	for _, bad := range []string{
		"", "{}", `{"v":2}`,
		fmt.Sprintf(`{"v":1,"from":"%x","books":[]}`, from[:]),
		fmt.Sprintf(`{"v":1,"from":"%x","books":[{"key":"00","author":"00"}]}`, from[:]),
	} {
		if _, _, err := decodeHold([]byte(bad)); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}

	url := startRelay(t)
	nats := natsFor(t)
	m := setMirror(t, url, nats, store.NewMemory(), 31)
	eventually(t, "the mirror in its set", setSizes([]*Mirror{m}, 1))
	nc := nats().Conn
	nc.Publish(holdSubject(m.ID()), []byte("not json"))
	nc.Publish(holdSubject(m.ID()), encodeHold(from, books)) // from no live mirror
	eventually(t, "two holds dropped", func() bool { return m.Stats().BadHolds == 2 })
	if s := m.Stats(); s.Followed != 0 || mirrored(t, m, books[0].Key) != nil {
		t.Fatalf("a bad hold was taken: %+v", s)
	}
}

// startRelay is relaytest.Start, logging to quiet.
func startRelay(t testing.TB) string {
	t.Helper()
	lim := relay.DefaultLimits()
	lim.MaxConnsPerIP = lim.MaxConns
	lim.MaxQueuedBytesPerIP = lim.MaxQueuedBytes
	srv := relay.NewServer(quiet, lim)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// TestSetNATSDown: with its NATS gone, a mirror of a set keeps the set as
// it knew it and goes on taking pins and serving them; when NATS is back,
// it is heard in the set again.
func TestSetNATSDown(t *testing.T) {
	url := startRelay(t)
	addr := relaytest.FreeAddr(t)
	srv, err := natsnode.Start(natsnode.Options{Listen: addr}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	conn := func() *natsnode.Node {
		n, err := natsnode.Start(natsnode.Options{URLs: []string{"nats://" + addr}, ReconnectWait: 20 * time.Millisecond}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		return n
	}
	nc := conn()
	m := setMirror(t, url, func() *natsnode.Node { return nc }, store.NewMemory(), 41)
	other := setMirror(t, url, conn, store.NewMemory(), 42)
	eventually(t, "a set of two", setSizes([]*Mirror{m, other}, 2))

	srv.Close()
	eventually(t, "NATS down", func() bool { return !nc.Connected() })
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	b := authored(t, ana, bob.db.ID(), "task", 10)
	stop := ana.session(t, m.ID(), replication.Config{}, b)
	eventually(t, "the pin taken with NATS down", holdsWhole(t, m, b.Key(), b.Len()))
	stop()
	ana.io.Close()
	rep, err := bob.db.ReaderFrom(testCtx(t), b.Key(), ana.db.ID())
	if err != nil {
		t.Fatal(err)
	}
	bob.session(t, m.ID(), replication.Config{FollowVia: func(_, holder identity.ID) bool { return holder == m.ID() }})
	eventually(t, "Bob reads it with NATS down", holds(rep, b.Len()))
	samePages(t, b, rep)
	if s := m.Stats(); s.SetSize != 2 {
		t.Fatalf("the set with NATS down: %+v", s)
	}

	srv, err = natsnode.Start(natsnode.Options{Listen: addr}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	eventually(t, "NATS back", nc.Connected)
	eventually(t, "the other copies the book once NATS is back", holdsWhole(t, other, b.Key(), b.Len()))
}

// FuzzDecodeHold: any bytes decode to a bounded hold or an error, never a
// panic; a hold decoded encodes back to one that decodes the same.
func FuzzDecodeHold(f *testing.F) {
	var a, k identity.ID
	a[0], k[0] = 1, 2
	f.Add(encodeHold(a, []holdBook{{Key: k, Author: a}}))
	f.Add([]byte(`{"v":1,"from":"00","books":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		from, books, err := decodeHold(b)
		if err != nil {
			return
		}
		if len(books) > MaxHoldBooks {
			t.Fatalf("%d books decoded", len(books))
		}
		from2, books2, err := decodeHold(encodeHold(from, books))
		if err != nil || from2 != from || !slices.Equal(books, books2) {
			t.Fatalf("re-encoded hold differs: %v", err)
		}
	})
}
