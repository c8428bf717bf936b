package replication_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

// TestSessionOpensBooksTogether: a session opens the books it shares with
// its peer (here three replicas and two books written for it, none open
// yet) with one request for their records before its hello, not one
// request each in turn.
func TestSessionOpensBooksTogether(t *testing.T) {
	ana := openDB(t, 1)
	st := newStore(t)
	seed := identity.Seed{2}
	bob := reopenDB(t, st, seed)
	for _, task := range []string{"t1", "t2", "t3"} {
		b, _ := bookFor(t, ana, bob, task)
		fill(t, b, 2, 16, task)
	}
	for _, task := range []string{"t1", "t2"} {
		b, _ := bookFor(t, bob, ana, task)
		fill(t, b, 2, 16, task)
	}
	// Bob's tab reopens the profile: no book is open.
	counted := &storetest.Gets{Store: st, Table: store.TableBooks}
	bob = reopenDB(t, counted, seed)
	atHello := make(chan int64, 1)
	cfg := atFirstHello(func() { atHello <- counted.N() })
	before := counted.N()
	connect(t, ana, bob, replication.Config{}, cfg, nil)
	if n := <-atHello - before; n != 1 {
		t.Fatalf("the session made %d requests for book records before its hello, want 1", n)
	}
}

// BenchmarkSessionStart1000Books: a session of a profile that shares
// 1,000 books with its peer (500 it writes for the peer, 500 replicas of
// the peer's), just reopened, from its start to its hello. In the
// browser (IndexedDB) the books' records come in one request.
func BenchmarkSessionStart1000Books(b *testing.B) {
	const n = 500
	ana := openDB(b, 1)
	st := newStore(b)
	seed := identity.Seed{2}
	bob := reopenDB(b, st, seed)
	for i := range n {
		task := fmt.Sprintf("t%d", i)
		theirs, _ := bookFor(b, ana, bob, task)
		fill(b, theirs, 1, 16, task)
		mine, _ := bookFor(b, bob, ana, task)
		fill(b, mine, 1, 16, task)
	}
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// Bob's tab reopens the profile: no book is open.
		bob = reopenDB(b, st, seed)
		hello := make(chan time.Time, 1)
		cfg := atFirstHello(func() { hello <- time.Now() })
		b.StartTimer()
		start := time.Now()
		l := connect(b, ana, bob, replication.Config{}, cfg, nil)
		total += (<-hello).Sub(start)
		b.StopTimer()
		l.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-hello")
}

// reopenDB opens the profile of seed on st, its catalog read (as the
// room reads it while it opens): no book is open.
func reopenDB(tb testing.TB, st store.Store, seed identity.Seed) *journal.DB {
	tb.Helper()
	db, err := journal.Open(ctx, st, seed, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Catalog(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

// atFirstHello is a session config that calls f when the session sends
// its first hello.
func atFirstHello(f func()) replication.Config {
	var once sync.Once
	return replication.Config{OnEvent: func(ev replication.Event) {
		if ev.Send && ev.Type == replication.TypeHello {
			once.Do(f)
		}
	}}
}

// TestShareOwn: an own book not named for the peer is shared when
// Config.ShareOwn says so, in the session's pass over the books as it
// starts; another is not.
func TestShareOwn(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	shared, err := ana.Author(ctx, "files-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, shared, 3, 16, "files-1")
	kept, err := ana.Author(ctx, "files-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, kept, 3, 16, "files-2")
	l := connect(t, ana, bob, replication.Config{ShareOwn: func(name string) bool { return name == "files-1" }}, replication.Config{}, nil)
	defer l.stop()
	waitFor(t, bob, "the shared book at the peer", func() bool {
		b, err := bob.Get(ctx, shared.Key())
		return err == nil && b.Len() == shared.Len()
	})
	if _, err := bob.Get(ctx, kept.Key()); err == nil {
		t.Fatal("a book ShareOwn did not name was shared")
	}
}
