package devtools_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestTwoPeers: Ana and Bob chat in a task, each with a reporter; the API
// lists both peers, the task's two books (each authored by one, read by
// the other), with lengths that match, all verified, the pages parsed as
// messages, and the protocol run on the timeline.
func TestTwoPeers(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	ana, bob := openDB(t, 1), openDB(t, 2)
	ra := startReporter(t, e, ana, "ana", nil)
	rb := startReporter(t, e, bob, "bob", nil)

	ab, err := ana.Author(ctx, taskName(ana.ID(), bob.ID(), task), nil)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := bob.Author(ctx, taskName(bob.ID(), ana.ID(), task), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ReaderFrom(ctx, ab.Key(), ana.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.ReaderFrom(ctx, ba.Key(), bob.ID()); err != nil {
		t.Fatal(err)
	}
	link(t, ana, bob, ra.R, rb.R)
	for i := uint64(1); i <= 5; i++ {
		if _, err := ab.Append(ctx, message(ana.ID(), bob.ID(), i, "hi bob")); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(1); i <= 3; i++ {
		if _, err := ba.Append(ctx, message(bob.ID(), ana.ID(), i, "hi ana")); err != nil {
			t.Fatal(err)
		}
	}

	// Both copies of each book verified, at the authors' lengths, and the
	// last page held (a books frame lists the head before its pages).
	copiesVerified := func(key identity.ID, n uint64) func() bool {
		return func() bool {
			d := e.book(t, key)
			if d == nil || d.Length != n || d.Status != devtools.StatusVerified || d.Retention.Last != n-1 || len(d.Copies) != 2 {
				return false
			}
			for _, c := range d.Copies {
				if c.Status != devtools.StatusVerified || c.Length != n {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "ana's book verified on both peers", copiesVerified(ab.Key(), 6))
	waitFor(t, "bob's book verified on both peers", copiesVerified(ba.Key(), 4))

	var peers struct{ Peers []devtools.PeerView }
	if st := e.get(t, "/api/peers", &peers); st != http.StatusOK || len(peers.Peers) != 2 {
		t.Fatalf("peers: %d %+v", st, peers)
	}
	if peers.Peers[0].Alias != "ana" || !peers.Peers[0].Connected || peers.Peers[1].Alias != "bob" {
		t.Fatalf("peers: %+v", peers.Peers)
	}
	var pd devtools.PeerDetail
	if st := e.get(t, "/api/peers/"+ana.ID().String(), &pd); st != http.StatusOK {
		t.Fatalf("peer: %d", st)
	}
	roles := map[string]int{}
	for _, c := range pd.Copies {
		if c.Task == task {
			roles[c.Role]++
		}
	}
	if roles["author"] != 1 || roles["reader"] != 1 {
		t.Fatalf("ana's books of the task: %+v", pd.Copies)
	}

	var books struct{ Books []devtools.BookView }
	e.get(t, "/api/books?task="+task, &books)
	if len(books.Books) != 2 {
		t.Fatalf("books of the task: %+v", books.Books)
	}
	for _, b := range books.Books {
		if b.Task != task || len(b.Readers) != 1 || b.Status != devtools.StatusVerified {
			t.Fatalf("book %+v", b)
		}
	}
	e.get(t, "/api/books?peer="+bob.ID().String(), &books)
	if len(books.Books) != 3 { // the task's two books and bob's audit book
		t.Fatalf("books of bob: %+v", books.Books)
	}

	// Pages: the genesis and the messages, parsed.
	var pages struct {
		Pages []devtools.PageView
		Next  *uint64
	}
	e.get(t, "/api/books/"+ab.Key().String()+"/pages?from=0&limit=3", &pages)
	if len(pages.Pages) != 3 || pages.Next == nil || *pages.Next != 3 {
		t.Fatalf("pages: %+v", pages)
	}
	if g := pages.Pages[0].Genesis; g == nil || g.Author != ana.ID() {
		t.Fatalf("page 0: %+v", pages.Pages[0])
	}
	m := pages.Pages[1].Message
	if m == nil || m.By != ana.ID() || m.To != bob.ID() || m.Mid != 1 || m.Type != "chat" || string(m.Data) != `{"text":"hi bob"}` || m.Clock != 1 {
		t.Fatalf("page 1: %+v", pages.Pages[1])
	}
	if pages.Pages[1].Status != devtools.StatusVerified || pages.Pages[1].Text == nil {
		t.Fatalf("page 1: %+v", pages.Pages[1])
	}

	// A proof of page 2 against the signed head.
	var proof devtools.ProofView
	if st := e.get(t, "/api/books/"+ab.Key().String()+"/proof?index=2", &proof); st != http.StatusOK {
		t.Fatalf("proof: %d", st)
	}
	if !proof.Verified || !proof.Signed || proof.Kind != "inclusion" || proof.Head.Length != 6 || len(proof.Proof) == 0 {
		t.Fatalf("proof: %+v", proof)
	}

	// The timeline of the task shows the protocol between the two.
	var tl struct{ Events []*devtools.Event }
	waitFor(t, "sync events on the timeline", func() bool {
		e.get(t, "/api/timeline?task="+task, &tl)
		types := map[string]bool{}
		for _, ev := range tl.Events {
			if ev.Kind == "sync" {
				types[ev.Type] = true
			}
		}
		return types["have"] && types["hello"]
	})
	if !slices.IsSortedFunc(tl.Events, func(a, b *devtools.Event) int { return int(a.Seq) - int(b.Seq) }) {
		t.Fatal("timeline out of order")
	}
	e.get(t, "/api/timeline?peer="+ana.ID().String(), &tl)
	for _, ev := range tl.Events {
		if ev.Peer != ana.ID() && ev.Remote != ana.ID() {
			t.Fatalf("event of another peer: %+v", ev)
		}
	}
}

// TestReconnect: a reporter that reconnects resumes from the lengths the
// server verified, and the book stays verified.
func TestReconnect(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	for range 10 {
		b.Append(ctx, []byte("page"))
	}
	r := startReporter(t, e, db, "ana", nil)
	waitFor(t, "book verified, page 10 held", e.bookHolds(t, b.Key(), 11))
	r.stop()
	for range 5 {
		b.Append(ctx, []byte("later"))
	}
	r2 := startReporter(t, e, db, "ana", nil)
	waitFor(t, "book verified after reconnect, page 15 held", e.bookHolds(t, b.Key(), 16))
	d := e.book(t, b.Key())
	if d.Tree != 16 || d.Retention.Pages != 16 {
		t.Fatalf("tree %d, retained %d", d.Tree, d.Retention.Pages)
	}
	if !r2.R.Connected() {
		t.Fatal("not connected")
	}
}

// TestReconnectAfterHead: a reporter that dropped after sending a head
// but before its pages sends the pages when it reconnects (the welcome
// says what is verified, not the head), and the tree grows to the head.
func TestReconnectAfterHead(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	for range 4 {
		b.Append(ctx, []byte("page"))
	}
	head, err := journal.Marshal(b.Head())
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := b.Get(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first session: the book listed with its head, then gone.
	p := dialRaw(t, e, db.Identity(), "ana")
	p.send(report.TypeBooks, &report.Books{Books: []report.BookInfo{{Key: b.Key(), Name: "notes", Author: db.ID(), Writable: true, Head: head, Genesis: genesis}}, Done: true})
	waitFor(t, "the head taken", func() bool {
		d := e.book(t, b.Key())
		return d != nil && d.Length == 5
	})
	p.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "offline", func() bool {
		var pd devtools.PeerDetail
		e.get(t, "/api/peers/"+db.ID().String(), &pd)
		return !pd.Connected
	})

	startReporter(t, e, db, "ana", nil)
	waitFor(t, "the pages", func() bool {
		d := e.book(t, b.Key())
		return d != nil && d.Retention.Pages == 5
	})
	if d := e.book(t, b.Key()); d.Tree != 5 || d.Status != devtools.StatusVerified {
		t.Fatalf("tree %d, status %s", d.Tree, d.Status)
	}
}

// TestPeerReset: a peer that comes back with a wiped store (same seed)
// no longer lists its old books, so the server forgets its copies of them;
// the audit book it starts anew is another history of the same key: a fork.
func TestPeerReset(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	r := startReporter(t, e, db, "ana", nil)
	waitFor(t, "book verified", e.bookIs(t, b.Key(), 1, devtools.StatusVerified))
	// The audit book's pages too: with its head alone the server could
	// not tell the new audit book's shorter history from a prefix.
	waitFor(t, "audit book's pages held", e.treeHolds(t, db.Audit().Key()))
	r.stop()

	// Its new audit book differs from page 1 on (the date of the open).
	wiped, err := journal.Open(ctx, store.NewMemory(), seed(1), &journal.Options{Now: func() time.Time { return time.Unix(1, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	startReporter(t, e, wiped, "ana", nil)
	waitFor(t, "old copy forgotten", func() bool {
		var pd devtools.PeerDetail
		e.get(t, "/api/peers/"+db.ID().String(), &pd)
		return pd.Connected && pd.Sessions == 2 && len(pd.Copies) == 1 && pd.Copies[0].Name == "audit"
	})
	if d := e.book(t, b.Key()); d == nil || len(d.Copies) != 0 {
		t.Fatalf("notes still has copies: %+v", d)
	}
	waitFor(t, "audit forked", func() bool {
		d := e.book(t, wiped.Audit().Key())
		return d != nil && d.Status == devtools.StatusForked
	})
}

// TestReporterReconnects: when the server drops a reporter (here another
// connection takes its id), the reporter connects again by itself and
// reports what changed meanwhile.
func TestReporterReconnects(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	startReporter(t, e, db, "ana", nil)
	waitFor(t, "book verified", e.bookIs(t, b.Key(), 1, devtools.StatusVerified))
	p := dialRaw(t, e, db.Identity(), "impostor")
	b.Append(ctx, []byte("while away"))
	if code, reason := p.closed(); code != websocket.StatusPolicyViolation || !strings.Contains(reason, "replaced") {
		t.Fatalf("impostor closed with %d %q", code, reason)
	}
	waitFor(t, "book verified again", e.bookIs(t, b.Key(), 2, devtools.StatusVerified))
	var pd devtools.PeerDetail
	e.get(t, "/api/peers/"+db.ID().String(), &pd)
	if pd.Sessions != 3 || pd.Alias != "ana" || !pd.Connected {
		t.Fatalf("peer: %+v", pd.PeerView)
	}
}
