package journal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOptions...) }

var ctx = context.Background()

func seed(n byte) identity.Seed {
	var s identity.Seed
	for i := range s {
		s[i] = n
	}
	return s
}

func openDB(t testing.TB, st store.Store, n byte) *journal.DB {
	t.Helper()
	db, err := journal.Open(ctx, st, seed(n), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func pages(n, size int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		p := bytes.Repeat([]byte{byte(i)}, size)
		copy(p, fmt.Sprintf("%s-%d", tag, i))
		out[i] = p
	}
	return out
}

func TestAppendRoundTrip(t *testing.T) {
	st := newStore(t)
	db := openDB(t, st, 1)
	b, err := db.Author(ctx, "notes", []byte("meta"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("new book has %d pages, want 1 (genesis)", b.Len())
	}
	g0, _ := b.Get(ctx, 0)
	g, err := journal.DecodeGenesis(g0)
	if err != nil || g.Author != db.ID() || g.Key != b.Key() || g.Name != "notes" || string(g.Meta) != "meta" {
		t.Fatalf("genesis = %+v, %v", g, err)
	}

	want := [][]byte{g0}
	for _, p := range pages(3, 100, "single") {
		i, err := b.Append(ctx, p)
		if err != nil || i != uint64(len(want)) {
			t.Fatalf("Append = %d, %v; want %d", i, err, len(want))
		}
		want = append(want, p)
	}
	batch := pages(250, 1024, "batch")
	if i, err := b.Append(ctx, batch...); err != nil || i != 4 {
		t.Fatalf("batch Append = %d, %v; want 4", i, err)
	}
	want = append(want, batch...)
	head := b.Head()
	if head.Length != uint64(len(want)) {
		t.Fatalf("head length %d, want %d", head.Length, len(want))
	}
	if err := head.Verify(); err != nil {
		t.Fatal(err)
	}

	// Reopen from the same store: same book, same pages, same head.
	db2 := openDB(t, st, 1)
	b2, err := db2.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h2 := b2.Head(); h2.Length != head.Length || h2.Root != head.Root {
		t.Fatalf("reopened head %d/%v, want %d/%v", h2.Length, h2.Root, head.Length, head.Root)
	}
	got, err := b2.GetRange(ctx, 0, b2.Len())
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("page %d differs after reopen", i)
		}
	}
	// And it keeps growing from there, consistently with the old head.
	if i, err := b2.Append(ctx, []byte("after reopen")); err != nil || i != head.Length {
		t.Fatalf("Append after reopen = %d, %v", i, err)
	}
	p, err := b2.TreeProof(ctx, head.Length, b2.Len())
	if err != nil {
		t.Fatal(err)
	}
	up := &journal.Upgrade{Head: b2.Head(), From: head.Length, Proof: p}
	r := openDB(t, newStore(t), 2)
	rb, _ := r.Reader(ctx, b.Key())
	if _, err := rb.AcceptHead(ctx, &journal.Upgrade{Head: head}); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.AcceptHead(ctx, up); err != nil {
		t.Fatalf("upgrade across reopen: %v", err)
	}
}

func TestDerivation(t *testing.T) {
	a, _ := openDB(t, newStore(t), 7).Author(ctx, "x-y-z", nil)
	b, _ := openDB(t, newStore(t), 7).Author(ctx, "x-y-z", nil)
	c, _ := openDB(t, newStore(t), 8).Author(ctx, "x-y-z", nil)
	d, _ := openDB(t, newStore(t), 7).Author(ctx, "x-y-w", nil)
	if a.Key() != b.Key() {
		t.Fatal("same seed and name gave two keys")
	}
	if a.Key() == c.Key() || a.Key() == d.Key() {
		t.Fatal("another seed or name gave the same key")
	}
	if a.Head().Root != b.Head().Root {
		t.Fatal("same seed and name gave different genesis")
	}
}

func TestProfileIsBoundToSeed(t *testing.T) {
	st := newStore(t)
	openDB(t, st, 1)
	if _, err := journal.Open(ctx, st, seed(2), nil); !errors.Is(err, journal.ErrUnauthorized) {
		t.Fatalf("Open with another seed: %v, want ErrUnauthorized", err)
	}
}

// taskBook is the book author writes to reader in "task1", named as the
// room names them ("${author}-${reader}-${task}").
func taskBook(t *testing.T, author, reader *journal.DB) *journal.Book {
	t.Helper()
	book, err := author.Author(ctx, author.ID().String()+"-"+reader.ID().String()+"-task1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return book
}

// replicate copies book src into replica dst: head, then pages [start, end).
func replicate(t *testing.T, src, dst *journal.Book, start, end uint64) {
	t.Helper()
	up, err := src.MakeUpgrade(ctx, dst.Len())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.AcceptHead(ctx, up); err != nil {
		t.Fatalf("AcceptHead: %v", err)
	}
	n := src.Len()
	ps, err := src.GetRange(ctx, start, end)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := src.RangeProof(ctx, start, end, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.PutRange(ctx, start, ps, n, proof); err != nil {
		t.Fatalf("PutRange [%d, %d): %v", start, end, err)
	}
}

func TestReplica(t *testing.T) {
	ana := openDB(t, newStore(t), 1)
	bob := openDB(t, newStore(t), 2)
	name := ana.ID().String() + "-" + bob.ID().String() + "-task1"
	book, err := ana.Author(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	book.Append(ctx, pages(100, 64, "a")...)
	rep, err := bob.Reader(ctx, book.Key())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Writable() || rep.Len() != 0 {
		t.Fatal("new replica is writable or not empty")
	}
	if _, err := rep.Append(ctx, []byte("x")); !errors.Is(err, journal.ErrReadOnly) {
		t.Fatalf("replica Append: %v, want ErrReadOnly", err)
	}

	// Sparse first: pages [90, 100) only.
	replicate(t, book, rep, 90, 101)
	if _, err := rep.Get(ctx, 5); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get of a page not held: %v, want ErrNotFound", err)
	}
	if rep.Name() != "" {
		t.Fatal("name known before genesis arrived")
	}
	// Then the rest, including genesis.
	replicate(t, book, rep, 0, 90)
	info := rep.Info()
	if info.Name != name || info.Author != ana.ID() || len(info.Have) != 1 || info.Have[0].End != 101 {
		t.Fatalf("replica info %+v", info)
	}
	if k, err := bob.Lookup(ctx, name); err != nil || k != book.Key() {
		t.Fatalf("replica name not registered: %v %v", k, err)
	}
	// Grow the book and follow with a consistency proof.
	book.Append(ctx, pages(37, 64, "b")...)
	replicate(t, book, rep, 101, 138)
	for i := uint64(0); i < book.Len(); i++ {
		a, _ := book.Get(ctx, i)
		b, err := rep.Get(ctx, i)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("page %d: %v", i, err)
		}
	}
	// The name is now Ana's book: Bob cannot author under it.
	if _, err := bob.Author(ctx, name, nil); !errors.Is(err, journal.ErrUnauthorized) {
		t.Fatalf("Author of a peer's name: %v, want ErrUnauthorized", err)
	}
	if _, err := bob.Author(ctx, ana.ID().String()+"-x-y", nil); !errors.Is(err, journal.ErrUnauthorized) {
		t.Fatalf("Author of a name naming another author: %v, want ErrUnauthorized", err)
	}

	// The replica survives a reopen.
	bob2 := openDB(t, bob.Store(), 2)
	rep2, err := bob2.Get(ctx, book.Key())
	if err != nil || rep2.Len() != book.Len() || rep2.Name() != name {
		t.Fatalf("reopened replica: %v", err)
	}
}

// snapshot is every table of a store, to prove a refused input stored nothing.
func snapshot(t testing.TB, st store.Store) string { return storetest.Snapshot(t, st) }

func TestAdversarial(t *testing.T) {
	ana := openDB(t, newStore(t), 1)
	book, _ := ana.Author(ctx, "book", nil)
	book.Append(ctx, pages(20, 32, "p")...)
	other, _ := ana.Author(ctx, "other", nil)
	other.Append(ctx, pages(20, 32, "q")...)
	mallory := openDB(t, newStore(t), 9)
	forged, _ := mallory.Author(ctx, "book", nil) // same name, another key
	forged.Append(ctx, pages(30, 32, "m")...)

	n := book.Len()
	good, _ := book.GetRange(ctx, 0, n)
	goodProof, _ := book.RangeProof(ctx, 10, 15, n)
	head10 := headAt(t, book, 10)
	// grown is the same history as book, and longer: an honest later head.
	grownDB := openDB(t, newStore(t), 1)
	grown, _ := grownDB.Author(ctx, "book", nil)
	grown.Append(ctx, good[1:]...)
	grown.Append(ctx, pages(5, 32, "later")...)

	cases := []struct {
		name string
		run  func(rep *journal.Book) error
		want error
	}{
		{"tampered page", func(rep *journal.Book) error {
			ps := clonePages(good[10:15])
			ps[2][0] ^= 1
			return rep.PutRange(ctx, 10, ps, n, goodProof)
		}, journal.ErrBadProof},
		{"page at another index", func(rep *journal.Book) error {
			return rep.PutRange(ctx, 11, good[10:15], n, goodProof)
		}, journal.ErrBadProof},
		{"pages under another book's proof", func(rep *journal.Book) error {
			ps, _ := other.GetRange(ctx, 10, 15)
			p, _ := other.RangeProof(ctx, 10, 15, other.Len())
			return rep.PutRange(ctx, 10, ps, n, p)
		}, journal.ErrBadProof},
		{"truncated proof", func(rep *journal.Book) error {
			p := *goodProof
			p.Tree = p.Tree[:len(p.Tree)-1]
			return rep.PutRange(ctx, 10, good[10:15], n, &p)
		}, journal.ErrBadProof},
		{"garbled proof", func(rep *journal.Book) error {
			p := journal.RangeProof{Left: append([]journal.Hash(nil), goodProof.Left...), Tree: goodProof.Tree}
			p.Left[0][3] ^= 0x80
			return rep.PutRange(ctx, 10, good[10:15], n, &p)
		}, journal.ErrBadProof},
		{"missing proof", func(rep *journal.Book) error {
			return rep.PutRange(ctx, 10, good[10:15], n, &journal.RangeProof{})
		}, journal.ErrBadProof},
		{"proof against another length", func(rep *journal.Book) error {
			return rep.PutRange(ctx, 10, good[10:15], n-1, goodProof)
		}, journal.ErrStaleHead},
		{"head signed by another key", func(rep *journal.Book) error {
			h := forged.Head()
			h.Key = book.Key()
			_, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: h, From: n})
			return err
		}, journal.ErrBadSignature},
		{"head of another book", func(rep *journal.Book) error {
			_, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: forged.Head(), From: n})
			return err
		}, journal.ErrBadSignature},
		{"old head replayed", func(rep *journal.Book) error {
			_, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: head10})
			return err
		}, journal.ErrStaleHead},
		{"longer head without proof", func(rep *journal.Book) error {
			_, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: grown.Head(), From: 10})
			return err
		}, journal.ErrBadProof},
		{"longer head with proof from elsewhere", func(rep *journal.Book) error {
			up, _ := grown.MakeUpgrade(ctx, 12)
			up.From = 10
			_, err := rep.AcceptHead(ctx, up)
			return err
		}, journal.ErrBadProof},
		{"head with altered length", func(rep *journal.Book) error {
			h := book.Head()
			h.Length++
			_, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: h, From: n})
			return err
		}, journal.ErrBadSignature},
		{"reader append", func(rep *journal.Book) error {
			_, err := rep.Append(ctx, []byte("x"))
			return err
		}, journal.ErrReadOnly},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bob := openDB(t, newStore(t), 2)
			rep, _ := bob.Reader(ctx, book.Key())
			replicate(t, book, rep, 0, 10)
			before := snapshot(t, bob.Store())
			err := c.run(rep)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if after := snapshot(t, bob.Store()); after != before {
				t.Fatal("refused input changed the store")
			}
			if rep.Fork() != nil {
				t.Fatal("refused input marked the book forked")
			}
		})
	}
}

func headAt(t testing.TB, b *journal.Book, n uint64) journal.Head {
	// Rebuild the head the author signed at length n from a replay of the book.
	db := openDB(t, newStore(t), 1)
	c, _ := db.Author(ctx, b.Name(), nil)
	ps, _ := b.GetRange(ctx, 1, n)
	c.Append(ctx, ps...)
	if c.Head().Root != mustTreeHash(t, b, n) {
		t.Fatal("replayed head differs")
	}
	return c.Head()
}

func mustTreeHash(t testing.TB, b *journal.Book, n uint64) journal.Hash {
	h, err := b.TreeHash(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func clonePages(ps [][]byte) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = bytes.Clone(p)
	}
	return out
}

func TestFork(t *testing.T) {
	// The author's seed signs two different histories of the same book.
	ana1 := openDB(t, newStore(t), 1)
	ana2 := openDB(t, newStore(t), 1)
	b1, _ := ana1.Author(ctx, "book", nil)
	b2, _ := ana2.Author(ctx, "book", nil)
	b1.Append(ctx, pages(10, 16, "one")...)
	b2.Append(ctx, pages(10, 16, "two")...)

	t.Run("same length", func(t *testing.T) {
		bob := openDB(t, newStore(t), 2)
		rep, _ := bob.Reader(ctx, b1.Key())
		replicate(t, b1, rep, 0, 11)
		_, err := rep.AcceptHead(ctx, &journal.Upgrade{Head: b2.Head(), From: 11})
		checkFork(t, bob, rep, err)
	})
	t.Run("longer", func(t *testing.T) {
		c2 := openDB(t, newStore(t), 1)
		b3, _ := c2.Author(ctx, "book", nil)
		b3.Append(ctx, pages(20, 16, "three")...)
		bob := openDB(t, newStore(t), 2)
		rep, _ := bob.Reader(ctx, b1.Key())
		replicate(t, b1, rep, 0, 11)
		up, err := b3.MakeUpgrade(ctx, 11)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rep.AcceptHead(ctx, up)
		checkFork(t, bob, rep, err)
	})
}

func checkFork(t *testing.T, db *journal.DB, rep *journal.Book, err error) {
	t.Helper()
	if !errors.Is(err, journal.ErrForked) {
		t.Fatalf("conflicting head: %v, want ErrForked", err)
	}
	f := rep.Fork()
	if f == nil {
		t.Fatal("no fork evidence kept")
	}
	if err := f.Verify(); err != nil {
		t.Fatalf("fork evidence does not verify: %v", err)
	}
	// Evidence survives a reopen, and the book refuses further heads.
	db2 := openDB(t, db.Store(), 2)
	rep2, _ := db2.Get(ctx, rep.Key())
	if rep2.Fork() == nil || !rep2.Info().Forked {
		t.Fatal("fork evidence lost on reopen")
	}
	if _, err := rep2.AcceptHead(ctx, &journal.Upgrade{Head: f.New}); !errors.Is(err, journal.ErrForked) {
		t.Fatalf("head after fork: %v, want ErrForked", err)
	}
}

func TestHookAndAudit(t *testing.T) {
	db := openDB(t, newStore(t), 3)
	var events []journal.Event
	cancel := db.Subscribe(func(e journal.Event) { events = append(events, e) })
	b, _ := db.Author(ctx, "hooked", nil)
	b.Append(ctx, []byte("a"), []byte("b"))
	cancel()
	b.Append(ctx, []byte("unseen"))
	var types []string
	for _, e := range events {
		if e.Book == b.Key() {
			types = append(types, fmt.Sprintf("%s@%d+%d", e.Type, e.Index, len(e.Pages)))
		}
	}
	if fmt.Sprint(types) != "[create@0+1 append@1+2]" {
		t.Fatalf("hook saw %v", types)
	}
	audit := db.Audit()
	entries, _ := audit.GetRange(ctx, 1, audit.Len())
	for i, e := range entries {
		if bytes.Contains(e, []byte(`"op"`)) {
			t.Fatalf("audit entry %d is plain: %q", i+1, e)
		}
		var err error
		if entries[i], err = db.OpenAudit(uint64(i+1), e); err != nil {
			t.Fatalf("audit entry %d: %v", i+1, err)
		}
	}
	if len(entries) != 2 || !bytes.Contains(entries[0], []byte(`"op":"open"`)) || !bytes.Contains(entries[1], []byte(`"op":"author"`)) {
		t.Fatalf("audit = %q", entries)
	}
	infos, err := db.Books(ctx)
	if err != nil || len(infos) != 2 {
		t.Fatalf("Books = %d, %v; want audit and hooked", len(infos), err)
	}
}

// failingStore fails every write after the first `ok` ones, like a tab
// killed mid-append.
type failingStore struct {
	store.Store
	ok int
}

func (f *failingStore) Write(ctx context.Context, b *store.Batch) error {
	if f.ok <= 0 {
		return errors.New("disk gone")
	}
	f.ok--
	return f.Store.Write(ctx, b)
}

func TestFailedWriteLeavesPrefix(t *testing.T) {
	mem := newStore(t)
	fs := &failingStore{Store: mem, ok: 100}
	db := openDB(t, fs, 4)
	b, _ := db.Author(ctx, "crash", nil)
	b.Append(ctx, pages(5, 10, "ok")...)
	head := b.Head()
	fs.ok = 0
	if _, err := b.Append(ctx, pages(5, 10, "lost")...); err == nil {
		t.Fatal("append on a failing store succeeded")
	}
	if b.Head().Root != head.Root {
		t.Fatal("failed append moved the head")
	}
	fs.ok = 100
	if i, err := b.Append(ctx, []byte("next")); err != nil || i != head.Length {
		t.Fatalf("append after failure = %d, %v; want %d", i, err, head.Length)
	}
	db2 := openDB(t, mem, 4)
	b2, err := db2.Author(ctx, "crash", nil)
	if err != nil || b2.Len() != head.Length+1 {
		t.Fatalf("reopen after failure: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	db := openDB(t, newStore(t), 5)
	for _, name := range []string{"", "a\nb", string(make([]byte, journal.MaxNameSize+1)), "\xff"} {
		if _, err := db.Author(ctx, name, nil); !errors.Is(err, journal.ErrBadName) {
			t.Errorf("Author(%q): %v, want ErrBadName", name, err)
		}
	}
	b, _ := db.Author(ctx, "ok", nil)
	if _, err := b.Append(ctx, make([]byte, journal.MaxPageSize+1)); !errors.Is(err, journal.ErrTooLarge) {
		t.Errorf("huge page: %v, want ErrTooLarge", err)
	}
	if _, err := b.Get(ctx, 99); !errors.Is(err, journal.ErrNotFound) {
		t.Errorf("Get past end: %v, want ErrNotFound", err)
	}
	if _, err := db.Get(ctx, identity.ID{1}); !errors.Is(err, journal.ErrNotFound) {
		t.Errorf("Get unknown book: %v, want ErrNotFound", err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	db := openDB(t, newStore(t), 6)
	b, _ := db.Author(ctx, "busy", nil)
	const writers, each = 8, 50
	got := make(chan [2]uint64, writers*each)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				p := fmt.Appendf(nil, "w%d-%d", w, i)
				idx, err := b.Append(ctx, p, p)
				if err != nil {
					errs <- err
					return
				}
				got <- [2]uint64{idx, uint64(w*each + i)}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(got)
	seen := map[uint64]bool{}
	for g := range got {
		p, err := b.Get(ctx, g[0])
		want := fmt.Sprintf("w%d-%d", g[1]/each, g[1]%each)
		if err != nil || string(p) != want || seen[g[0]] {
			t.Fatalf("append returned %d: page %q, %v; want %q once", g[0], p, err, want)
		}
		p2, _ := b.Get(ctx, g[0]+1)
		if string(p2) != want {
			t.Fatalf("a caller's two pages were split: %q then %q", p, p2)
		}
		seen[g[0]] = true
	}
	if b.Len() != 1+2*writers*each {
		t.Fatalf("length %d, want %d", b.Len(), 1+2*writers*each)
	}
}

func TestReaderFrom(t *testing.T) {
	ana := openDB(t, newStore(t), 1)
	book, _ := ana.Author(ctx, "b", nil)
	bob := openDB(t, newStore(t), 2)
	carol := openDB(t, newStore(t), 3)

	// Expecting Carol as the author of Ana's book: the genesis is refused.
	rep, err := bob.ReaderFrom(ctx, book.Key(), carol.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info := rep.Info(); info.Author != carol.ID() || info.Verified {
		t.Fatalf("expected author not recorded: %+v", info)
	}
	up, _ := book.MakeUpgrade(ctx, 0)
	rep.AcceptHead(ctx, up)
	p, _ := book.RangeProof(ctx, 0, 1, 1)
	g, _ := book.Get(ctx, 0)
	if err := rep.PutRange(ctx, 0, [][]byte{g}, 1, p); !errors.Is(err, journal.ErrBadGenesis) {
		t.Fatalf("genesis by another author: %v, want ErrBadGenesis", err)
	}
	if _, err := bob.ReaderFrom(ctx, book.Key(), ana.ID()); !errors.Is(err, journal.ErrUnauthorized) {
		t.Fatalf("rebinding the author: %v, want ErrUnauthorized", err)
	}

	// Expecting Ana: accepted and verified.
	bob2 := openDB(t, newStore(t), 2)
	rep2, _ := bob2.ReaderFrom(ctx, book.Key(), ana.ID())
	rep2.AcceptHead(ctx, up)
	if err := rep2.PutRange(ctx, 0, [][]byte{g}, 1, p); err != nil {
		t.Fatal(err)
	}
	if info := rep2.Info(); info.Author != ana.ID() || !info.Verified || info.Name != "b" {
		t.Fatalf("verified replica: %+v", info)
	}
}

func TestSmallOrderBookKeyRefused(t *testing.T) {
	var weak identity.ID
	weak[0] = 1
	db := openDB(t, newStore(t), 1)
	if _, err := db.Reader(ctx, weak); !errors.Is(err, identity.ErrBadID) {
		t.Fatalf("Reader of a small-order key: %v, want ErrBadID", err)
	}
}

func TestGenesisMustBeCanonical(t *testing.T) {
	db := openDB(t, newStore(t), 1)
	b, _ := db.Author(ctx, "g", nil)
	p, _ := b.Get(ctx, 0)
	if _, err := journal.DecodeGenesis(p); err != nil {
		t.Fatal(err)
	}
	// The version 1 written in two bytes instead of one: same fields, other bytes.
	long := append([]byte{p[0], 0x18, 0x01}, p[2:]...)
	if _, err := journal.DecodeGenesis(long); !errors.Is(err, journal.ErrBadGenesis) {
		t.Fatalf("non-canonical genesis: %v, want ErrBadGenesis", err)
	}
}

func TestExportImport(t *testing.T) {
	ana, bob := openDB(t, newStore(t), 1), openDB(t, newStore(t), 2)
	own, _ := ana.Author(ctx, "notes", nil)
	own.Append(ctx, pages(30, 50, "n")...)
	theirs, _ := bob.Author(ctx, "bob's", nil)
	theirs.Append(ctx, pages(7, 50, "b")...)
	rep, _ := ana.ReaderFrom(ctx, theirs.Key(), bob.ID())
	replicate(t, theirs, rep, 0, theirs.Len())

	ex, err := ana.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}

	// Ana resets (a fresh store) and imports: her books are hers again, and
	// writable; Bob's is a verified replica.
	fresh := openDB(t, newStore(t), 1)
	var back journal.Export
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	res, err := fresh.Import(ctx, &back)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("imported %d books, want 2 (notes, bob's; not the audit book)", len(res))
	}
	mine, err := fresh.Author(ctx, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	sameBooks(t, own, mine)
	if _, err := mine.Append(ctx, []byte("after import")); err != nil {
		t.Fatalf("restored book is not writable: %v", err)
	}
	rep2, _ := fresh.Get(ctx, theirs.Key())
	sameBooks(t, theirs, rep2)
	if info := rep2.Info(); !info.Verified || info.Writable {
		t.Fatalf("imported replica: %+v", info)
	}
	// Another profile imports Ana's export: her books, her audit book
	// included, become replicas, whatever their names.
	carol := openDB(t, newStore(t), 3)
	if _, err := carol.Import(ctx, &back); err != nil {
		t.Fatalf("import into another profile: %v", err)
	}
	if infos, _ := carol.Books(ctx); len(infos) != 4 {
		t.Fatalf("Carol has %d books, want her audit and Ana's three", len(infos))
	}
	// Importing again changes nothing and fails nothing.
	if _, err := fresh.Import(ctx, &back); err != nil {
		t.Fatalf("second import: %v", err)
	}

	// A tampered export is refused whole.
	for name, tamper := range map[string]func(*journal.Export){
		"page":    func(e *journal.Export) { notes(e).Pages[3][0] ^= 1 },
		"head":    func(e *journal.Export) { h := notes(e).Head; h[len(h)-1] ^= 1 },
		"dropped": func(e *journal.Export) { notes(e).Pages = notes(e).Pages[:5] },
		"format":  func(e *journal.Export) { e.Format = "other" },
	} {
		var bad journal.Export
		json.Unmarshal(js, &bad)
		tamper(&bad)
		st := newStore(t)
		db := openDB(t, st, 3)
		before := snapshot(t, st)
		if _, err := db.Import(ctx, &bad); err == nil {
			t.Fatalf("tampered export (%s) imported", name)
		}
		if snapshot(t, st) != before {
			t.Fatalf("tampered export (%s) changed the store", name)
		}
	}
}

func notes(e *journal.Export) *journal.ExportBook {
	for i := range e.Books {
		if e.Books[i].Name == "notes" {
			return &e.Books[i]
		}
	}
	panic("no notes book in the export")
}

func sameBooks(t *testing.T, a, b *journal.Book) {
	t.Helper()
	if a.Head().Root != b.Head().Root {
		t.Fatal("heads differ")
	}
	pa, _ := a.GetRange(ctx, 0, a.Len())
	pb, err := b.GetRange(ctx, 0, b.Len())
	if err != nil || len(pa) != len(pb) {
		t.Fatalf("pages: %v", err)
	}
	for i := range pa {
		if !bytes.Equal(pa[i], pb[i]) {
			t.Fatalf("page %d differs", i)
		}
	}
}

// pushedBook opens Ana's and Bob's DBs, Ana's book "pushed" and Bob's
// replica of it, and push(from): the upgrade from length from, the pages
// [from, head) and their proof, as an author pushes them with its head.
func pushedBook(t *testing.T) (ana, bob *journal.DB, book, rep *journal.Book, push func(from uint64) (*journal.Upgrade, [][]byte, *journal.RangeProof)) {
	t.Helper()
	ana, bob = openDB(t, store.NewMemory(), 1), openDB(t, store.NewMemory(), 2)
	book, err := ana.Author(ctx, "pushed", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = bob.Reader(ctx, book.Key())
	if err != nil {
		t.Fatal(err)
	}
	push = func(from uint64) (*journal.Upgrade, [][]byte, *journal.RangeProof) {
		t.Helper()
		up, err := book.MakeUpgrade(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := book.GetRange(ctx, from, up.Head.Length)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := book.RangeProof(ctx, from, up.Head.Length, up.Head.Length)
		if err != nil {
			t.Fatal(err)
		}
		return up, ps, proof
	}
	return ana, bob, book, rep, push
}

// TestAcceptHeadPages: a head with its pages in one write; bad pages leave
// the replica as it was, head included.
func TestAcceptHeadPages(t *testing.T) {
	_, _, book, rep, push := pushedBook(t)
	up, ps, proof := push(0)
	if changed, err := rep.AcceptHeadPages(ctx, up, 0, ps, proof); err != nil || !changed {
		t.Fatalf("first push: %v, %v", changed, err)
	}
	if _, err := book.Append(ctx, pages(3, 64, "p")...); err != nil {
		t.Fatal(err)
	}
	up, ps, proof = push(1)
	bad := append([][]byte{[]byte("forged")}, ps[1:]...)
	if _, err := rep.AcceptHeadPages(ctx, up, 1, bad, proof); !errors.Is(err, journal.ErrBadProof) {
		t.Fatalf("forged page: %v", err)
	}
	if rep.Len() != 1 {
		t.Fatalf("a failed push moved the head to %d", rep.Len())
	}
	if _, err := rep.AcceptHeadPages(ctx, up, 1, ps, proof); err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < book.Len(); i++ {
		a, _ := book.Get(ctx, i)
		b, err := rep.Get(ctx, i)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("page %d: %q %v", i, b, err)
		}
	}
}

func TestAppendMany(t *testing.T) {
	db := openDB(t, store.NewMemory(), 1)
	a, _ := db.Author(ctx, "a", nil)
	b, _ := db.Author(ctx, "b", nil)
	var seen []string
	cancel := db.Subscribe(func(ev journal.Event) {
		if ev.Type == journal.EventAppend {
			seen = append(seen, fmt.Sprint(ev.Name, ev.Index, len(ev.Pages)))
		}
	})
	defer cancel()
	firsts, err := db.AppendMany(ctx, []journal.BookAppend{{Book: a, Pages: pages(2, 10, "a")}, {Book: b, Pages: pages(3, 10, "b")}})
	if err != nil || len(firsts) != 2 || firsts[0] != 1 || firsts[1] != 1 {
		t.Fatalf("AppendMany: %v, %v", firsts, err)
	}
	if a.Len() != 3 || b.Len() != 4 {
		t.Fatalf("lengths %d, %d", a.Len(), b.Len())
	}
	if fmt.Sprint(seen) != "[a1 2 b1 3]" {
		t.Fatalf("events %v", seen)
	}
	// Verifiable like any append: a reader takes both.
	other := openDB(t, store.NewMemory(), 2)
	rep, _ := other.Reader(ctx, b.Key())
	up, _ := b.MakeUpgrade(ctx, 0)
	ps, _ := b.GetRange(ctx, 0, b.Len())
	proof, _ := b.RangeProof(ctx, 0, b.Len(), b.Len())
	if _, err := rep.AcceptHeadPages(ctx, up, 0, ps, proof); err != nil {
		t.Fatal(err)
	}
	// Bad input: nothing written.
	r, _ := other.Reader(ctx, a.Key())
	for _, bad := range [][]journal.BookAppend{
		{{Book: a, Pages: pages(1, 1, "x")}, {Book: a, Pages: pages(1, 1, "y")}},
		{{Book: a, Pages: nil}},
		{{Book: r, Pages: pages(1, 1, "z")}},
	} {
		if _, err := db.AppendMany(ctx, bad); err == nil {
			t.Errorf("AppendMany accepted %d appends", len(bad))
		}
	}
	if a.Len() != 3 {
		t.Fatalf("a failed AppendMany changed a book: %d", a.Len())
	}
}

// TestReplicaProves: a replica that holds pages [0, n) proves ranges,
// upgrades and records in the tree of size n exactly as the author does
// (replication's holders serve with them); one that lacks a page does not.
func TestReplicaProves(t *testing.T) {
	ana := openDB(t, newStore(t), 1)
	bob := openDB(t, newStore(t), 2)
	book := taskBook(t, ana, bob)
	book.Append(ctx, pages(100, 64, "a")...)
	rep, _ := bob.Reader(ctx, book.Key())
	replicate(t, book, rep, 50, 101)
	if _, err := rep.RangeProof(ctx, 60, 70, 101); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("a replica lacking pages proved a range: %v", err)
	}
	replicate(t, book, rep, 0, 50)
	n := book.Len()
	for _, c := range [][3]uint64{{0, 1, n}, {13, 40, n}, {60, n, n}, {5, 9, 57}} {
		want, err := book.RangeProof(ctx, c[0], c[1], c[2])
		if err != nil {
			t.Fatal(err)
		}
		got, err := rep.RangeProof(ctx, c[0], c[1], c[2])
		if err != nil {
			t.Fatalf("replica range proof %v: %v", c, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("range proof %v differs from the author's", c)
		}
	}
	for _, from := range []uint64{0, 1, 37, n} {
		want, _ := book.MakeUpgrade(ctx, from)
		got, err := rep.MakeUpgrade(ctx, from)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("replica upgrade from %d: %v, differs: %v", from, err, fmt.Sprint(got) != fmt.Sprint(want))
		}
	}
	if _, err := rep.Proof(ctx, 42, n); err != nil {
		t.Fatalf("replica record proof: %v", err)
	}
}
