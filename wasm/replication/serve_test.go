package replication_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// serveAll is a holder's configuration: it serves every book it holds.
var serveAll = replication.Config{Serve: func(_, _ identity.ID) bool { return true }}

// viaAll is a reader's configuration: it follows every book through the peer.
var viaAll = replication.Config{FollowVia: func(_, _ identity.ID) bool { return true }}

// pin replicates books from their author to a holder (the holder follows
// them on the author's announcement) and returns the link, still running.
func pin(t testing.TB, author, holder *journal.DB, books ...*journal.Book) *link {
	t.Helper()
	l := connect(t, author, holder, replication.Config{}, serveAll, nil)
	for _, b := range books {
		l.A.Share(b)
	}
	for _, b := range books {
		waitFor(t, holder, "the holder's copy", func() bool {
			h, err := holder.Get(ctx, b.Key())
			return err == nil && holds(h, b.Len())()
		})
	}
	return l
}

// TestHolderServes: a peer that holds a book it does not author serves it
// to a third peer while the author is offline, then live, and the reader
// verifies it as the author's.
func TestHolderServes(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 3_000, 300, "ana") // more than a push: pulled with want
	pin(t, ana, mirror, book).stop() // Ana goes offline

	l := connect(t, mirror, bob, serveAll, viaAll, nil)
	waitFor(t, bob, "Bob's copy through the mirror", holds(bobCopy, book.Len()))
	sameBook(t, book, bobCopy)
	if info := bobCopy.Info(); !info.Verified || info.Author != ana.ID() {
		t.Fatalf("Bob's copy is not verified as Ana's: %+v", info)
	}
	if l.A.Version() != replication.Version || l.B.Version() != replication.Version {
		t.Fatalf("versions %d / %d, want %d", l.A.Version(), l.B.Version(), replication.Version)
	}
	if got := l.B.Stats().Sent.ByType[replication.TypeWant]; got == 0 {
		t.Fatal("Bob pulled nothing: the test meant to exercise want and data through a holder")
	}

	// Live: Ana writes to the mirror; Bob gets it through the mirror.
	pin(t, ana, mirror, book)
	if _, err := book.Append(ctx, []byte("live")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the live page through the mirror", holds(bobCopy, book.Len()))
	sameBook(t, book, bobCopy)
	if got := l.B.Stats().Recv.Pages; got != int(book.Len()) {
		t.Fatalf("Bob received %d pages for a book of %d", got, book.Len())
	}
}

// TestHolderResumes: a reader that holds the author's head but not all its
// pages (the transfer broke) pulls the rest from a holder at the same length.
func TestHolderResumes(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 2_000, 1024, "ana")
	pin(t, ana, mirror, book).stop()

	cfg := replication.Config{DataBytes: 16 << 10}
	serve, via := serveAll, viaAll
	serve.DataBytes, via.DataBytes = cfg.DataBytes, cfg.DataBytes
	l := connect(t, mirror, bob, serve, via, func(p port.Port) port.Port { return &closeAfter{Port: p, n: 10} })
	l.wg.Wait()
	l.stop()
	if got := bobCopy.Have().Count(); bobCopy.Len() != book.Len() || got == 0 || got >= book.Len() {
		t.Fatalf("after the port broke Bob holds %d pages of his head %d; want part of %d", got, bobCopy.Len(), book.Len())
	}
	l = connect(t, mirror, bob, serve, via, nil)
	waitFor(t, bob, "the rest through the mirror", holds(bobCopy, book.Len()))
	sameBook(t, book, bobCopy)
}

// TestTwoSources: a reader follows a book from its author and from a
// holder at once; both verify the same way and the copy is whole.
func TestTwoSources(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 2_000, 500, "ana")
	pin(t, ana, mirror, book)
	connect(t, mirror, bob, serveAll, viaAll, nil)
	connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	for i := range 20 {
		fill(t, book, 50, 500, "more"+itoa(i))
	}
	waitFor(t, bob, "Bob's copy from two sources", holds(bobCopy, book.Len()))
	sameBook(t, book, bobCopy)
}

// TestHolderTamperedPage: a holder whose pages do not match the author's
// head is refused (ErrBadProof), and nothing of them is stored.
func TestHolderTamperedPage(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 500, 100, "ana")
	pin(t, ana, mirror, book).stop()

	l := connect(t, mirror, bob, serveAll, viaAll, func(p port.Port) port.Port { return &tamper{Port: p, page: 7} })
	l.wg.Wait()
	if !errors.Is(l.errB, journal.ErrBadProof) {
		t.Fatalf("Bob's session ended with %v, want ErrBadProof", l.errB)
	}
	if l.errA == nil || !strings.Contains(l.errA.Error(), "ended the session") {
		t.Fatalf("the mirror's session ended with %v, want Bob's bye", l.errA)
	}
	for _, r := range bobCopy.Have() {
		if r.Start <= 7 && 7 < r.End {
			t.Fatal("Bob stored the tampered page")
		}
	}
}

// tamper flips a byte of page `page` in every data or push it receives.
type tamper struct {
	port.Port
	page uint64
}

func (c *tamper) Recv(ctx context.Context) ([]byte, error) {
	m, err := c.Port.Recv(ctx)
	if err != nil {
		return m, err
	}
	v, d, derr := replication.DecodeVersion(m)
	if derr != nil {
		return m, nil
	}
	var data *replication.Data
	t := replication.TypeData
	switch d := d.(type) {
	case *replication.Data:
		data = d
	case *replication.Have:
		data, t = d.Push, replication.TypeHave
	}
	if data == nil || c.page < data.Start || c.page >= data.Start+uint64(len(data.Pages)) {
		return m, nil
	}
	p := bytes.Clone(data.Pages[c.page-data.Start])
	p[len(p)-1] ^= 1
	data.Pages[c.page-data.Start] = p
	return replication.EncodeVersion(v, t, d)
}

// TestHolderNeedsServe: a peer that does not serve (Serve nil, the room's
// default), or speaks version 1 only, sends nothing of books it does not
// author, even if the reader lists them.
func TestHolderNeedsServe(t *testing.T) {
	v1 := serveAll
	v1.Version = 1
	for name, cfg := range map[string]replication.Config{"no Serve": {}, "version 1": v1} {
		t.Run(name, func(t *testing.T) {
			ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
			book, bobCopy := bookFor(t, ana, bob, "t1")
			fill(t, book, 10, 100, "ana")
			pin(t, ana, mirror, book).stop()
			own, _ := bookFor(t, mirror, bob, "own") // something to wait for
			own.Append(ctx, []byte("x"))
			ownCopy, _ := bob.Get(ctx, own.Key())

			l := connect(t, mirror, bob, cfg, viaAll, nil)
			waitFor(t, bob, "the mirror's own book", holds(ownCopy, own.Len()))
			// Anything served in answer to Bob's hello went before this.
			own.Append(ctx, []byte("y"))
			waitFor(t, bob, "the mirror's next page", holds(ownCopy, own.Len()))
			l.stop()
			if bobCopy.Len() != 0 {
				t.Fatalf("Ana's book was served (%d pages)", bobCopy.Len())
			}
			if !stopped(l.errA) || !stopped(l.errB) {
				t.Fatalf("sessions ended with %v / %v", l.errA, l.errB)
			}
		})
	}
}

// TestVersionNegotiation: a version-1 peer and a later one talk version 1
// both ways; a version-2 and a version-3 peer talk 2; two version-3 peers
// talk 3; no common version parts with a clear reason.
func TestVersionNegotiation(t *testing.T) {
	v1 := replication.Config{Version: 1}
	v2 := serveAll
	v2.Version = 2
	for _, c := range []struct {
		name       string
		cfgA, cfgB replication.Config
		want       uint
	}{
		{"v1 author, v2 reader", v1, viaAll, 1},
		{"v2 author, v1 reader", serveAll, v1, 1},
		{"v2 author, v3 reader", v2, viaAll, 2},
		{"v3 both", serveAll, viaAll, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			ana, bob := openDB(t, 1), openDB(t, 2)
			book, bobCopy := bookFor(t, ana, bob, "t1")
			fill(t, book, 100, 100, "ana")
			versions := &versionsSeen{}
			l := connect(t, ana, bob, c.cfgA, c.cfgB, func(p port.Port) port.Port { versions.Port = p; return versions })
			waitFor(t, bob, "Bob's copy", holds(bobCopy, book.Len()))
			fill(t, book, 5, 100, "more")
			waitFor(t, bob, "the new pages", holds(bobCopy, book.Len()))
			l.stop()
			if l.A.Version() != c.want || l.B.Version() != c.want {
				t.Fatalf("agreed %d / %d, want %d", l.A.Version(), l.B.Version(), c.want)
			}
			if got := versions.max(); got != c.want {
				t.Fatalf("messages of version %d crossed the port, want %d at most", got, c.want)
			}
			if !stopped(l.errA) || !stopped(l.errB) {
				t.Fatalf("sessions ended with %v / %v", l.errA, l.errB)
			}
		})
	}

	t.Run("no common version", func(t *testing.T) {
		ana := openDB(t, 1)
		pa, pb := port.Pipe(ana.ID(), identity.ID{9}, 8)
		sent := &sentLog{Port: pa}
		s := replication.NewSession(ana, sent, replication.Config{})
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		hello := &replication.Hello{Full: true}
		hello.AddOffer(replication.Offer{Versions: 1 << 3}) // version 4 only
		msg, _ := replication.Encode(replication.TypeHello, hello)
		if err := pb.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		err := <-done
		if !errors.Is(err, replication.ErrProtocol) || !strings.Contains(err.Error(), "no common protocol version: the peer speaks 4, this peer 1, 2, 3") {
			t.Fatalf("session ended with %v", err)
		}
		last, _ := replication.Decode(sent.last())
		if bye, ok := last.(*replication.Bye); !ok || !strings.Contains(bye.Reason, "no common protocol version") {
			t.Fatalf("last message sent: %#v, want a bye with the reason", last)
		}
	})

	t.Run("version 2 before the hello", func(t *testing.T) {
		ana := openDB(t, 1)
		pa, pb := port.Pipe(ana.ID(), identity.ID{9}, 8)
		s := replication.NewSession(ana, pa, replication.Config{})
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		msg, _ := replication.EncodeVersion(2, replication.TypeHello, &replication.Hello{Full: true})
		pb.Send(ctx, msg)
		if err := <-done; !errors.Is(err, replication.ErrProtocol) || !strings.Contains(err.Error(), "version 2") {
			t.Fatalf("session ended with %v", err)
		}
		pb.Close()
	})
}

// versionsSeen records the highest version of the messages sent and received.
type versionsSeen struct {
	port.Port
	mu   sync.Mutex
	high uint
}

func (v *versionsSeen) Recv(ctx context.Context) ([]byte, error) {
	m, err := v.Port.Recv(ctx)
	if err == nil {
		if ver, _, derr := replication.DecodeVersion(m); derr == nil {
			v.mu.Lock()
			v.high = max(v.high, ver)
			v.mu.Unlock()
		}
	}
	return m, err
}

func (v *versionsSeen) Send(ctx context.Context, msg []byte) error {
	if ver, _, err := replication.DecodeVersion(msg); err == nil {
		v.mu.Lock()
		v.high = max(v.high, ver)
		v.mu.Unlock()
	}
	return v.Port.Send(ctx, msg)
}

func (v *versionsSeen) max() uint {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.high
}

// sentLog records the messages sent through a port.
type sentLog struct {
	port.Port
	mu   sync.Mutex
	msgs [][]byte
}

func (l *sentLog) Send(ctx context.Context, msg []byte) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, msg)
	l.mu.Unlock()
	return l.Port.Send(ctx, msg)
}

func (l *sentLog) last() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) == 0 {
		return nil
	}
	return l.msgs[len(l.msgs)-1]
}

// TestManyBooksViaHolder: a reader that follows manyBooks books through a
// holder, 10 of which changed, reconciles in one round trip: its hello, the
// holder's hello (the books it serves at the reader's length) and a have
// per changed book with its pages pushed; nothing pulled.
func TestManyBooksViaHolder(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	var books []*journal.Book
	for i := range manyBooks {
		b, _ := bookFor(t, ana, bob, "task"+itoa(i))
		b.Append(ctx, []byte("hello"))
		books = append(books, b)
	}
	pin(t, ana, mirror, books...).stop()
	l := connect(t, mirror, bob, serveAll, viaAll, nil)
	for _, b := range books {
		c, _ := bob.Get(ctx, b.Key())
		waitFor(t, bob, "first sync", holds(c, b.Len()))
	}
	l.stop()

	// Apart: 10 of the books change, and reach the mirror.
	var changed []*journal.Book
	for i := range 10 {
		b := books[i*(len(books)/10)]
		b.Append(ctx, []byte("while apart"))
		changed = append(changed, b)
	}
	pin(t, ana, mirror, changed...).stop()
	l = connect(t, mirror, bob, serveAll, viaAll, nil)
	for _, b := range changed {
		c, _ := bob.Get(ctx, b.Key())
		waitFor(t, bob, "catch-up", holds(c, b.Len()))
	}
	// The holder's second hello (the books level with the reader) may
	// leave after the haves: the counts are taken once it has.
	for deadline := time.Now().Add(30 * time.Second); l.A.Stats().Sent.ByType[replication.TypeHello] < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the holder sent %v, never its hello of the level books", l.A.Stats().Sent.ByType)
		}
		time.Sleep(5 * time.Millisecond) // a poll of the holder's counts (no book changes)
	}
	l.stop()
	sm, sb := l.A.Stats(), l.B.Stats()
	bytes := sm.Sent.Bytes + sb.Sent.Bytes
	t.Logf("reconcile %d books through a holder, 10 changed: %d messages, %d bytes, by type holder %v reader %v", len(books), sm.Sent.Messages+sb.Sent.Messages, bytes, sm.Sent.ByType, sb.Sent.ByType)
	if m := sm.Sent.ByType; m[replication.TypeHello] != 2 || m[replication.TypeHave] != 10 || m[replication.TypeData] != 0 {
		t.Fatalf("the holder sent %v; want 2 hellos and 10 haves", m)
	}
	if m := sb.Sent.ByType; m[replication.TypeHello] != 1 || m[replication.TypeWant] != 0 || sb.Sent.Messages != 1 {
		t.Fatalf("the reader sent %v; want its hello only", m)
	}
	if bytes >= 64<<10 {
		t.Fatalf("reconciling took %d bytes; want under 64 KiB", bytes)
	}
}

// TestHolderForgedHead: a holder relaying a head the author did not sign
// is refused (ErrBadSignature), and nothing of it is stored.
func TestHolderForgedHead(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 10, 100, "ana")
	pin(t, ana, mirror, book).stop()
	before := snapshot(t, bob.Store())

	l := connect(t, mirror, bob, serveAll, viaAll, func(p port.Port) port.Port { return &forgeHead{Port: p} })
	l.wg.Wait()
	if !errors.Is(l.errB, journal.ErrBadSignature) {
		t.Fatalf("Bob's session ended with %v, want ErrBadSignature", l.errB)
	}
	if bobCopy.Len() != 0 || snapshot(t, bob.Store()) != before {
		t.Fatal("Bob stored something of a forged head")
	}
}

// forgeHead alters the root of every head it receives in a have.
type forgeHead struct{ port.Port }

func (c *forgeHead) Recv(ctx context.Context) ([]byte, error) {
	m, err := c.Port.Recv(ctx)
	if err != nil {
		return m, err
	}
	v, d, derr := replication.DecodeVersion(m)
	h, ok := d.(*replication.Have)
	if derr != nil || !ok {
		return m, nil
	}
	h.Upgrade.Head.Root[0] ^= 1
	return replication.EncodeVersion(v, replication.TypeHave, h)
}

// TestForkThroughHolder: a holder relays a head of the author's other
// history (the same seed wrote elsewhere). The reader keeps the two
// author-signed heads as evidence, tells the holder (forked), and the
// session goes on.
func TestForkThroughHolder(t *testing.T) {
	ana, mirror, bob := openDB(t, 1), openDB(t, 3), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 3, 100, "ana")
	l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
	waitFor(t, bob, "Bob's copy from Ana", holds(bobCopy, book.Len()))
	l.stop()

	// The same seed on another device writes another history of the book.
	ana2, err := journal.Open(ctx, newStore(t), ana.Identity().Seed(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ana2.Author(ctx, book.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, other, 5, 100, "elsewhere")
	pin(t, ana2, mirror, other).stop()
	own, _ := bookFor(t, mirror, bob, "own") // the session goes on with it
	ownCopy, _ := bob.Get(ctx, own.Key())

	told := make(chan struct{}, 1)
	cfg := serveAll
	cfg.OnEvent = func(e replication.Event) {
		if !e.Send && e.Type == replication.TypeForked {
			told <- struct{}{}
		}
	}
	l = connect(t, mirror, bob, cfg, viaAll, nil)
	waitFor(t, bob, "the fork", func() bool { return bobCopy.Fork() != nil })
	f := bobCopy.Fork()
	if err := f.Verify(); err != nil || f.Old.Key != book.Key() {
		t.Fatalf("evidence: %v", err)
	}
	if _, err := own.Append(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the mirror's own book after the fork", holds(ownCopy, own.Len()))
	select {
	case <-told:
	case <-time.After(time.Minute):
		t.Fatal("the mirror was not told of the fork")
	}
	l.stop()
	if !stopped(l.errA) || !stopped(l.errB) {
		t.Fatalf("sessions ended with %v / %v", l.errA, l.errB)
	}
}

// stopped reports whether a session ended because the test stopped it:
// its context ended, or the other end, stopped first, closed the port.
func stopped(err error) bool { return err == nil || errors.Is(err, context.Canceled) }

// TestThreeSourcesLive: a reader follows a book live from its author and
// two holders at once, each append racing through the three: a have or
// data checked against a head another source has since replaced is not a
// fault of its sender (the reader tells its length again), so no session
// ends, and the copy is whole.
func TestThreeSourcesLive(t *testing.T) {
	ana, m1, m2, bob := openDB(t, 1), openDB(t, 3), openDB(t, 4), openDB(t, 2)
	book, bobCopy := bookFor(t, ana, bob, "t1")
	fill(t, book, 10, 100, "ana")
	pins := []*link{pin(t, ana, m1, book), pin(t, ana, m2, book)}
	reads := []*link{
		connect(t, m1, bob, serveAll, viaAll, nil),
		connect(t, m2, bob, serveAll, viaAll, nil),
		connect(t, ana, bob, replication.Config{}, replication.Config{}, nil),
	}
	for i := range 300 {
		if _, err := book.Append(ctx, []byte("live "+itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, bob, "Bob's copy from three sources", holds(bobCopy, book.Len()))
	sameBook(t, book, bobCopy)
	for i, l := range append(reads, pins...) {
		l.stop()
		for _, err := range []error{l.errA, l.errB} {
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("session %d ended: %v", i, err)
			}
		}
	}
}

// TestHoldersFollowEachOther: two holders of Ana's book that each follow
// it through the other (two devices of one reader): the one that holds it
// serves the one that does not, rather than each waiting for the other.
func TestHoldersFollowEachOther(t *testing.T) {
	ana, laptop, phone := openDB(t, 1), openDB(t, 2), openDB(t, 4)
	book, _ := bookFor(t, ana, laptop, "t1")
	fill(t, book, 100, 100, "ana")
	pin(t, ana, laptop, book).stop() // the laptop holds it; Ana goes offline
	phoneCopy, err := phone.ReaderFrom(ctx, book.Key(), ana.ID())
	if err != nil {
		t.Fatal(err)
	}
	both := replication.Config{Serve: serveAll.Serve, FollowVia: viaAll.FollowVia}
	connect(t, laptop, phone, both, both, nil)
	waitFor(t, phone, "the phone's copy through the laptop", holds(phoneCopy, book.Len()))
	sameBook(t, book, phoneCopy)
}
