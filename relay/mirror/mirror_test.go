//go:build !js

package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
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

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// peer is a profile with its journal, online on the relay.
type peer struct {
	db *journal.DB
	io *peerio.IO
}

func newPeer(t *testing.T, url string, n byte) *peer {
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
	stop, _ = p.sessionHeld(t, to, cfg, false, share...)
	return stop
}

// sessionHeld is session; with held, the mirror's receipts arrive on the
// returned channel (which must be read).
func (p *peer) sessionHeld(t *testing.T, to identity.ID, cfg replication.Config, held bool, share ...*journal.Book) (stop func(), receipts port.Port) {
	t.Helper()
	pt, err := p.io.At(testCtx(t), to)
	if err != nil {
		t.Fatal(err)
	}
	open := []byte{port.ChannelSync}
	if held {
		open = append(open, port.ChannelHeld)
	}
	mux := port.NewMux(pt, open...)
	if held {
		receipts = mux.Channel(port.ChannelHeld)
	}
	cfg.Logger = quiet
	sess := replication.NewSession(p.db, mux.Channel(port.ChannelSync), cfg)
	for _, b := range share {
		sess.Share(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sess.Run(ctx) }()
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
	return stop, receipts
}

func eventually(t *testing.T, what string, cond func() bool) {
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

func startMirror(t *testing.T, url string, st store.Store, q Quota) *Mirror {
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
