package journal_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// The tests of this file open two DBs with the same seed on one store, as
// two tabs, two browsers or a restored backup of one profile would: the
// store refuses the second writer (journal.ErrStaleWriter), and what it
// holds stays one consistent history.

// twoWriters opens a DB on a new store, authors the books named there
// (each with a few pages), then opens a second DB on the same store with
// the same seed and loads the same books: both start from the same heads.
func twoWriters(t *testing.T, names ...string) (st store.Store, a, b *journal.DB, as, bs []*journal.Book) {
	t.Helper()
	st = newStore(t)
	a = openDB(t, st, 7)
	for _, name := range names {
		bk, err := a.Author(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bk.Append(ctx, pages(3, 50, name)...); err != nil {
			t.Fatal(err)
		}
		as = append(as, bk)
	}
	b = openDB(t, st, 7)
	for i, name := range names {
		bk, err := b.Author(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sameHead(bk.Head(), as[i].Head()) {
			t.Fatalf("book %q: second DB loaded head %d, first has %d", name, bk.Len(), as[i].Len())
		}
		bs = append(bs, bk)
	}
	return st, a, b, as, bs
}

func sameHead(a, b journal.Head) bool {
	return a.Key == b.Key && a.Length == b.Length && a.Root == b.Root && bytes.Equal(a.Sig, b.Sig)
}

// checkStale checks that err is ErrStaleWriter and that the failed write
// changed neither the store (since before) nor the books' heads.
func checkStale(t *testing.T, err error, st store.Store, before string, books []*journal.Book, heads []journal.Head) {
	t.Helper()
	if !errors.Is(err, journal.ErrStaleWriter) {
		t.Fatalf("stale write: err = %v, want ErrStaleWriter", err)
	}
	if after := snapshot(t, st); after != before {
		t.Fatal("a stale write changed the store")
	}
	for i, bk := range books {
		if !sameHead(bk.Head(), heads[i]) {
			t.Fatalf("a stale write moved book %s from %d to %d", bk.Key().Short(), heads[i].Length, bk.Len())
		}
	}
}

// verifyStored opens the store again and checks that each named book
// loads (its stored tree hashes to its head), that the store holds
// exactly its head's pages, each proven against the head, equal to want
// (if not nil).
func verifyStored(t *testing.T, st store.Store, n byte, name string, want [][]byte) {
	t.Helper()
	db := openDB(t, st, n)
	bk, err := db.Author(ctx, name, nil)
	if err != nil {
		t.Fatalf("reopen %q: %v", name, err)
	}
	head := bk.Head()
	if err := head.Verify(); err != nil {
		t.Fatal(err)
	}
	key := bk.Key()
	es, err := st.Scan(ctx, store.TablePages, key[:], append(key[:], bytes.Repeat([]byte{0xff}, 9)...), 0)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := journal.StoredPages(key, es)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(0)
	for _, s := range spans {
		if s[0] != next {
			t.Fatalf("book %q: a chunk of pages [%d, %d] after page %d", name, s[0], s[1], next)
		}
		next = s[1] + 1
	}
	if next != head.Length {
		t.Fatalf("book %q: the store holds %d pages, its head %d", name, next, head.Length)
	}
	got, err := bk.GetRange(ctx, 0, head.Length)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		proof, err := bk.Proof(ctx, uint64(i), head.Length)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(proof, int64(head.Length), head.Root, int64(i), tlog.RecordHash(p)); err != nil {
			t.Fatalf("book %q: page %d not proven by the head: %v", name, i, err)
		}
	}
	if want != nil {
		if len(got) != len(want) {
			t.Fatalf("book %q: %d pages, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("book %q: page %d = %.20q, want %.20q", name, i, got[i], want[i])
			}
		}
	}
}

func TestStaleWriterAppend(t *testing.T) {
	st, adb, bdb, as, bs := twoWriters(t, "notes")
	a, b := as[0], bs[0]
	want, err := b.GetRange(ctx, 0, b.Len())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, []byte("from b")); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	want = append(want, []byte("from b"))

	before, heads := snapshot(t, st), []journal.Head{a.Head()}
	select {
	case <-adb.Stale():
		t.Fatal("the DB is stale before it wrote")
	default:
	}
	if err := bdb.CheckWriter(ctx); err != nil {
		t.Fatalf("the newest DB is not the writer: %v", err)
	}
	if err := adb.CheckWriter(ctx); !errors.Is(err, journal.ErrStaleWriter) {
		t.Fatalf("CheckWriter of the earlier DB = %v, want ErrStaleWriter", err)
	}
	_, err = a.Append(ctx, []byte("from a"))
	checkStale(t, err, st, before, []*journal.Book{a}, heads)
	select {
	case <-adb.Stale():
	default:
		t.Fatal("the DB whose write was refused is not Stale")
	}
	// It keeps refusing, with the same error, and never writes.
	_, err = a.Append(ctx, pages(5, 10, "a again")...)
	checkStale(t, err, st, before, []*journal.Book{a}, heads)

	// The writer that won goes on.
	if _, err := b.Append(ctx, []byte("b goes on")); err != nil {
		t.Fatalf("first writer after the conflict: %v", err)
	}
	want = append(want, []byte("b goes on"))
	verifyStored(t, st, 7, "notes", want)
	verifyStored(t, st, 7, journal.AuditName, nil)
}

func TestStaleWriterAppendMany(t *testing.T) {
	st, a, b, as, bs := twoWriters(t, "one", "two")
	if _, err := b.AppendMany(ctx, []journal.BookAppend{{Book: bs[0], Pages: pages(2, 10, "b1")}, {Book: bs[1], Pages: pages(2, 10, "b2")}}); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	before, heads := snapshot(t, st), []journal.Head{as[0].Head(), as[1].Head()}
	_, err := a.AppendMany(ctx, []journal.BookAppend{{Book: as[0], Pages: pages(1, 10, "a1")}, {Book: as[1], Pages: pages(1, 10, "a2")}})
	checkStale(t, err, st, before, as, heads)
	for _, name := range []string{"one", "two"} {
		verifyStored(t, st, 7, name, nil)
	}
}

// TestStaleWriterWholeProfile: once a later DB opened the store (it claims
// the next writer epoch), the earlier one writes nothing at all, not even to
// a book no one else wrote: the newest instance of a profile is its writer
// (a fencing token), so two tabs never each advance half of the books.
func TestStaleWriterWholeProfile(t *testing.T) {
	st, a, b, as, bs := twoWriters(t, "one", "two")
	if _, err := bs[1].Append(ctx, []byte("b2")); err != nil {
		t.Fatal(err)
	}
	before, heads := snapshot(t, st), []journal.Head{as[0].Head(), as[1].Head()}
	_, err := a.AppendMany(ctx, []journal.BookAppend{{Book: as[0], Pages: pages(1, 10, "a1")}, {Book: as[1], Pages: pages(1, 10, "a2")}})
	checkStale(t, err, st, before, as, heads)
	_, err = as[0].Append(ctx, []byte("a1 alone"))
	checkStale(t, err, st, before, as[:1], heads[:1])
	if _, err := a.Author(ctx, "three", nil); !errors.Is(err, journal.ErrStaleWriter) {
		t.Fatalf("a new book from the earlier DB: %v, want ErrStaleWriter", err)
	}
	// The later DB writes every book.
	if _, err := bs[0].Append(ctx, []byte("b1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Author(ctx, "three", nil); err != nil {
		t.Fatal(err)
	}
	verifyStored(t, st, 7, "one", nil)
	verifyStored(t, st, 7, "two", nil)
}

// TestStaleWriterRace: two DBs append to one book at the same time
// (several goroutines each, so group commits too). The first write to
// land makes the other DB stale: every append of one DB succeeds, every
// append of the other fails with ErrStaleWriter, and the store holds
// exactly the winner's pages.
func TestStaleWriterRace(t *testing.T) {
	st, _, _, as, bs := twoWriters(t, "race")
	start := as[0].Len()
	const each = 8
	type result struct {
		db, n int
		first uint64
		err   error
	}
	results := make(chan result, 2*2*each)
	var wg sync.WaitGroup
	for d, bk := range []*journal.Book{as[0], bs[0]} {
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					n := g*each + i
					first, err := bk.Append(ctx, []byte(fmt.Sprintf("db%d-%02d", d, n)))
					results <- result{d, n, first, err}
				}
			}()
		}
	}
	wg.Wait()
	close(results)
	won := -1
	byIndex := map[uint64][]byte{}
	for r := range results {
		switch {
		case r.err == nil:
			if won >= 0 && won != r.db {
				t.Fatalf("both DBs appended to the book")
			}
			won = r.db
			byIndex[r.first] = []byte(fmt.Sprintf("db%d-%02d", r.db, r.n))
		case !errors.Is(r.err, journal.ErrStaleWriter):
			t.Fatalf("db%d append %d: %v, want success or ErrStaleWriter", r.db, r.n, r.err)
		}
	}
	if won < 0 {
		t.Fatal("no append succeeded")
	}
	if len(byIndex) != 2*each {
		t.Fatalf("the winner made %d appends, want %d (its appends must all succeed)", len(byIndex), 2*each)
	}
	want, err := []*journal.Book{as[0], bs[0]}[won].GetRange(ctx, 0, start)
	if err != nil {
		t.Fatal(err)
	}
	for i := start; i < start+2*each; i++ {
		p, ok := byIndex[i]
		if !ok {
			t.Fatalf("no successful append at %d", i)
		}
		want = append(want, p)
	}
	verifyStored(t, st, 7, "race", want)
}

// TestStaleReplica: two DBs of one profile on one store accept heads of
// the same peer book: the second to write gets ErrStaleWriter instead of
// overwriting the first's record.
func TestStaleReplica(t *testing.T) {
	peer := openDB(t, newStore(t), 8)
	src, err := peer.Author(ctx, "shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Append(ctx, pages(4, 20, "p")...)
	st := newStore(t)
	a := openDB(t, st, 9)
	ra, err := a.Reader(ctx, src.Key())
	if err != nil {
		t.Fatal(err)
	}
	replicate(t, src, ra, 0, 2)
	b := openDB(t, st, 9)
	rb, err := b.Get(ctx, src.Key())
	if err != nil {
		t.Fatal(err)
	}
	src.Append(ctx, pages(3, 20, "q")...)
	replicate(t, src, rb, 2, src.Len())

	before, heads := snapshot(t, st), []journal.Head{ra.Head()}
	up, err := src.MakeUpgrade(ctx, ra.Len())
	if err != nil {
		t.Fatal(err)
	}
	_, err = ra.AcceptHead(ctx, up)
	checkStale(t, err, st, before, []*journal.Book{ra}, heads)
	ps, _ := src.GetRange(ctx, 0, 2)
	proof, _ := src.RangeProof(ctx, 0, 2, ra.Len())
	err = ra.PutRange(ctx, 0, ps, ra.Len(), proof)
	checkStale(t, err, st, before, []*journal.Book{ra}, heads)

	// The store holds what b accepted: a reopened DB has all of it.
	c := openDB(t, st, 9)
	rc, err := c.Get(ctx, src.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !sameHead(rc.Head(), src.Head()) || len(rc.Have()) != 1 || rc.Have()[0] != (journal.Range{Start: 0, End: src.Len()}) {
		t.Fatalf("reopened replica: head %d, have %v; want %d, all", rc.Len(), rc.Have(), src.Len())
	}
}

// TestStaleImport: an import into a DB that another DB on the same store
// has overtaken writes nothing (its audit entry would fork the audit book).
func TestStaleImport(t *testing.T) {
	peer := openDB(t, newStore(t), 8)
	src, err := peer.Author(ctx, "gift", nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Append(ctx, pages(2, 20, "g")...)
	ex, err := peer.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, a, _, _, _ := twoWriters(t, "notes") // the second Open wrote the audit book
	before, heads := snapshot(t, st), []journal.Head{a.Audit().Head()}
	_, err = a.Import(ctx, ex)
	checkStale(t, err, st, before, []*journal.Book{a.Audit()}, heads)
	if _, err := a.Get(ctx, src.Key()); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("a refused import left book %s in the DB: %v", src.Key().Short(), err)
	}
	verifyStored(t, st, 7, journal.AuditName, nil)
}
