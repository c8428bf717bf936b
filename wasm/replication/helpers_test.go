package replication_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOptions...) }

var ctx = context.Background()

func openDB(t testing.TB, n byte) *journal.DB {
	t.Helper()
	var s identity.Seed
	for i := range s {
		s[i] = n
	}
	db, err := journal.Open(ctx, newStore(t), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// bookFor creates the book author writes for reader, and the reader's
// replica of it (expecting that author), as the room protocol would.
func bookFor(t testing.TB, author, reader *journal.DB, task string) (*journal.Book, *journal.Book) {
	t.Helper()
	b, err := author.Author(ctx, author.ID().String()+"-"+reader.ID().String()+"-"+task, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := reader.ReaderFrom(ctx, b.Key(), author.ID())
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}

func fill(t testing.TB, b *journal.Book, n, size int, tag string) {
	t.Helper()
	const batch = 1000
	buf := make([][]byte, 0, batch)
	for i := 0; i < n; i++ {
		p := make([]byte, size)
		copy(p, fmt.Sprintf("%s-%d", tag, i))
		buf = append(buf, p)
		if len(buf) == batch || i == n-1 {
			if _, err := b.Append(ctx, buf...); err != nil {
				t.Fatal(err)
			}
			buf = buf[:0]
		}
	}
}

// link runs sessions of a and b over an in-memory port until stop.
type link struct {
	A, B   *replication.Session
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errA   error
	errB   error
}

func connect(t testing.TB, a, b *journal.DB, cfgA, cfgB replication.Config, wrap func(port.Port) port.Port) *link {
	t.Helper()
	pa, pb := port.Pipe(a.ID(), b.ID(), 64)
	if wrap != nil {
		pb = wrap(pb)
	}
	l := &link{A: replication.NewSession(a, pa, cfgA), B: replication.NewSession(b, pb, cfgB)}
	c, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.errA = l.A.Run(c); pa.Close() }()
	go func() { defer l.wg.Done(); l.errB = l.B.Run(c); pb.Close() }()
	t.Cleanup(l.stop)
	return l
}

// stop ends both sessions and waits for them.
func (l *link) stop() {
	l.cancel()
	l.wg.Wait()
}

// waitFor waits until cond holds, re-checking it on every change of db.
func waitFor(t testing.TB, db *journal.DB, what string, cond func() bool) {
	t.Helper()
	changed := make(chan struct{}, 1)
	cancel := db.Subscribe(func(journal.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer cancel()
	// It gives up only after a minute without any change: a slow machine
	// (a browser's IndexedDB on a busy CI) may take longer in all, but
	// keeps moving.
	const still = 60 * time.Second
	timeout := time.NewTimer(still)
	defer timeout.Stop()
	for !cond() {
		select {
		case <-changed:
			timeout.Reset(still)
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s (nothing changed for %v)", what, still)
		}
	}
}

func holds(r *journal.Book, n uint64) func() bool {
	return func() bool {
		h := r.Have()
		return r.Len() >= n && len(h) == 1 && h[0].Start == 0 && h[0].End >= n
	}
}

func sameBook(t testing.TB, a, b *journal.Book) {
	t.Helper()
	if a.Head().Root != b.Head().Root || a.Len() != b.Len() {
		t.Fatalf("heads differ: %d vs %d", a.Len(), b.Len())
	}
	pa, err := a.GetRange(ctx, 0, a.Len())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.GetRange(ctx, 0, b.Len())
	if err != nil {
		t.Fatal(err)
	}
	for i := range pa {
		if !bytes.Equal(pa[i], pb[i]) {
			t.Fatalf("page %d differs", i)
		}
	}
}

// snapshot is every table of a store, to prove a refused input stored nothing.
func snapshot(t testing.TB, st store.Store) string { return storetest.Snapshot(t, st) }

// closeAfter wraps a port so that it closes itself after n received data messages.
type closeAfter struct {
	port.Port
	mu sync.Mutex
	n  int
}

func (c *closeAfter) Recv(ctx context.Context) ([]byte, error) {
	m, err := c.Port.Recv(ctx)
	if err != nil {
		return m, err
	}
	if d, derr := replication.Decode(m); derr == nil {
		if _, ok := d.(*replication.Data); ok {
			c.mu.Lock()
			c.n--
			n := c.n
			c.mu.Unlock()
			if n < 0 {
				c.Port.Close()
				return nil, port.ErrClosed
			}
		}
	}
	return m, err
}
