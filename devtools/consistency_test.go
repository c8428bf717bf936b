package devtools_test

import (
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
)

func unhex(t *testing.T, s string) tlog.Hash {
	t.Helper()
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		t.Fatalf("hash %q: %v", s, err)
	}
	copy(h[:], b)
	return h
}

// checkConsistency checks a proof's consistency steps with tlog alone:
// from the proof's head, step by step, to the book's signed head.
func checkConsistency(t *testing.T, pv *devtools.ProofView, cur *devtools.HeadView) {
	t.Helper()
	if len(pv.Consistency) == 0 {
		t.Fatalf("proof against head %d, the book's is %d: no consistency proof (%s)", pv.Head.Length, cur.Length, pv.ConsistencyNote)
	}
	n, root := pv.Head.Length, unhex(t, pv.Head.Root)
	for k, st := range pv.Consistency {
		if st.From != n || unhex(t, st.FromRoot) != root {
			t.Fatalf("step %d starts at %d, not where the last ended (%d)", k, st.From, n)
		}
		proof := make(tlog.TreeProof, len(st.Proof))
		for j, h := range st.Proof {
			proof[j] = unhex(t, h)
		}
		to := unhex(t, st.To.Root)
		if err := tlog.CheckTree(proof, int64(st.To.Length), to, int64(n), root); err != nil {
			t.Fatalf("step %d (%d → %d): %v", k, n, st.To.Length, err)
		}
		n, root = st.To.Length, to
	}
	if n != cur.Length || hex.EncodeToString(root[:]) != cur.Root {
		t.Fatalf("the steps end at %d, the book's head is %d", n, cur.Length)
	}
}

// TestConsistencyProof: a page proven against an older signed head (a
// long book's pages come with range proofs, the tree cannot reach them)
// comes with the consistency proof to the current signed head, which
// tlog verifies; across a reconnect too, and the genesis of the long
// book is served.
func TestConsistencyProof(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", []byte(`{"x":1}`))
	for i := range 19 {
		b.Append(ctx, fmt.Appendf(nil, "page %d", i))
	}
	backfill := func(c *report.Config) { c.Backfill = 4 }
	r := startReporter(t, e, db, "ana", backfill)
	waitFor(t, "the backfill verified", func() bool {
		var pages struct{ Pages []devtools.PageView }
		e.get(t, "/api/books/"+b.Key().String()+"/pages?from=19", &pages)
		return len(pages.Pages) == 1 && pages.Pages[0].Status == devtools.StatusVerified
	})
	for i := range 5 {
		b.Append(ctx, fmt.Appendf(nil, "more %d", i))
	}
	waitFor(t, "book verified at 25, page 24 held", e.bookHolds(t, b.Key(), 25))

	proofOf := func(i int) *devtools.ProofView {
		var pv devtools.ProofView
		if st := e.get(t, fmt.Sprintf("/api/books/%s/proof?index=%d", b.Key(), i), &pv); st != 200 || !pv.Verified {
			t.Fatalf("proof of %d: %d %+v", i, st, pv)
		}
		return &pv
	}
	pv := proofOf(17)
	if pv.Kind != "range" || pv.Head.Length != 20 {
		t.Fatalf("proof of 17: %s against %d, want a range proof against 20", pv.Kind, pv.Head.Length)
	}
	checkConsistency(t, pv, e.book(t, b.Key()).Head)
	steps := len(pv.Consistency)
	if pv := proofOf(24); len(pv.Consistency) != 0 || pv.Head.Length != 25 {
		t.Fatalf("a proof against the current head: %+v", pv)
	}

	// Reconnected: the reporter resumes from the verified head, and the
	// history reaches the newer head in two steps.
	r.stop()
	for i := range 3 {
		b.Append(ctx, fmt.Appendf(nil, "later %d", i))
	}
	startReporter(t, e, db, "ana", backfill)
	waitFor(t, "book verified at 28, page 27 held", e.bookHolds(t, b.Key(), 28))
	d := e.book(t, b.Key())
	if len(d.Problems) != 0 {
		t.Fatalf("problems: %+v", d.Problems[0])
	}
	pv = proofOf(17)
	checkConsistency(t, pv, d.Head)
	if len(pv.Consistency) <= steps {
		t.Fatalf("%d steps after the reconnect, %d before", len(pv.Consistency), steps)
	}
	checkConsistency(t, proofOf(23), d.Head)

	// The genesis of the long book is served.
	var pages struct{ Pages []devtools.PageView }
	e.get(t, "/api/books/"+b.Key().String()+"/pages?from=0&limit=1", &pages)
	if len(pages.Pages) != 1 || pages.Pages[0].Index != 0 || pages.Pages[0].Genesis == nil || pages.Pages[0].Status != devtools.StatusVerified {
		t.Fatalf("the genesis: %+v", pages.Pages)
	}
}

// TestGenesisRetained: a book longer than the page retention, reported
// from its newest pages only, still serves its genesis page.
func TestGenesisRetained(t *testing.T) {
	e := newEnv(t, devtools.Config{RetainPages: 5})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	for i := range 30 {
		b.Append(ctx, fmt.Appendf(nil, "page %d", i))
	}
	startReporter(t, e, db, "ana", func(c *report.Config) { c.Backfill = 10 })
	waitFor(t, "book verified", e.bookIs(t, b.Key(), 31, devtools.StatusVerified))
	var pages struct {
		Pages     []devtools.PageView
		Retention devtools.RetentionView
	}
	waitFor(t, "the last page", func() bool {
		e.get(t, "/api/books/"+b.Key().String()+"/pages?from=0", &pages)
		return pages.Retention.Last == 30
	})
	if len(pages.Pages) != 5 || pages.Pages[0].Index != 0 || pages.Pages[0].Genesis == nil || pages.Pages[1].Index != 27 || !pages.Retention.Genesis {
		t.Fatalf("pages: %+v, retention %+v", pages.Pages, pages.Retention)
	}
	var pv devtools.ProofView
	if st := e.get(t, "/api/books/"+b.Key().String()+"/proof?index=0", &pv); st != 200 || !pv.Verified {
		t.Fatalf("the genesis' proof: %d %+v", st, pv)
	}
}

// TestReconnectAfterHeadLong: a long book's reporter that dropped after
// its head, before its pages, resends the pages from what is verified
// with the consistency proof from the verified head (the welcome gives
// both), so the newer head and its pages verify.
func TestReconnectAfterHeadLong(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	for i := range 19 {
		b.Append(ctx, fmt.Appendf(nil, "page %d", i))
	}
	head, err := journal.Marshal(b.Head())
	if err != nil {
		t.Fatal(err)
	}
	genesis, _ := b.Get(ctx, 0)
	p := dialRaw(t, e, db.Identity(), "ana")
	p.send(report.TypeBooks, &report.Books{Books: []report.BookInfo{{Key: b.Key(), Name: "notes", Author: db.ID(), Writable: true, Head: head, Genesis: genesis}}, Done: true})
	waitFor(t, "the head taken", func() bool {
		d := e.book(t, b.Key())
		return d != nil && d.Length == 20
	})
	p.ws.Close(websocket.StatusNormalClosure, "")
	for i := range 3 {
		b.Append(ctx, fmt.Appendf(nil, "later %d", i))
	}
	startReporter(t, e, db, "ana", func(c *report.Config) { c.Backfill = 4 })
	waitFor(t, "book verified at 23", e.bookIs(t, b.Key(), 23, devtools.StatusVerified))
	var pages struct{ Pages []devtools.PageView }
	waitFor(t, "the pages", func() bool {
		e.get(t, "/api/books/"+b.Key().String()+"/pages?from=19", &pages)
		return len(pages.Pages) == 4
	})
	for _, pg := range pages.Pages {
		if pg.Status != devtools.StatusVerified {
			t.Fatalf("page %d: %s", pg.Index, pg.Status)
		}
	}
}

// TestBookGrowsDuringBackfill: a book that grows between the books frame
// (its head listed) and its backfill is proven from the listed head, so
// the newer head and its pages verify (they stayed unverified for good).
func TestBookGrowsDuringBackfill(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	for i := range 9 {
		b.Append(ctx, fmt.Appendf(nil, "page %d", i))
	}
	// The reporter's clock is read for the hello, for the books frame,
	// then for the backfill, just before it reads the book: the third
	// reading appends (the hook's own reading comes back in, fourth).
	var calls atomic.Int32
	startReporter(t, e, db, "ana", func(c *report.Config) {
		c.Backfill = 4
		c.Now = func() time.Time {
			if calls.Add(1) == 3 {
				if _, err := b.Append(ctx, []byte("meanwhile")); err != nil {
					t.Error(err)
				}
			}
			return time.Unix(1700000000, 0)
		}
	})
	waitFor(t, "book verified at 11", e.bookIs(t, b.Key(), 11, devtools.StatusVerified))
	var pages struct{ Pages []devtools.PageView }
	waitFor(t, "the pages", func() bool {
		e.get(t, "/api/books/"+b.Key().String()+"/pages?from=7", &pages)
		return len(pages.Pages) == 4
	})
	for _, pg := range pages.Pages {
		if pg.Status != devtools.StatusVerified {
			t.Fatalf("page %d: %s", pg.Index, pg.Status)
		}
	}
}
