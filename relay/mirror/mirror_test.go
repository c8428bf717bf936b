//go:build !js

package mirror

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
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

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// peer is a profile with its journal, online on the relay.
type peer struct {
	db *journal.DB
	io *peerio.IO
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
func (p *peer) session(t *testing.T, to identity.ID, cfg replication.Config, share ...*journal.Book) (stop func()) {
	t.Helper()
	stop, _ = p.run(t, to, cfg, share...)
	return stop
}

// run is session, with the error the session ended with (once it ended).
func (p *peer) run(t testing.TB, to identity.ID, cfg replication.Config, share ...*journal.Book) (stop func(), ended <-chan error) {
	t.Helper()
	pt, err := p.io.At(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	mux := port.NewMux(pt, port.ChannelSync)
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
	return stop, errc
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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
		for _, b := range books[:2] {
			if c, err := m.db.Get(testCtx(t), b.Key()); err != nil || !holds(c, b.Len())() {
				return false
			}
		}
		return true
	})
	stop()
	ana.io.Close() // Ana is offline from here on

	if !m.serves(books[0].Key(), bob.db.ID()) || !m.serves(books[0].Key(), ana.db.ID()) || m.serves(books[0].Key(), identity.New(identity.Seed{3}).ID()) {
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
