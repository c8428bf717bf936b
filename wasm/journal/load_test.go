package journal_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestLoadSideBySide: books load side by side (a DB reads a book's record
// without holding its lock): many goroutines opening the same books, own
// and replicas, existing and new, with preloads of them all beside, each
// get the one Book of its key, and every one holds what was stored.
func TestLoadSideBySide(t *testing.T) {
	st := newStore(t)
	db := openDB(t, st, 1)
	const n = 8
	var names []string
	for i := range n {
		name := fmt.Sprintf("book-%d", i)
		b, err := db.Author(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, pages(3, 100, name)...); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	var readers []identity.ID
	for i := range n {
		readers = append(readers, identity.New(identity.Seed{0x70, byte(i)}).ID())
	}
	db = openDB(t, st, 1) // a new DB on the store: no book loaded yet

	var (
		mu  sync.Mutex
		got = make(map[identity.ID]map[*journal.Book]bool)
		wg  sync.WaitGroup
	)
	keep := func(b *journal.Book) {
		mu.Lock()
		defer mu.Unlock()
		if got[b.Key()] == nil {
			got[b.Key()] = make(map[*journal.Book]bool)
		}
		got[b.Key()][b] = true
	}
	all := slices.Clone(readers)
	for _, name := range names {
		all = append(all, db.BookKey(name))
	}
	for range 4 {
		wg.Add(1)
		go func() { // books preloaded while others open them one by one
			defer wg.Done()
			if err := db.Preload(ctx, all); err != nil {
				t.Error(err)
			}
		}()
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				b, err := db.Author(ctx, names[i], nil)
				if err != nil {
					t.Error(err)
					return
				}
				keep(b)
			}()
			go func() {
				defer wg.Done()
				b, err := db.Reader(ctx, readers[i])
				if err != nil {
					t.Error(err)
					return
				}
				keep(b)
			}()
		}
	}
	wg.Wait()
	if len(got) != 2*n {
		t.Fatalf("%d books opened, want %d", len(got), 2*n)
	}
	for key, bs := range got {
		if len(bs) != 1 {
			t.Fatalf("book %s: %d Books for one key", key.Short(), len(bs))
		}
		for b := range bs {
			if b.Writable() && b.Len() != 4 {
				t.Fatalf("book %s: %d pages, want 4", key.Short(), b.Len())
			}
		}
	}
}

// gatedStore holds the first read of one book's record until released.
type gatedStore struct {
	store.Store
	key     identity.ID
	reached chan struct{} // closed when the read is held
	release chan struct{}
	once    sync.Once
}

func (s *gatedStore) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	if table == store.TableBooks && len(keys) == 1 && string(keys[0]) == string(s.key[:]) {
		held := false
		s.once.Do(func() { held = true })
		if held {
			v, err := s.Store.Get(ctx, table, keys...) // read before the delete
			close(s.reached)
			<-s.release
			return v, err
		}
	}
	return s.Store.Get(ctx, table, keys...)
}

// TestLoadDuringDelete: a book deleted while another call reads its
// record is not brought back from that record: the call reads again and
// finds nothing.
func TestLoadDuringDelete(t *testing.T) {
	mem := newStore(t)
	db := openDB(t, mem, 1)
	reader := identity.New(identity.Seed{0x71}).ID()
	if _, err := db.Reader(ctx, reader); err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: mem, key: reader, reached: make(chan struct{}), release: make(chan struct{})}
	db = openDB(t, gs, 1)

	loaded := make(chan error, 1)
	go func() {
		_, err := db.Get(ctx, reader)
		loaded <- err
	}()
	<-gs.reached // the Get read the record and waits
	if _, err := db.DeleteBook(ctx, reader); err != nil {
		t.Fatal(err)
	}
	close(gs.release)
	if err := <-loaded; !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get of a book deleted while it loaded: %v, want ErrNotFound", err)
	}
	if _, err := db.Get(ctx, reader); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Get after: %v, want ErrNotFound", err)
	}
}
