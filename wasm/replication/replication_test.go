package replication_test

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

func TestReplicateBothWays(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	anaBook, bobCopy := bookFor(t, ana, bob, "t1")
	bobBook, anaCopy := bookFor(t, bob, ana, "t1")
	fill(t, anaBook, 10_000, 200, "ana")
	fill(t, bobBook, 10_000, 200, "bob")

	l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	waitFor(t, bob, "Bob's copy", holds(bobCopy, anaBook.Len()))
	waitFor(t, ana, "Ana's copy", holds(anaCopy, bobBook.Len()))
	sameBook(t, anaBook, bobCopy)
	sameBook(t, bobBook, anaCopy)
	if info := bobCopy.Info(); !info.Verified || info.Author != ana.ID() {
		t.Fatalf("replica not verified as Ana's: %+v", info)
	}

	// Live: a new page reaches the reader with its head (pushed, no want).
	wants := l.B.Stats().Sent.ByType[replication.TypeWant]
	if _, err := anaBook.Append(ctx, []byte("live")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "live page", holds(bobCopy, anaBook.Len()))
	if got := l.B.Stats().Sent.ByType[replication.TypeWant]; got != wants {
		t.Fatalf("a small append needed %d wants", got-wants)
	}
	l.stop()
	// Each ends with its context, or sees the other close the port first.
	if !stopped(l.errA) || !stopped(l.errB) {
		t.Fatalf("sessions ended with %v / %v", l.errA, l.errB)
	}
	// Nothing was downloaded twice.
	if got, want := l.B.Stats().Recv.Pages, int(anaBook.Len()); got != want {
		t.Fatalf("Bob received %d pages for a book of %d", got, want)
	}
}

func TestResumeAfterClose(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	anaBook, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, anaBook, resumeBook, 1024, "ana")

	cfg := replication.Config{DataBytes: 16 << 10} // many small data messages
	l := connect(t, ana, bob, cfg, cfg, func(p port.Port) port.Port { return &closeAfter{Port: p, n: 20} })
	l.wg.Wait()
	l.stop()
	got := bobCopy.Have().Count()
	if got == 0 || got >= anaBook.Len() {
		t.Fatalf("after the port broke Bob holds %d of %d pages; want part of them", got, anaBook.Len())
	}
	received := l.B.Stats().Recv.Pages

	// Ana keeps writing while they are apart; then they reconnect.
	fill(t, anaBook, 100, 1024, "later")
	l2 := connect(t, ana, bob, cfg, cfg, nil)
	waitFor(t, bob, "catch-up", holds(bobCopy, anaBook.Len()))
	l2.stop()
	sameBook(t, anaBook, bobCopy)
	if total := received + l2.B.Stats().Recv.Pages; total < int(anaBook.Len()) || total > int(anaBook.Len())+int(cfg.DataBytes/1024) {
		t.Fatalf("pages received over both sessions: %d for a book of %d", total, anaBook.Len())
	}
}

func TestManyBooks(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	var anaBooks, bobBooks []*journal.Book
	for i := range manyBooks / 2 {
		a, _ := bookFor(t, ana, bob, "task"+itoa(i))
		b, _ := bookFor(t, bob, ana, "task"+itoa(i))
		a.Append(ctx, []byte("hello"))
		b.Append(ctx, []byte("hi"))
		anaBooks, bobBooks = append(anaBooks, a), append(bobBooks, b)
	}
	l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	for i := range anaBooks {
		copyB, _ := bob.Get(ctx, anaBooks[i].Key())
		waitFor(t, bob, "first sync", holds(copyB, anaBooks[i].Len()))
		copyA, _ := ana.Get(ctx, bobBooks[i].Key())
		waitFor(t, ana, "first sync", holds(copyA, bobBooks[i].Len()))
	}
	l.stop()

	// Apart: 10 of the books change.
	step := len(anaBooks) / 5
	for i := range 5 {
		anaBooks[i*step].Append(ctx, []byte("while apart"))
		bobBooks[i*step+1].Append(ctx, []byte("meanwhile"))
	}
	l = connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	for i := range 5 {
		a, b := anaBooks[i*step], bobBooks[i*step+1]
		copyB, _ := bob.Get(ctx, a.Key())
		waitFor(t, bob, "catch-up", holds(copyB, a.Len()))
		copyA, _ := ana.Get(ctx, b.Key())
		waitFor(t, ana, "catch-up", holds(copyA, b.Len()))
	}
	l.stop()
	sa, sb := l.A.Stats(), l.B.Stats()
	bytes := sa.Sent.Bytes + sb.Sent.Bytes
	t.Logf("reconcile %d books, 10 changed: %d messages, %d bytes, by type A %v B %v", 2*len(anaBooks), sa.Sent.Messages+sb.Sent.Messages, bytes, sa.Sent.ByType, sb.Sent.ByType)
	// One round trip: each side's hello, answered by a have (pages pushed) per
	// changed book; nothing pulled.
	for _, s := range []replication.Stats{sa, sb} {
		if s.Sent.ByType[replication.TypeHello] != 1 || s.Sent.ByType[replication.TypeHave] != 5 ||
			s.Sent.ByType[replication.TypeWant] != 0 || s.Sent.ByType[replication.TypeData] != 0 {
			t.Fatalf("messages by type %v; want 1 hello and 5 haves", s.Sent.ByType)
		}
	}
	if bytes >= 64<<10 {
		t.Fatalf("reconciling took %d bytes; want under 64 KiB", bytes)
	}
}

func itoa(i int) string {
	return string(rune('a'+i/26/26%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
}

func TestSparseLast50(t *testing.T) {
	n := bigBook
	ana, bob := openDB(t, 1), openDB(t, 2)
	anaBook, bobCopy := bookFor(t, ana, bob, "big")
	fill(t, anaBook, n-1, 16, "p")
	length := anaBook.Len()

	sparse := replication.Config{Sparse: func(*journal.Book) bool { return true }}
	l := connect(t, ana, bob, replication.Config{}, sparse, nil)
	waitFor(t, bob, "head", func() bool { return bobCopy.Len() == length })
	if err := l.B.Fetch(bobCopy.Key(), length-50, length); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "last 50", func() bool { return bobCopy.Have().Count() == 50 })
	l.stop()
	st := l.B.Stats().Recv
	t.Logf("last 50 of %d: %d pages, %d hashes, %d bytes in %d messages", length, st.Pages, st.Hashes, st.Bytes, st.Messages)
	if st.Pages != 50 || st.Hashes > 100 {
		t.Fatalf("received %d pages and %d hashes; want 50 pages and at most 100 hashes", st.Pages, st.Hashes)
	}
	for i := length - 50; i < length; i++ {
		a, _ := anaBook.Get(ctx, i)
		b, err := bobCopy.Get(ctx, i)
		if err != nil || string(a) != string(b) {
			t.Fatalf("page %d: %v", i, err)
		}
	}
	if _, err := bobCopy.Get(ctx, 5); err == nil {
		t.Fatal("a sparse replica holds a page it did not ask for")
	}
}

func TestAnnounceLive(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	// A book Ana starts for Bob while they are connected: Bob follows it,
	// checks it is Ana's from its genesis page, and downloads it.
	book, err := ana.Author(ctx, ana.ID().String()+"-"+bob.ID().String()+"-new", nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, book, 100, 64, "n")
	var rep *journal.Book
	waitFor(t, bob, "follow", func() bool {
		rep, _ = bob.Get(ctx, book.Key())
		return rep != nil && holds(rep, book.Len())()
	})
	if info := rep.Info(); !info.Verified || info.Author != ana.ID() {
		t.Fatalf("announced book not verified as Ana's: %+v", info)
	}
	sameBook(t, book, rep)

	// A book with a free-form name is shared by hand.
	free, _ := ana.Author(ctx, "shopping list", nil)
	free.Append(ctx, []byte("milk"))
	l.A.Share(free)
	waitFor(t, bob, "shared book", func() bool {
		r, _ := bob.Get(ctx, free.Key())
		return r != nil && holds(r, free.Len())()
	})
}

// TestShareFollowedBook: a book shared by hand that the reader already
// follows. The reader's hello (length 0) crosses the author's first have
// on the wire; the reader's wants for the new head must still be served.
func TestShareFollowedBook(t *testing.T) {
	for range 20 {
		ana, bob := openDB(t, 1), openDB(t, 2)
		book, _ := ana.Author(ctx, "free-form name", nil)
		fill(t, book, 200, 100, "s")
		rep, _ := bob.ReaderFrom(ctx, book.Key(), ana.ID())
		l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
		l.A.Share(book)
		waitFor(t, bob, "shared book", holds(rep, book.Len()))
		l.stop()
		// Stopped: each ends with its context, or sees the other close
		// the port first (nil); never with a protocol error.
		if !stopped(l.errA) || !stopped(l.errB) {
			t.Fatalf("sessions ended with %v / %v", l.errA, l.errB)
		}
	}
}
