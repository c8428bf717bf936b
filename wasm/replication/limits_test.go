package replication_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// connectLimited is connect with B's session limits lowered
// (replication.SetLimits) before it runs.
func connectLimited(t testing.TB, a, b *journal.DB, cfgA, cfgB replication.Config, wrap func(port.Port) port.Port, maxServe uint64, maxBooks int) *link {
	t.Helper()
	pa, pb := port.Pipe(a.ID(), b.ID(), 64)
	if wrap != nil {
		pb = wrap(pb)
	}
	l := &link{A: replication.NewSession(a, pa, cfgA), B: replication.NewSession(b, pb, cfgB)}
	replication.SetLimits(l.B, maxServe, maxBooks)
	c, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.errA = l.A.Run(c); pa.Close() }()
	go func() { defer l.wg.Done(); l.errB = l.B.Run(c); pb.Close() }()
	t.Cleanup(l.stop)
	return l
}

// limitedVictim is victim with the session's limits lowered.
func limitedVictim(t testing.TB, db *journal.DB, peer identity.ID, cfg replication.Config, maxServe uint64, maxBooks int) (*fake, *result) {
	a, b := port.Pipe(db.ID(), peer, 64)
	s := replication.NewSession(db, a, cfg)
	replication.SetLimits(s, maxServe, maxBooks)
	r := &result{done: make(chan struct{})}
	c, cancel := context.WithCancel(ctx)
	go func() { r.err = s.Run(c); close(r.done) }()
	t.Cleanup(func() { cancel(); b.Close(); <-r.done })
	return &fake{t: t, p: b}, r
}

// inflight watches a reader's port: the pages its wants asked for that
// no data has brought yet, and the most there ever were.
type inflight struct {
	port.Port
	mu         sync.Mutex
	now, peak  uint64 // guarded by mu
	wants, got int    // guarded by mu: want messages sent, pages received
}

func (w *inflight) Send(ctx context.Context, msg []byte) error {
	if m, err := replication.Decode(msg); err == nil {
		if want, ok := m.(*replication.Want); ok {
			w.mu.Lock()
			w.wants++
			for _, r := range want.Ranges {
				w.now += r.End - r.Start
			}
			w.peak = max(w.peak, w.now)
			w.mu.Unlock()
		}
	}
	return w.Port.Send(ctx, msg)
}

func (w *inflight) Recv(ctx context.Context) ([]byte, error) {
	msg, err := w.Port.Recv(ctx)
	if err == nil {
		if m, derr := replication.Decode(msg); derr == nil {
			if d, ok := m.(*replication.Data); ok {
				w.mu.Lock()
				w.now -= min(w.now, uint64(len(d.Pages)))
				w.got += len(d.Pages)
				w.mu.Unlock()
			}
		}
	}
	return msg, err
}

// TestWindow: a reader asks for at most Config.Window pages it has not
// received, and still gets the whole book, one window after another.
func TestWindow(t *testing.T) {
	const window, pages = 7, 100
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, rep := bookFor(t, ana, bob, "window")
	fill(t, book, pages, 16, "w")
	w := &inflight{}
	connect(t, ana, bob, replication.Config{}, replication.Config{Window: window}, func(p port.Port) port.Port {
		w.Port = p
		return w
	})
	waitFor(t, bob, "the whole book", holds(rep, book.Len()))
	sameBook(t, book, rep)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.peak != window {
		t.Fatalf("at most %d pages asked for at once, want the window (%d)", w.peak, window)
	}
	total := int(book.Len()) // the genesis too
	if least := (total + window - 1) / window; w.wants < least {
		t.Fatalf("%d wants for %d pages, at least %d with a window of %d", w.wants, total, least, window)
	}
	if w.got != total {
		t.Fatalf("%d pages pulled, want %d (each once)", w.got, total)
	}
}

// TestWindowSparse: a sparse reader fetching three ranges asks for at
// most Config.Window pages at once across them, and gets all three.
func TestWindowSparse(t *testing.T) {
	const window = 4
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, rep := bookFor(t, ana, bob, "sparse-window")
	fill(t, book, 99, 16, "w") // 100 with the genesis: pulled, not pushed
	w := &inflight{}
	sparse := replication.Config{Window: window, Sparse: func(*journal.Book) bool { return true }}
	l := connect(t, ana, bob, replication.Config{}, sparse, func(p port.Port) port.Port {
		w.Port = p
		return w
	})
	waitFor(t, bob, "the head", func() bool { return rep.Len() == book.Len() })
	ranges := []journal.Range{{Start: 10, End: 13}, {Start: 20, End: 24}, {Start: 30, End: 33}}
	for _, r := range ranges {
		l.B.Fetch(rep.Key(), r.Start, r.End)
	}
	waitFor(t, bob, "the three ranges", func() bool {
		have := rep.Have()
		for _, r := range ranges {
			if len(have.Missing(r.Start, r.End)) != 0 {
				return false
			}
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.peak > window {
		t.Fatalf("%d pages asked for at once, the window is %d", w.peak, window)
	}
	if w.got != 10 {
		t.Fatalf("%d pages pulled, want the 10 fetched", w.got)
	}
}

// TestMaxServe: an author serves a want of up to MaxServe pages (here
// lowered to 10), and ends the session of a reader that asks for more at
// once.
func TestMaxServe(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, _ := bookFor(t, bob, ana, "serve")
	fill(t, book, 19, 8, "s") // 20 with the genesis
	f, done := limitedVictim(t, bob, ana.ID(), replication.Config{}, 10, replication.MaxBooks)
	f.expect(replication.TypeHello)
	f.send(replication.TypeHello, &replication.Hello{Full: true})
	h := f.expect(replication.TypeHave).(*replication.Have)
	if h.Upgrade.Head.Length != book.Len() {
		t.Fatalf("have of length %d, want %d", h.Upgrade.Head.Length, book.Len())
	}
	key := book.Key()
	f.send(replication.TypeWant, &replication.Want{Key: key[:], Ranges: []journal.Range{{Start: 0, End: 10}}})
	served := 0
	for served < 10 {
		d := f.expectData()
		served += len(d.Pages)
	}
	f.send(replication.TypeWant, &replication.Want{Key: key[:], Ranges: []journal.Range{{Start: 0, End: 4}, {Start: 9, End: 16}}})
	err := wait(t, done)
	if !errors.Is(err, replication.ErrProtocol) || !strings.Contains(err.Error(), "11 pages") {
		t.Fatalf("session ended with %v, want ErrProtocol for 11 pages asked at once", err)
	}
}

// expectData reads messages until a data message arrives.
func (f *fake) expectData() *replication.Data {
	f.t.Helper()
	for {
		msg, err := f.p.Recv(ctx)
		if err != nil {
			f.t.Fatalf("fake waiting for data: %v", err)
		}
		m, err := replication.Decode(msg)
		if err != nil {
			f.t.Fatal(err)
		}
		if d, ok := m.(*replication.Data); ok {
			return d
		}
	}
}

// replicas returns the keys of the replicas db holds of author's books.
func replicas(t testing.TB, db *journal.DB, author identity.ID) []identity.ID {
	t.Helper()
	infos, err := db.Books(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []identity.ID
	for _, info := range infos {
		if !info.Writable && info.Author == author {
			keys = append(keys, info.Key)
		}
	}
	return keys
}

// announced returns n books Ana writes for Bob (each of two pages), which
// Bob does not follow yet.
func announced(t testing.TB, ana, bob *journal.DB, n int) []*journal.Book {
	t.Helper()
	books := make([]*journal.Book, n)
	for i := range books {
		b, err := ana.Author(ctx, ana.ID().String()+"-"+bob.ID().String()+"-"+itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, []byte("page of "+itoa(i))); err != nil {
			t.Fatal(err)
		}
		books[i] = b
	}
	return books
}

// TestAcceptRefuses: a book the peer announces that Config.Accept refuses
// is not followed, at connect or when it grows (announced again); the
// others are.
func TestAcceptRefuses(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	books := announced(t, ana, bob, 3)
	refused := books[1].Key()
	refusals := make(chan struct{}, 8)
	accept := func(key identity.ID) bool {
		if key == refused {
			refusals <- struct{}{}
		}
		return key != refused
	}
	connect(t, ana, bob, replication.Config{}, replication.Config{Accept: accept}, nil)
	refusedOnce := func() {
		t.Helper()
		select {
		case <-refusals:
		case <-time.After(30 * time.Second):
			t.Fatal("Accept was never asked about the refused book")
		}
	}
	refusedOnce()
	waitFor(t, bob, "two books followed", func() bool { return len(replicas(t, bob, ana.ID())) == 2 })
	for _, b := range []*journal.Book{books[0], books[2]} {
		r, err := bob.Get(ctx, b.Key())
		if err != nil {
			t.Fatalf("an accepted book is not followed: %v", err)
		}
		waitFor(t, bob, "an accepted book", holds(r, b.Len()))
	}
	// The refused book grows: announced again, refused again; an accepted
	// one grows and follows.
	books[1].Append(ctx, []byte("more"))
	refusedOnce()
	books[0].Append(ctx, []byte("more"))
	r0, _ := bob.Get(ctx, books[0].Key())
	waitFor(t, bob, "the accepted book's new page", holds(r0, books[0].Len()))
	if got := replicas(t, bob, ana.ID()); len(got) != 2 || slices.Contains(got, refused) {
		t.Fatalf("Bob follows %d of Ana's books (the refused one: %v)", len(got), slices.Contains(got, refused))
	}
	if _, err := bob.Get(ctx, refused); err == nil {
		t.Fatal("the refused book is in Bob's DB")
	}
}

// TestMaxBooks: a session follows at most MaxBooks (here lowered to 2) of
// the books the peer announces; the rest are ignored, and the session
// goes on with those it follows.
func TestMaxBooks(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	books := announced(t, ana, bob, 3)
	f, done := limitedVictim(t, bob, ana.ID(), replication.Config{}, replication.MaxServe, 2)
	f.expect(replication.TypeHello)
	for _, b := range books {
		f.send(replication.TypeHave, have(t, b, 0, true))
	}
	waitFor(t, bob, "two books followed", func() bool { return len(replicas(t, bob, ana.ID())) == 2 })
	// A have of a followed book is still taken after the third was
	// ignored (the port is ordered: the third came first).
	books[0].Append(ctx, []byte("more"))
	f.send(replication.TypeHave, have(t, books[0], 2, true))
	r0, err := bob.Get(ctx, books[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the first book's new page", holds(r0, books[0].Len()))
	if _, err := bob.Get(ctx, books[2].Key()); err == nil {
		t.Fatal("the third book is followed")
	}
	select {
	case <-done.done:
		t.Fatalf("the session ended: %v", done.err)
	default:
	}
}

// TestMaxBooksLive: over real sessions, a reader limited to two books
// follows two of three announced, whole.
func TestMaxBooksLive(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	books := announced(t, ana, bob, 3)
	connectLimited(t, ana, bob, replication.Config{}, replication.Config{}, nil, replication.MaxServe, 2)
	waitFor(t, bob, "two books followed", func() bool { return len(replicas(t, bob, ana.ID())) == 2 })
	for _, key := range replicas(t, bob, ana.ID()) {
		i := slices.IndexFunc(books, func(b *journal.Book) bool { return b.Key() == key })
		r, err := bob.Get(ctx, key)
		if i < 0 || err != nil {
			t.Fatalf("Bob follows a book Ana did not announce: %v", err)
		}
		waitFor(t, bob, "a followed book", holds(r, books[i].Len()))
	}
}

// TestHaveFromMismatch: a have whose from is not the length the reader
// holds (behind it, ahead of it, or a head older than the reader's) is
// answered with a hello of that length and stores nothing; the author's
// next have, from there, is taken.
func TestHaveFromMismatch(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, rep := bookFor(t, ana, bob, "from")
	book.Append(ctx, []byte("a"), []byte("b"))
	old := have(t, book, 0, false) // a head of 3
	book.Append(ctx, []byte("c"), []byte("d"))
	f, done := victim(t, bob, ana.ID(), replication.Config{})
	f.expect(replication.TypeHello)
	f.send(replication.TypeHave, have(t, book, 0, true))
	waitFor(t, bob, "five pages", holds(rep, 5))

	book.Append(ctx, []byte("e"), []byte("f"), []byte("g"))
	key := book.Key()
	for _, c := range []struct {
		name string
		have *replication.Have
	}{
		{"from behind", have(t, book, 2, true)},
		{"from ahead", have(t, book, 7, true)},
		{"an older head", old},
	} {
		before := snapshot(t, bob.Store())
		f.send(replication.TypeHave, c.have)
		h := f.expect(replication.TypeHello).(*replication.Hello)
		if len(h.Books) != 1 || !bytes.Equal(h.Books[0].Prefix, key[:replication.PrefixSize]) || h.Books[0].Length != 5 {
			t.Fatalf("%s: answered with hello %+v, want the book at 5", c.name, h.Books)
		}
		if snapshot(t, bob.Store()) != before {
			t.Fatalf("%s: the have changed the store", c.name)
		}
	}
	f.send(replication.TypeHave, have(t, book, 5, true))
	waitFor(t, bob, "eight pages", holds(rep, book.Len()))
	sameBook(t, book, rep)
	select {
	case <-done.done:
		t.Fatalf("the session ended: %v", done.err)
	default:
	}
}
