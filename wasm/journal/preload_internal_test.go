package journal

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// seeksAtOnce counts the Seek calls running at once (an own book's load
// reads its tree hashes with one).
type seeksAtOnce struct {
	store.Store
	mu        sync.Mutex
	now, most int
}

func (s *seeksAtOnce) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	s.mu.Lock()
	s.now++
	s.most = max(s.most, s.now)
	s.mu.Unlock()
	time.Sleep(time.Millisecond) // lets loads overlap; the bound holds whatever the timing
	defer func() {
		s.mu.Lock()
		s.now--
		s.mu.Unlock()
	}()
	return s.Store.Seek(ctx, table, end, keys...)
}

// TestPreloadBounded: Preload loads at most preloadAtOnce books at once.
// The books' records keep no tree hashes (as an older build wrote them), so
// each load reads them with a Seek.
func TestPreloadBounded(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	seed := identity.Seed{9}
	db, err := Open(ctx, mem, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []identity.ID
	for i := range 3 * preloadAtOnce {
		b, err := db.Author(ctx, fmt.Sprint("book-", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, b.Key())
		rec := b.rec
		rec.Frontier = nil
		v, err := Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		var w store.Batch
		w.Put(store.TableBooks, b.key[:], v)
		if err := mem.Write(ctx, &w); err != nil {
			t.Fatal(err)
		}
	}
	st := &seeksAtOnce{Store: mem}
	db, err = Open(ctx, st, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Preload(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if st.most == 0 {
		t.Fatal("no load read its tree hashes")
	}
	if st.most > preloadAtOnce {
		t.Fatalf("%d books loaded at once, at most %d", st.most, preloadAtOnce)
	}
	t.Logf("%d books loaded at once", st.most)
}
