//go:build !js

package mirror

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/mirror/boltstore"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

var quiet = slog.New(slog.NewTextHandler(logOut(), &slog.HandlerOptions{Level: slog.LevelDebug}))

func logOut() io.Writer {
	if os.Getenv("MIRROR_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// peer is a profile with its journal, online on the relay.
type peer struct {
	db *journal.DB
	io *peerio.IO
	// first are messages sent on port.ChannelHeld before each session
	// starts (a device's certificate, revocations).
	first [][]byte
}

func newPeer(t testing.TB, url string, n byte) *peer {
	seed := identity.Seed{n}
	db, err := journal.Open(testCtx(t), store.NewMemory(), seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{db: db, io: peerio.New(fmt.Sprint("peer", n), seed, peerio.Config{Relay: url, Logger: quiet, Retry: 50 * time.Millisecond})}
	if err := p.io.On(testCtx(t), func(port.Port) {}); err != nil { // the ports it opens come here too: the test runs them
		t.Fatal(err)
	}
	t.Cleanup(func() { p.io.Close() })
	return p
}

// session opens a port to the mirror and runs replication on it until
// the returned stop is called.
func (p *peer) session(t testing.TB, to identity.ID, cfg replication.Config, share ...*journal.Book) (stop func()) {
	t.Helper()
	stop, _, _ = p.open(t, to, cfg, false, share...)
	return stop
}

// run is session, with the error the session ended with (once it ended).
func (p *peer) run(t testing.TB, to identity.ID, cfg replication.Config, share ...*journal.Book) (stop func(), ended <-chan error) {
	t.Helper()
	stop, ended, _ = p.open(t, to, cfg, false, share...)
	return stop, ended
}

// sessionHeld is session; with held, the mirror's receipts arrive on the
// returned channel (which must be read).
func (p *peer) sessionHeld(t testing.TB, to identity.ID, cfg replication.Config, held bool, share ...*journal.Book) (stop func(), receipts port.Port) {
	t.Helper()
	stop, _, receipts = p.open(t, to, cfg, held, share...)
	return stop, receipts
}

// open runs a session (session, run, sessionHeld).
func (p *peer) open(t testing.TB, to identity.ID, cfg replication.Config, held bool, share ...*journal.Book) (stop func(), ended <-chan error, receipts port.Port) {
	t.Helper()
	pt, err := p.io.At(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	open := []byte{port.ChannelSync}
	if held || len(p.first) > 0 {
		open = append(open, port.ChannelHeld)
	}
	mux := port.NewMux(pt, open...)
	if held {
		receipts = mux.Channel(port.ChannelHeld)
	}
	for _, msg := range p.first {
		if err := mux.Channel(port.ChannelHeld).Send(testCtx(t), msg); err != nil {
			t.Fatal(err)
		}
	}
	if !held && len(p.first) > 0 {
		go drain(context.Background(), mux.Channel(port.ChannelHeld))
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	sess := replication.NewSession(p.db, mux.Channel(port.ChannelSync), cfg)
	for _, b := range share {
		sess.Share(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() { defer close(done); errc <- sess.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			mux.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop, errc, receipts
}

// servesTo reports whether m serves book to peer, a port of which
// presented no certificate.
func servesTo(m *Mirror, book, peer identity.ID) bool {
	return m.serves(&client{peer: peer}, book)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // a poll of cond, not a wait for time
	}
}

func holds(b *journal.Book, n uint64) func() bool {
	return func() bool {
		have := b.Have()
		return len(have) > 0 && have[0].Start == 0 && have[0].End >= n
	}
}

func startMirror(t testing.TB, url string, st store.Store, q Quota) *Mirror {
	t.Helper()
	m, err := Start(testCtx(t), Config{Store: st, Seed: identity.Seed{9}, Relay: url, Quota: q, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestPinAndServe: Ana pins her book to Bob to the mirror and goes
// offline; Bob gets it whole from the mirror, verified as Ana's. A book
// over Ana's quota is refused. The mirror, restarted on its disk, has kept
// everything and serves it again.
func TestPinAndServe(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	path := filepath.Join(t.TempDir(), "mirror.db")
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // the last one opened, after the mirror on it closed
	m := startMirror(t, url, st, Quota{Books: 2})
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	name := func(task string) string { return ana.db.ID().String() + "-" + bob.db.ID().String() + "-" + task }
	var books []*journal.Book
	for i := range 3 {
		b, err := ana.db.Author(testCtx(t), name(fmt.Sprint("task", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 100 {
			b.Append(testCtx(t), []byte(fmt.Sprintf("page %d of book %d", j, i)))
		}
		books = append(books, b)
	}
	stop := ana.session(t, m.ID(), replication.Config{}, books...)
	eventually(t, "two books pinned, the third refused", func() bool {
		s := m.Stats()
		if s.Books != 2 || s.Refused == 0 {
			return false
		}
		// The books are announced in no set order: the pinned ones first.
		slices.SortStableFunc(books, func(a, b *journal.Book) int {
			return boolInt(mirrored(t, m, a.Key()) == nil) - boolInt(mirrored(t, m, b.Key()) == nil)
		})
		for _, b := range books[:2] {
			if c := mirrored(t, m, b.Key()); c == nil || !holds(c, b.Len())() {
				return false
			}
		}
		return true
	})
	stop()
	ana.io.Close() // Ana is offline from here on
	if mirrored(t, m, books[2].Key()) != nil {
		t.Fatal("the book over quota was stored")
	}

	if !servesTo(m, books[0].Key(), bob.db.ID()) || !servesTo(m, books[0].Key(), ana.db.ID()) || servesTo(m, books[0].Key(), identity.New(identity.Seed{3}).ID()) {
		t.Fatal("the mirror serves a book to others than its author and its reader")
	}
	read := func(m *Mirror) {
		rep, err := bob.db.ReaderFrom(testCtx(t), books[0].Key(), ana.db.ID())
		if err != nil {
			t.Fatal(err)
		}
		stop := bob.session(t, m.ID(), replication.Config{FollowVia: func(_, holder identity.ID) bool { return holder == m.ID() }})
		eventually(t, "Bob has Ana's book from the mirror", holds(rep, books[0].Len()))
		stop()
		for i := uint64(0); i < books[0].Len(); i++ {
			want, _ := books[0].Get(testCtx(t), i)
			got, err := rep.Get(testCtx(t), i)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("page %d: %q, %v", i, got, err)
			}
		}
	}
	read(m)

	// Restarted on its disk: everything kept, served again.
	m.Close()
	st.Close()
	if st, err = boltstore.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	m = startMirror(t, url, st, Quota{Books: 2})
	if s := m.Stats(); s.Books != 2 || s.Authors != 1 || s.Bytes == 0 {
		t.Fatalf("after a restart: %+v", s)
	}
	read(m)
}

// kib returns n pages of 1 KiB, random like ciphertext.
func kib(n int) [][]byte {
	pages := make([][]byte, n)
	for i := range pages {
		pages[i] = make([]byte, 1024)
		rand.Read(pages[i])
	}
	return pages
}

// authored is a book Ana writes to Bob with n pages of 1 KiB after its
// genesis.
func authored(t testing.TB, ana *peer, bob identity.ID, task string, n int) *journal.Book {
	t.Helper()
	b, err := ana.db.Author(testCtx(t), ana.db.ID().String()+"-"+bob.String()+"-"+task, nil)
	if err != nil {
		t.Fatal(err)
	}
	for len := n; len > 0; len -= 1000 { // at most 1,000 pages a batch
		if _, err := b.Append(testCtx(t), kib(min(len, 1000))...); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// mirrored returns the mirror's copy of book (nil if it has none).
func mirrored(t testing.TB, m *Mirror, book identity.ID) *journal.Book {
	t.Helper()
	c, err := m.db.Get(testCtx(t), book)
	if err != nil {
		return nil
	}
	return c
}

// TestQuotaOnGrowth: a pinned book grows within its author's byte quota;
// a growth that would take the author over it is refused, whether its
// pages come with the head (a few) or are to be pulled (many): the
// mirror stores nothing of it, counts it, and the author's session ends
// saying why; the author's book keeps every page.
func TestQuotaOnGrowth(t *testing.T) {
	for _, c := range []struct {
		name  string
		pages int // the growth refused: pushed with the head up to 32 pages
	}{{"pushed", 30}, {"pulled", 40}} {
		t.Run(c.name, func(t *testing.T) {
			url := relaytest.Start(t, relay.DefaultLimits())
			m := startMirror(t, url, store.NewMemory(), Quota{Bytes: 40 << 10})
			ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
			b := authored(t, ana, bob.db.ID(), "task", 10)
			_, ended := ana.run(t, m.ID(), replication.Config{}, b)
			eventually(t, "the book pinned", func() bool { c := mirrored(t, m, b.Key()); return c != nil && holds(c, b.Len())() })
			if _, err := b.Append(testCtx(t), kib(5)...); err != nil { // within the quota
				t.Fatal(err)
			}
			copy := mirrored(t, m, b.Key())
			eventually(t, "the growth within the quota stored", holds(copy, b.Len()))
			// Counted once stored: the usage follows the pages.
			want := int64(b.Len()-1)*1024 + genesisBytes(t, []*journal.Book{b})
			eventually(t, "the growth within the quota counted", func() bool { return m.Stats().Bytes == want })
			before, held := m.Stats(), copy.Info()

			if _, err := b.Append(testCtx(t), kib(c.pages)...); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ended:
				if err == nil || !strings.Contains(err.Error(), "over quota") || !strings.Contains(err.Error(), b.Key().Short()) {
					t.Fatalf("Ana's session ended with %v, want the mirror's reason: over quota, naming the book", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the growth over quota did not end Ana's session")
			}
			after, now := m.Stats(), copy.Info()
			if after.Refused != before.Refused+1 || after.Bytes != before.Bytes || after.Books != before.Books {
				t.Fatalf("stats before %+v, after %+v: want one more refusal, nothing more held", before, after)
			}
			if now.Head.Length != held.Head.Length || !bytes.Equal(now.Head.Root[:], held.Head.Root[:]) || !slices.Equal(now.Have, held.Have) {
				t.Fatalf("the mirror's copy changed: %+v, then %+v", held, now)
			}
			if b.Len() != 1+10+5+uint64(c.pages) {
				t.Fatalf("Ana's book has %d pages", b.Len())
			}
		})
	}
}

// counter counts a session's messages by direction and type.
type counter struct {
	mu    sync.Mutex
	sent  map[replication.Type]int
	recv  map[replication.Type]int
	pages int // pages sent
}

func newCounter() *counter {
	return &counter{sent: map[replication.Type]int{}, recv: map[replication.Type]int{}}
}

func (c *counter) on(e replication.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Send {
		c.sent[e.Type]++
		c.pages += e.Pages
	} else {
		c.recv[e.Type]++
	}
}

func (c *counter) get() (sent, recv map[replication.Type]int, pages int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.sent), maps.Clone(c.recv), c.pages
}

// TestReconcileManyBooks: once the mirror holds 1,000 books of one
// author, a new session of the author reconciles them in one round trip:
// a hello each way, no have, no page sent again. A page written then goes
// alone, with its head.
func TestReconcileManyBooks(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	m := startMirror(t, url, store.NewMemory(), Quota{})
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	books := make([]*journal.Book, 1000)
	for i := range books {
		books[i] = authored(t, ana, bob.db.ID(), fmt.Sprint("task", i), 2)
	}
	stop := ana.session(t, m.ID(), replication.Config{}, books...)
	eventually(t, "1,000 books pinned", func() bool {
		s := m.Stats()
		return s.Books == len(books) && s.Bytes == int64(len(books))*2048+genesisBytes(t, books)
	})
	stop()

	c := newCounter()
	ana.session(t, m.ID(), replication.Config{OnEvent: c.on}, books...)
	eventually(t, "the mirror's hello", func() bool { _, recv, _ := c.get(); return recv[replication.TypeHello] == 1 })
	last := books[len(books)-1]
	if _, err := last.Append(testCtx(t), kib(1)...); err != nil {
		t.Fatal(err)
	}
	// Ana counts a message once it is sent: the mirror may hold the page
	// before Ana's count of the have that brought it.
	copy := mirrored(t, m, last.Key())
	eventually(t, "the new page on the mirror, its have counted", func() bool {
		sent, _, _ := c.get()
		return holds(copy, last.Len())() && sent[replication.TypeHave] > 0
	})
	sent, recv, pages := c.get()
	want := map[replication.Type]int{replication.TypeHello: 1, replication.TypeHave: 1}
	if !maps.Equal(sent, want) || pages != 1 || !maps.Equal(recv, map[replication.Type]int{replication.TypeHello: 1}) {
		t.Fatalf("Ana sent %v (%d pages), received %v: want a hello each way, then one have of the new page", sent, pages, recv)
	}
}

// genesisBytes is the size of the books' genesis pages.
func genesisBytes(t testing.TB, books []*journal.Book) int64 {
	var n int64
	for _, b := range books {
		g, err := b.Get(testCtx(t), 0)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(len(g))
	}
	return n
}

// TestResumeAfterKill: a mirror closed while it takes a book, started
// again on its bbolt file, holds the whole book after the author's next
// session: no page lost, none sent twice.
func TestResumeAfterKill(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	path := filepath.Join(t.TempDir(), "mirror.db")
	open := func() *boltstore.Store {
		st, err := boltstore.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st := open()
	m := startMirror(t, url, st, Quota{})
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	b := authored(t, ana, bob.db.ID(), "big", 20000)
	stop := ana.session(t, m.ID(), replication.Config{DataBytes: 16 << 10}, b)
	eventually(t, "a part of the book on the mirror", func() bool {
		c := mirrored(t, m, b.Key())
		return c != nil && c.Have().Count() >= 1000
	})
	m.Close()
	stop()
	st.Close()

	m = startMirror(t, url, open(), Quota{})
	c := mirrored(t, m, b.Key())
	held := c.Have().Count()
	if held == 0 || held >= b.Len() {
		t.Fatalf("the mirror held %d of %d pages when it closed: not in the middle of the transfer", held, b.Len())
	}
	cnt := newCounter()
	ana.session(t, m.ID(), replication.Config{OnEvent: cnt.on}, b)
	// Ana counts pages once sent: the mirror may hold the last ones first.
	eventually(t, "the whole book on the mirror, its pages counted", func() bool {
		_, _, pages := cnt.get()
		return holds(c, b.Len())() && uint64(pages) >= b.Len()-held
	})
	if _, _, pages := cnt.get(); uint64(pages) != b.Len()-held {
		t.Fatalf("Ana sent %d pages after the restart, the mirror lacked %d", pages, b.Len()-held)
	}
	var size int64
	for i := range b.Len() {
		want, _ := b.Get(testCtx(t), i)
		got, err := c.Get(testCtx(t), i)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("page %d on the mirror: %d bytes, %v", i, len(got), err)
		}
		size += int64(len(want))
	}
	if s := m.Stats(); s.Books != 1 || s.Bytes != size {
		t.Fatalf("stats %+v: want 1 book of %d bytes", s, size)
	}
}

// TestStrangerRefused: a peer that announces a book it did not write (a
// copy of Ana's: her signed head, her genesis) is refused, told why, and
// the mirror stores nothing.
func TestStrangerRefused(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	m := startMirror(t, url, store.NewMemory(), Quota{})
	ana, eve := newPeer(t, url, 1), newPeer(t, url, 3)
	b := authored(t, ana, eve.db.ID(), "task", 3)

	pt, err := eve.io.At(testCtx(t), m.ID())
	if err != nil {
		t.Fatal(err)
	}
	mux := port.NewMux(pt, port.ChannelSync)
	defer mux.Close()
	ch := mux.Channel(port.ChannelSync)
	up, err := b.MakeUpgrade(testCtx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := b.GetRange(testCtx(t), 0, b.Len())
	proof, err := b.RangeProof(testCtx(t), 0, b.Len(), b.Len())
	if err != nil {
		t.Fatal(err)
	}
	key := b.Key()
	push := &replication.Data{Key: key[:], Start: 0, Length: b.Len(), Pages: pages, Proof: *proof}
	for _, msg := range []struct {
		typ  replication.Type
		body any
	}{{replication.TypeHello, &replication.Hello{Full: true}}, {replication.TypeHave, &replication.Have{Upgrade: *up, Push: push}}} {
		enc, err := replication.Encode(msg.typ, msg.body)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Send(testCtx(t), enc); err != nil {
			t.Fatal(err)
		}
	}
	for {
		enc, err := ch.Recv(testCtx(t))
		if err != nil {
			t.Fatalf("no bye from the mirror: %v", err)
		}
		msg, err := replication.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if bye, ok := msg.(*replication.Bye); ok {
			if !strings.Contains(bye.Reason, "not by the peer") {
				t.Fatalf("bye %q: want it to say the book is not Eve's", bye.Reason)
			}
			break
		}
	}
	if s := m.Stats(); s != (Stats{}) || mirrored(t, m, b.Key()) != nil {
		t.Fatalf("the mirror took a stranger's copy: %+v", s)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestForkedAuthorRefused: Ana pins a book of 3 pages; a second device of
// hers (the same seed, another store) wrote other pages under the same
// book and pins them: the mirror proves the fork, ends that session
// saying so, and keeps exactly what it held.
func TestForkedAuthorRefused(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	m := startMirror(t, url, store.NewMemory(), Quota{})
	ana, bob := newPeer(t, url, 1), newPeer(t, url, 2)
	b := authored(t, ana, bob.db.ID(), "task", 3)
	stop := ana.session(t, m.ID(), replication.Config{Version: replication.Version}, b)
	eventually(t, "the mirror holds Ana's book", func() bool { return m.Held(b.Key()) == b.Len() })
	stop()
	held := mirrored(t, m, b.Key())
	before, err := held.GetRange(testCtx(t), 0, b.Len())
	if err != nil {
		t.Fatal(err)
	}

	// The laptop: Ana's seed, another store, the same book written again.
	// Ana's first device goes offline first: two IOs of one seed online at
	// once replace each other at the relay every Retry, and Ana's return
	// could cut the laptop's session short (the test passed only while
	// the relay was slow enough for the laptop to finish in between).
	ana.io.Close()
	laptopDB, err := journal.Open(testCtx(t), store.NewMemory(), identity.Seed{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	laptop := &peer{db: laptopDB, io: peerio.New("laptop", identity.Seed{1}, peerio.Config{Relay: url, Logger: quiet, Retry: 50 * time.Millisecond})}
	if err := laptop.io.On(testCtx(t), func(port.Port) {}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { laptop.io.Close() })
	fork := authored(t, laptop, bob.db.ID(), "task", 5)
	if fork.Key() != b.Key() {
		t.Fatal("the laptop's book is another book")
	}
	told := make(chan *journal.Fork, 1)
	onFork := func(book identity.ID, evidence *journal.Fork) {
		if book == b.Key() {
			select {
			case told <- evidence:
			default:
			}
		}
	}
	laptop.session(t, m.ID(), replication.Config{Version: replication.Version, OnFork: onFork}, fork)
	select {
	case evidence := <-told:
		if err := evidence.Verify(); err != nil {
			t.Fatalf("the mirror's evidence of the fork: %v", err)
		}
	case <-testCtx(t).Done():
		t.Fatal("the mirror did not tell the laptop its book forked")
	}
	if held.Fork() == nil {
		t.Fatal("the mirror's copy does not say it forked")
	}
	after, err := held.GetRange(testCtx(t), 0, b.Len())
	if err != nil {
		t.Fatal(err)
	}
	if m.Held(b.Key()) != b.Len() || !slices.EqualFunc(before, after, bytes.Equal) {
		t.Fatalf("the mirror's copy changed: holds %d pages", m.Held(b.Key()))
	}
}

// TestCloseWhilePortsArrive: the IO hands ports to the mirror from
// goroutines of its own, which may run while Close waits: each port is
// either served and closed by Close, or closed at once (none counted in the
// wait group Close is waiting on: a race; none served after Close).
func TestCloseWhilePortsArrive(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	m, err := Start(testCtx(t), Config{Store: store.NewMemory(), Seed: identity.Seed{9}, Relay: url, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var peers []port.Port
	closed, fed := make(chan struct{}), make(chan struct{})
	go func() { // ports keep arriving, before, while and after Close runs
		defer close(fed)
		for i := 0; ; i++ {
			theirs, mine := port.Pipe(identity.New(identity.Seed{byte(10 + i%200)}).ID(), m.ID(), 16)
			mu.Lock()
			peers = append(peers, theirs)
			mu.Unlock()
			m.serve(mine)
			select {
			case <-closed:
				if i%4 == 3 {
					return
				}
			default:
			}
		}
	}()
	m.Close()
	close(closed)
	<-fed
	mu.Lock()
	defer mu.Unlock()
	for i, p := range peers {
		if err := p.Send(testCtx(t), []byte{0}); !errors.Is(err, port.ErrClosed) {
			t.Fatalf("port %d of %d after Close: %v, want closed", i, len(peers), err)
		}
	}
}
