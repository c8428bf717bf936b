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

// TestCatalog: Catalog lists what Books lists, books opened, created,
// grown and deleted since included, and reads the store only the first
// time.
func TestCatalog(t *testing.T) {
	ctx := context.Background()
	db, st, _, _ := reopenedProfile(t, identity.Seed{8}, map[string][]string{"a": {"a"}, "b": {"b"}, "c": {"c"}})
	same := func(step string) {
		t.Helper()
		reads := st.reads.Load()
		got, err := db.Catalog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.reads.Load() - reads; n != 0 {
			t.Fatalf("%s: Catalog read the store %d times", step, n)
		}
		want, err := db.Books(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(x, y journal.BookInfo) bool {
			return x.Key == y.Key && x.Name == y.Name && x.Author == y.Author && x.Writable == y.Writable && x.Head.Length == y.Head.Length
		}) {
			t.Fatalf("%s: Catalog %v, Books %v", step, names(got), names(want))
		}
	}
	reads := st.reads.Load()
	if _, err := db.Catalog(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.reads.Load() - reads; n != 1 {
		t.Fatalf("the first Catalog read the store %d times, want 1", n)
	}
	same("again")
	a, err := db.Author(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, []byte("more")); err != nil {
		t.Fatal(err)
	}
	same("a book opened and grown")
	if _, err := db.Author(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	same("a book created")
	if _, err := db.DeleteBook(ctx, db.BookKey("b")); err != nil {
		t.Fatal(err)
	}
	same("a book deleted")
}

func names(infos []journal.BookInfo) []string {
	out := make([]string, len(infos))
	for i, bi := range infos {
		out[i] = fmt.Sprintf("%s/%d", bi.Name, bi.Head.Length)
	}
	return out
}

// heldScans holds the first scan of the books table until release is
// closed, telling scanning when it starts; it then fails it if fail.
type heldScans struct {
	store.Store
	scanning chan struct{}
	release  chan struct{}
	fail     bool
	once     sync.Once
}

func (s *heldScans) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	first := false
	if table == store.TableBooks {
		s.once.Do(func() { first = true })
	}
	if first {
		close(s.scanning)
		<-s.release
		if s.fail {
			return nil, errors.New("held scan failed")
		}
	}
	return s.Store.Scan(ctx, table, start, end, limit)
}

// TestCatalogOneRead: a Catalog that comes while another reads the store
// waits for that read (here: gives up when its ctx ends) rather than read
// it again; the calls then list the same books. A read that failed is
// made again by the next call.
func TestCatalogOneRead(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			ctx := context.Background()
			db, st, _, _ := reopenedProfile(t, identity.Seed{9}, map[string][]string{"a": {"a"}, "b": {"b"}})
			held := &heldScans{Store: st.Store, scanning: make(chan struct{}), release: make(chan struct{}), fail: fail}
			st.Store = held
			type listing struct {
				infos []journal.BookInfo
				err   error
			}
			first := make(chan listing, 1)
			go func() {
				infos, err := db.Catalog(ctx)
				first <- listing{infos, err}
			}()
			<-held.scanning
			reads := st.reads.Load()
			gone, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := db.Catalog(gone); !errors.Is(err, context.Canceled) {
				t.Fatalf("a Catalog during the read: %v, want it to wait (and give up: context.Canceled)", err)
			}
			if n := st.reads.Load() - reads; n != 0 {
				t.Fatalf("a Catalog during the read read the store %d times", n)
			}
			close(held.release)
			a := <-first
			if fail != (a.err != nil) {
				t.Fatalf("the held read: %v", a.err)
			}
			b, err := db.Catalog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(1)
			if fail {
				want = 2 // read again
			} else if !slices.EqualFunc(a.infos, b, func(x, y journal.BookInfo) bool { return x.Key == y.Key }) {
				t.Fatalf("%v, then %v", names(a.infos), names(b))
			}
			if n := st.reads.Load() - reads + 1; n != want {
				t.Fatalf("the store was read %d times, want %d", n, want)
			}
		})
	}
}
