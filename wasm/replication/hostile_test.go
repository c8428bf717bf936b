package replication_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// fake is a scripted peer speaking the wire format by hand.
type fake struct {
	t testing.TB
	p port.Port
}

func (f *fake) send(typ replication.Type, body any) {
	f.t.Helper()
	msg, err := replication.Encode(typ, body)
	if err != nil {
		f.t.Fatal(err)
	}
	f.raw(msg)
}

func (f *fake) raw(msg []byte) {
	f.t.Helper()
	if err := f.p.Send(ctx, msg); err != nil {
		f.t.Fatalf("fake send: %v", err)
	}
}

// expect reads messages until one of type typ arrives.
func (f *fake) expect(typ replication.Type) any {
	f.t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		msg, err := f.p.Recv(c)
		if err != nil {
			f.t.Fatalf("fake waiting for %s: %v", typ, err)
		}
		m, err := replication.Decode(msg)
		if err != nil {
			f.t.Fatal(err)
		}
		switch typ {
		case replication.TypeHello:
			if _, ok := m.(*replication.Hello); ok {
				return m
			}
		case replication.TypeWant:
			if _, ok := m.(*replication.Want); ok {
				return m
			}
		case replication.TypeHave:
			if _, ok := m.(*replication.Have); ok {
				return m
			}
		case replication.TypeForked:
			if _, ok := m.(*replication.Forked); ok {
				return m
			}
		}
	}
}

// victim runs db's session against a fake peer with the given id.
func victim(t testing.TB, db *journal.DB, peer identity.ID, cfg replication.Config) (*fake, *result) {
	a, b := port.Pipe(db.ID(), peer, 64)
	s := replication.NewSession(db, a, cfg)
	r := &result{done: make(chan struct{})}
	c, cancel := context.WithCancel(ctx)
	go func() { r.err = s.Run(c); close(r.done) }()
	t.Cleanup(func() { cancel(); b.Close(); <-r.done })
	return &fake{t: t, p: b}, r
}

// result is how a session ended.
type result struct {
	done chan struct{} // closed when Run returned
	err  error
}

func wait(t testing.TB, r *result) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(30 * time.Second):
		t.Fatal("session did not end")
		return nil
	}
}

func have(t testing.TB, b *journal.Book, from uint64, push bool) *replication.Have {
	t.Helper()
	up, err := b.MakeUpgrade(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	h := &replication.Have{Upgrade: *up}
	if push {
		h.Push = data(t, b, from, up.Head.Length, up.Head.Length)
	}
	return h
}

func data(t testing.TB, b *journal.Book, start, end, n uint64) *replication.Data {
	t.Helper()
	pages, err := b.GetRange(ctx, start, end)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := b.RangeProof(ctx, start, end, n)
	if err != nil {
		t.Fatal(err)
	}
	key := b.Key()
	cp := make([][]byte, len(pages))
	for i := range pages {
		cp[i] = bytes.Clone(pages[i])
	}
	return &replication.Data{Key: key[:], Start: start, Length: n, Pages: cp, Proof: *proof}
}

func TestHostileAuthor(t *testing.T) {
	ana := openDB(t, 1)
	mallory := openDB(t, 9)

	type setup struct {
		book, other *journal.Book
	}
	cases := []struct {
		name   string
		sparse bool
		attack func(f *fake, s setup)
		want   error
	}{
		{"forged page", false, func(f *fake, s setup) {
			d := data(t, s.book, 0, s.book.Len(), s.book.Len())
			d.Pages[5][0] ^= 1
			f.send(replication.TypeData, d)
		}, journal.ErrBadProof},
		{"garbled proof", false, func(f *fake, s setup) {
			d := data(t, s.book, 3, 9, s.book.Len())
			d.Proof.Tree[0][0] ^= 1
			f.send(replication.TypeData, d)
		}, journal.ErrBadProof},
		{"pages of another book", false, func(f *fake, s setup) {
			d := data(t, s.other, 0, 5, 5)
			d.Key = s.book.Key().Bytes()
			d.Length = s.book.Len()
			f.send(replication.TypeData, d)
		}, journal.ErrBadProof},
		{"bad head signature", false, func(f *fake, s setup) {
			s.book.Append(ctx, []byte("more"))
			h := have(t, s.book, s.book.Len()-1, false)
			h.Upgrade.Head.Sig[10] ^= 1
			f.send(replication.TypeHave, h)
		}, journal.ErrBadSignature},
		{"announced book by another author", false, func(f *fake, s setup) {
			f.send(replication.TypeHave, have(t, s.other, 0, true))
		}, journal.ErrBadGenesis},
		{"unsolicited data", true, func(f *fake, s setup) {
			f.send(replication.TypeData, data(t, s.book, 0, 2, s.book.Len()))
		}, replication.ErrProtocol},
		{"garbage", false, func(f *fake, s setup) {
			f.raw([]byte{0xff, 0x00, 0x13, 0x37})
		}, replication.ErrProtocol},
		{"oversized", false, func(f *fake, s setup) {
			f.raw(make([]byte, replication.MaxMessageSize+1))
		}, replication.ErrProtocol},
		{"unknown version", false, func(f *fake, s setup) {
			msg, _ := cbor.Marshal([]any{2, 1, []byte{0x82, 0xf5, 0x80}})
			f.raw(msg)
		}, replication.ErrProtocol},
		{"unknown type", false, func(f *fake, s setup) {
			msg, _ := cbor.Marshal([]any{1, 99, []byte{0x80}})
			f.raw(msg)
		}, replication.ErrProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bob := openDB(t, 2)
			book, rep := bookFor(t, ana, bob, "h-"+c.name)
			book.Append(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e"), []byte("f"), []byte("g"), []byte("h"), []byte("i"), []byte("j")}...)
			other, _ := mallory.Author(ctx, mallory.ID().String()+"-"+bob.ID().String()+"-h-"+c.name, nil)
			other.Append(ctx, []byte("1"), []byte("2"), []byte("3"), []byte("4"), []byte("5"))

			f, done := victim(t, bob, ana.ID(), replication.Config{Sparse: func(*journal.Book) bool { return c.sparse }})
			f.expect(replication.TypeHello)
			// A valid head first, so the replica has something to defend.
			f.send(replication.TypeHave, have(t, book, 0, false))
			if !c.sparse {
				f.expect(replication.TypeWant)
			} else {
				waitFor(t, bob, "head", func() bool { return rep.Len() == book.Len() })
			}
			before := snapshot(t, bob.Store())
			c.attack(f, setup{book, other})
			err := wait(t, done)
			if !errors.Is(err, c.want) {
				t.Fatalf("session ended with %v, want %v", err, c.want)
			}
			if after := snapshot(t, bob.Store()); after != before {
				t.Fatal("the attack changed the store")
			}
		})
	}
}

// An author that signs another history of a book the reader holds (a
// fork: the same seed writing from two places) does not end the session:
// the reader keeps the evidence, tells the author with it (forked), follows
// that book no further, and goes on with the author's other books.
func TestForkTold(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	ana2, err := journal.Open(ctx, newStore(t), ana.Identity().Seed(), nil)
	if err != nil {
		t.Fatal(err)
	}
	book, rep := bookFor(t, ana, bob, "fork")
	book.Append(ctx, []byte("a"), []byte("b"), []byte("c"))
	other, otherRep := bookFor(t, ana, bob, "other")
	other.Append(ctx, []byte("1"))
	forked, _ := ana2.Author(ctx, book.Name(), nil)
	forked.Append(ctx, []byte("x"), []byte("y"), []byte("z"))

	f, done := victim(t, bob, ana.ID(), replication.Config{})
	f.expect(replication.TypeHello)
	f.send(replication.TypeHave, have(t, book, 0, true))
	waitFor(t, bob, "the first head", func() bool { return rep.Len() == book.Len() })
	f.send(replication.TypeHave, have(t, forked, book.Len(), false))
	m := f.expect(replication.TypeForked).(*replication.Forked)
	if m.Fork.Verify() != nil || m.Fork.Old.Key != book.Key() || rep.Fork() == nil {
		t.Fatalf("forked: %+v; evidence kept: %v", m.Fork, rep.Fork() != nil)
	}
	// The session goes on: another book of Ana's still replicates, and a
	// have of the forked book is ignored.
	f.send(replication.TypeHave, have(t, forked, book.Len(), false))
	f.send(replication.TypeHave, have(t, other, 0, true))
	waitFor(t, bob, "the other book", func() bool { return otherRep.Len() == other.Len() })
	select {
	case <-done.done:
		t.Fatalf("the session ended: %v", done.err)
	default:
	}
}

// Two sessions: the author whose book a reader proves forked learns it
// (Config.OnFork, with verified evidence), offers the book no more, and
// its other books keep flowing in the same session. The device of the same
// seed wrote from an older state (an old backup, a copy): whether its book
// is shorter than the reader's copy, as long or longer, the reader sees
// its head (alone, when not longer) and proves the fork.
func TestForkLearned(t *testing.T) {
	for _, c := range []struct {
		name  string
		pages int // the device's pages after the genesis; the reader holds 2
	}{{"shorter", 1}, {"as long", 2}, {"longer", 3}} {
		t.Run(c.name, func(t *testing.T) { forkLearned(t, c.pages) })
	}
}

func forkLearned(t *testing.T, pages int) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, rep := bookFor(t, ana, bob, "fork")
	book.Append(ctx, []byte("a"), []byte("b"))
	l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	waitFor(t, bob, "the book", holds(rep, book.Len()))
	l.stop()

	// Ana's seed writes the book again elsewhere (another device).
	ana2, err := journal.Open(ctx, newStore(t), ana.Identity().Seed(), nil)
	if err != nil {
		t.Fatal(err)
	}
	forked, _ := ana2.Author(ctx, book.Name(), nil)
	for i := range pages {
		forked.Append(ctx, []byte{'x' + byte(i)})
	}
	other, otherRep := bookFor(t, ana2, bob, "other")
	other.Append(ctx, []byte("1"))
	learned := make(chan *journal.Fork, 1)
	cfgA := replication.Config{OnFork: func(key identity.ID, f *journal.Fork) {
		if key == book.Key() {
			learned <- f
		}
	}}
	connect(t, ana2, bob, cfgA, replication.Config{}, nil)
	select {
	case f := <-learned:
		if err := f.Verify(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the author never learned of the fork")
	}
	other.Append(ctx, []byte("2")) // after the fork was told: the same session carries it
	waitFor(t, bob, "the other book", holds(otherRep, other.Len()))
	if rep.Len() != book.Len() || rep.Fork() == nil {
		t.Fatalf("Bob's copy of the forked book: length %d (was %d), evidence %v", rep.Len(), book.Len(), rep.Fork() != nil)
	}
}

func TestHostileReader(t *testing.T) {
	cases := []struct {
		name string
		want func(key []byte, n uint64) any
	}{
		{"beyond head", func(key []byte, n uint64) any {
			return &replication.Want{Key: key, Ranges: []journal.Range{{Start: 0, End: n + 1}}}
		}},
		{"too many ranges", func(key []byte, n uint64) any {
			w := &replication.Want{Key: key}
			for i := range replication.MaxWantRanges + 1 {
				w.Ranges = append(w.Ranges, journal.Range{Start: 0, End: uint64(i%int(n)) + 1})
			}
			return w
		}},
		{"empty range", func(key []byte, n uint64) any {
			return &replication.Want{Key: key, Ranges: []journal.Range{{Start: 3, End: 3}}}
		}},
		{"book not shared", func(key []byte, n uint64) any {
			k := identity.New(identity.Seed{42}).ID()
			return &replication.Want{Key: k[:], Ranges: []journal.Range{{Start: 0, End: 1}}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ana, bob := openDB(t, 1), openDB(t, 2)
			book, _ := bookFor(t, bob, ana, "t")
			book.Append(ctx, []byte("x"), []byte("y"))
			f, done := victim(t, bob, ana.ID(), replication.Config{})
			f.expect(replication.TypeHello)
			f.send(replication.TypeHello, &replication.Hello{Full: true})
			h := f.expect(replication.TypeHave).(*replication.Have)
			n := h.Upgrade.Head.Length
			f.send(replication.TypeWant, c.want(book.Key().Bytes(), n))
			if err := wait(t, done); !errors.Is(err, replication.ErrProtocol) {
				t.Fatalf("session ended with %v, want ErrProtocol", err)
			}
		})
	}
}
