package replication_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// gatedStore holds every write while its gate is closed.
type gatedStore struct {
	store.Store
	mu   sync.Mutex
	gate chan struct{} // nil: writes go through
}

func (s *gatedStore) Write(c context.Context, b *store.Batch) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-c.Done():
			return c.Err()
		}
	}
	return s.Store.Write(c, b)
}

func (s *gatedStore) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

func (s *gatedStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.gate)
	s.gate = nil
}

// TestPreviewAhead: a page pushed while the reader is still storing the
// one before is told to the reader's Verified hooks as it arrives, before
// that write is done; then both are stored, in order.
func TestPreviewAhead(t *testing.T) {
	author := openDB(t, 1)
	gated := &gatedStore{Store: newStore(t)}
	reader, err := journal.Open(ctx, gated, identity.Seed{2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	book, replica := bookFor(t, author, reader, "ahead")
	fill(t, book, 1, 64, "first")
	connect(t, author, reader, replication.Config{}, replication.Config{}, nil)
	waitFor(t, reader, "the first page", holds(replica, 2))

	told, stored := make(chan uint64, 16), make(chan uint64, 16)
	cancel := reader.Verified(func(ev journal.Event) {
		if ev.Book == book.Key() {
			told <- ev.Index
		}
	})
	defer cancel()
	unsubscribe := reader.Subscribe(func(ev journal.Event) {
		if ev.Book == book.Key() && ev.Type == journal.EventPut {
			stored <- ev.Index
		}
	})
	defer unsubscribe()
	gated.hold()
	fill(t, book, 1, 64, "second") // page 2: its write is held
	toldOf(t, told, 2)
	fill(t, book, 1, 64, "third") // page 3 arrives while page 2 is being stored
	toldOf(t, told, 3)
	select {
	case i := <-stored:
		t.Fatalf("page %d stored while the writes are held", i)
	default:
	}
	gated.release()
	waitFor(t, reader, "all pages", holds(replica, 4))
	sameBook(t, book, replica)
}

// toldOf waits until told says index (a minute at most).
func toldOf(t *testing.T, told <-chan uint64, index uint64) {
	t.Helper()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for {
		select {
		case got := <-told:
			if got == index {
				return
			}
		case <-timeout.C:
			t.Fatalf("never told of page %d", index)
		}
	}
}
