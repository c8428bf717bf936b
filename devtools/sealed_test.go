package devtools_test

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// bookKey is the seal key of book in epoch 0 of a secret of byte n.
func bookKey(t testing.TB, n byte, book identity.ID) *seal.Key {
	t.Helper()
	k, err := seal.BookKey(bytes.Repeat([]byte{n}, seal.KeySize), 0, book)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// appendSealed seals plain with k as b's next page and appends it.
func appendSealed(t testing.TB, b *journal.Book, k *seal.Key, plain []byte) []byte {
	t.Helper()
	page, err := k.Seal(b.Len(), plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, page); err != nil {
		t.Fatal(err)
	}
	return page
}

// opener is a report.Config.Open hook that opens book's pages with k.
func opener(book identity.ID, k *seal.Key) func(identity.ID, uint64, []byte) []byte {
	return func(key identity.ID, i uint64, page []byte) []byte {
		if key != book {
			return nil
		}
		plain, err := k.Open(i, page)
		if err != nil {
			return nil
		}
		return plain
	}
}

// pagesOf fetches the retained pages of a book from index 0 (none if the
// server does not know the book yet).
func (e *env) pagesOf(t testing.TB, key identity.ID) []devtools.PageView {
	t.Helper()
	var r struct{ Pages []devtools.PageView }
	if st := e.get(t, "/api/books/"+key.String()+"/pages?from=0&limit=100", &r); st != http.StatusOK {
		return nil
	}
	return r.Pages
}

// TestSealedPages: Ana's task book is sealed; her reporter opens its
// pages (the hook holds the book's key) and sends the plaintexts beside
// them, Bob's reporter (no hook) its replica's ciphertext only. The
// server verifies the ciphertext as always (leaf hash, proof against the
// signed head) and shows each page parsed from Ana's plaintext, "opened
// by" her; a page sealed with a key no tab holds is shown as such.
func TestSealedPages(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	ana, bob := openDB(t, 1), openDB(t, 2)
	ab, err := ana.Author(ctx, taskName(ana.ID(), bob.ID(), task), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ReaderFrom(ctx, ab.Key(), ana.ID()); err != nil {
		t.Fatal(err)
	}
	k := bookKey(t, 1, ab.Key())
	msgs := [][]byte{message(ana.ID(), bob.ID(), 1, "sealed hello"), message(ana.ID(), bob.ID(), 2, "sealed again")}
	var sealed [][]byte
	for _, m := range msgs {
		sealed = append(sealed, appendSealed(t, ab, k, m))
	}
	appendSealed(t, ab, bookKey(t, 9, ab.Key()), message(ana.ID(), bob.ID(), 3, "nobody here can read this"))
	plainMsg := message(ana.ID(), bob.ID(), 4, "not sealed")
	if _, err := ab.Append(ctx, plainMsg); err != nil {
		t.Fatal(err)
	}

	ra := startReporter(t, e, ana, "ana", func(c *report.Config) { c.Open = opener(ab.Key(), k) })
	rb := startReporter(t, e, bob, "bob", nil)
	link(t, ana, bob, ra.R, rb.R)
	waitFor(t, "both copies of the sealed book verified", func() bool {
		d := e.book(t, ab.Key())
		if d == nil || d.Length != 5 || d.Status != devtools.StatusVerified || len(d.Copies) != 2 {
			return false
		}
		for _, c := range d.Copies {
			if c.Status != devtools.StatusVerified || c.Length != 5 {
				return false
			}
		}
		return true
	})
	var pages []devtools.PageView
	waitFor(t, "the pages, opened", func() bool {
		pages = e.pagesOf(t, ab.Key())
		return len(pages) == 5 && pages[1].OpenedBy == ana.ID() && pages[2].OpenedBy == ana.ID()
	})

	for i, m := range msgs {
		p := pages[i+1]
		if !p.Sealed || p.Status != devtools.StatusVerified || p.Text != nil || !bytes.Equal(p.Data, sealed[i]) || !bytes.Equal(p.Plain, m) || p.PlainText == nil || *p.PlainText != string(m) {
			t.Fatalf("page %d: %+v", i+1, p)
		}
		if leaf := tlog.RecordHash(sealed[i]); p.Leaf != hex.EncodeToString(leaf[:]) || p.Size != len(sealed[i]) {
			t.Fatalf("page %d: leaf %s, size %d: not the ciphertext's", i+1, p.Leaf, p.Size)
		}
		if mv := p.Message; mv == nil || mv.By != ana.ID() || mv.Mid != uint64(i+1) || mv.Type != "chat" || p.Note != "" {
			t.Fatalf("page %d not parsed from its plaintext: %+v", i+1, p)
		}
		var proof devtools.ProofView
		if st := e.get(t, "/api/books/"+ab.Key().String()+"/proof?index="+strconv.Itoa(i+1), &proof); st != http.StatusOK || !proof.Verified || proof.Leaf != p.Leaf {
			t.Fatalf("proof of page %d: %d %+v", i+1, st, proof)
		}
	}
	if string(pages[1].Message.Data) != `{"text":"sealed hello"}` {
		t.Fatalf("page 1 says %s", pages[1].Message.Data)
	}
	if p := pages[3]; !p.Sealed || p.Status != devtools.StatusVerified || p.Message != nil || !p.OpenedBy.IsZero() || p.Plain != nil || p.Note != "sealed: no reporting tab can open it" {
		t.Fatalf("page 3, sealed with a key no tab holds: %+v", p)
	}
	if p := pages[4]; p.Sealed || p.Message == nil || p.Message.Mid != 4 || !p.OpenedBy.IsZero() || p.Text == nil {
		t.Fatalf("page 4, not sealed: %+v", p)
	}
}

// TestSealedPlainFromAuthor: plaintexts are a tab's word, not verified:
// the first one a tab sends is shown (here a reader's, which lies), until
// the book's author sends its own, which then stays. A plaintext sent for
// a page that is not sealed is ignored.
func TestSealedPlainFromAuthor(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	bobKey, carlKey := identity.New(seed(2)), identity.New(seed(3))
	b, err := db.Author(ctx, taskName(db.ID(), bobKey.ID(), task), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := bookKey(t, 1, b.Key())
	truth := message(db.ID(), bobKey.ID(), 1, "the truth")
	appendSealed(t, b, k, truth)
	plainMsg := message(db.ID(), bobKey.ID(), 2, "in clear")
	if _, err := b.Append(ctx, plainMsg); err != nil {
		t.Fatal(err)
	}
	head, _ := journal.Marshal(b.Head())
	pages, err := b.GetRange(ctx, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := b.RangeProof(ctx, 0, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	proofBytes, _ := journal.Marshal(proof)
	authorFrame := func(plain [][]byte) *report.Book {
		return &report.Book{Key: b.Key(), Event: "append", Writable: true, Head: head, Pages: pages, Plain: plain, Proof: proofBytes}
	}
	readerFrame := func(plain [][]byte) *report.Book {
		return &report.Book{Key: b.Key(), Event: "put", Head: head, Start: 1, Pages: pages[1:], Plain: plain}
	}
	page1 := func() devtools.PageView {
		ps := e.pagesOf(t, b.Key())
		if len(ps) < 2 {
			return devtools.PageView{}
		}
		return ps[1]
	}
	eventsOf := func() int {
		d := e.book(t, b.Key())
		if d == nil {
			return 0
		}
		return d.Events.Kept
	}

	ana := dialRaw(t, e, db.Identity(), "ana")
	ana.send(report.TypeBook, authorFrame(nil))
	waitFor(t, "the sealed page, unopened", func() bool { p := page1(); return p.Sealed && p.Note != "" })

	lie := message(db.ID(), bobKey.ID(), 1, "a lie")
	bob := dialRaw(t, e, bobKey, "bob")
	bob.send(report.TypeBook, readerFrame([][]byte{lie, []byte("ignored: page 2 is not sealed")}))
	waitFor(t, "bob's plaintext", func() bool { return page1().OpenedBy == bobKey.ID() })
	if p := page1(); !bytes.Equal(p.Plain, lie) || p.Status != devtools.StatusVerified || string(p.Message.Data) != `{"text":"a lie"}` {
		t.Fatalf("page 1 opened by bob: %+v", p)
	}
	if p := e.pagesOf(t, b.Key())[2]; p.Sealed || !p.OpenedBy.IsZero() || p.Plain != nil || p.Message == nil || string(p.Message.Data) != `{"text":"in clear"}` {
		t.Fatalf("page 2, not sealed, with a plaintext sent: %+v", p)
	}

	n := eventsOf()
	carl := dialRaw(t, e, carlKey, "carl")
	carl.send(report.TypeBook, readerFrame([][]byte{message(db.ID(), bobKey.ID(), 1, "carl's word"), nil}))
	waitFor(t, "carl's frame", func() bool { return eventsOf() > n })
	if p := page1(); p.OpenedBy != bobKey.ID() {
		t.Fatalf("a second reader's plaintext replaced the first: %+v", p)
	}

	n = eventsOf()
	ana.send(report.TypeBook, authorFrame([][]byte{nil, truth, nil}))
	waitFor(t, "ana's frame", func() bool { return eventsOf() > n })
	if p := page1(); p.OpenedBy != db.ID() || !bytes.Equal(p.Plain, truth) || string(p.Message.Data) != `{"text":"the truth"}` {
		t.Fatalf("the author's plaintext did not replace a reader's: %+v", p)
	}

	n = eventsOf()
	bob.send(report.TypeBook, readerFrame([][]byte{lie, nil}))
	waitFor(t, "bob's second frame", func() bool { return eventsOf() > n })
	if p := page1(); p.OpenedBy != db.ID() || !bytes.Equal(p.Plain, truth) {
		t.Fatalf("a reader's plaintext replaced the author's: %+v", p)
	}
	if d := e.book(t, b.Key()); d.Status != devtools.StatusVerified {
		t.Fatalf("book %s: %+v", d.Status, d.Problems)
	}
}
