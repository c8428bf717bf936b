//go:build !js

package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeFixture()
		os.Exit(code)
	}))
}

// openTemp opens a new store in the test's temporary directory and closes
// it when the test ends.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mirror.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	var b store.Batch
	b.Put(store.TableMeta, []byte("profile"), []byte("mirror"))
	b.Put(store.TableBooks, []byte("empty"), nil)
	for i := range 1000 {
		b.Put(store.TablePages, binary.BigEndian.AppendUint64([]byte("book"), uint64(i)), bytes.Repeat([]byte{byte(i)}, 1024))
	}
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	before := storetest.Snapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if after := storetest.Snapshot(t, s2); after != before {
		t.Fatalf("after reopen the store holds %d bytes of text, before %d", len(after), len(before))
	}
	if v, err := store.GetOne(ctx, s2, store.TableBooks, []byte("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value after reopen = %q (nil %v), %v; want present and empty", v, v == nil, err)
	}
	es, err := s2.Scan(ctx, store.TablePages, []byte("book"), nil, 0)
	if err != nil || len(es) != 1000 || es[999].Value[0] != 999&0xff {
		t.Fatalf("pages after reopen: %d, %v; want 1000", len(es), err)
	}
}

// TestValuesOutliveTheTransaction overwrites and grows the file after a
// read: values read before must be copies, not views of bbolt's map.
func TestValuesOutliveTheTransaction(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	put := func(v byte, n int) {
		var b store.Batch
		for i := range n {
			b.Put(store.TablePages, binary.BigEndian.AppendUint32([]byte("p"), uint32(i)), bytes.Repeat([]byte{v}, 1024))
		}
		if err := s.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	put(1, 10)
	got, err := s.Get(ctx, store.TablePages, binary.BigEndian.AppendUint32([]byte("p"), 3))
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.Scan(ctx, store.TablePages, []byte("p"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	put(2, 10)
	put(3, 20000) // 20 MiB: bbolt remaps the file
	if !bytes.Equal(got[0], bytes.Repeat([]byte{1}, 1024)) {
		t.Fatal("a value from Get changed after later writes")
	}
	for _, e := range es {
		if !bytes.Equal(e.Value, bytes.Repeat([]byte{1}, 1024)) || !bytes.HasPrefix(e.Key, []byte("p")) {
			t.Fatalf("an entry from Scan changed after later writes: key %x", e.Key)
		}
	}
}

// TestConcurrentConflictWritesNothing has two writers race, many times,
// to move a book record from the same value with their own pages: exactly
// one wins each round, and the loser's pages are nowhere.
func TestConcurrentConflictWritesNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	head := []byte("head")
	for round := range 50 {
		old := fmt.Appendf(nil, "v%d", round)
		var start store.Batch
		start.Put(store.TableBooks, head, old)
		if err := s.Write(ctx, &start); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w := range 2 {
			wg.Go(func() {
				var b store.Batch
				b.Expect(store.TableBooks, head, old)
				b.Put(store.TableBooks, head, fmt.Appendf(nil, "v%d-w%d", round, w))
				b.Put(store.TablePages, fmt.Appendf(nil, "r%03d-w%d", round, w), []byte("page"))
				errs[w] = s.Write(ctx, &b)
			})
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: errors %v and %v; want exactly one conflict", round, errs[0], errs[1])
		}
		loser := 0
		if errs[1] != nil {
			loser = 1
		}
		var ce *store.ConflictError
		if !errors.As(errs[loser], &ce) || !bytes.Equal(ce.Cond.Key, head) {
			t.Fatalf("round %d: loser's error %v, want a *store.ConflictError on the head", round, errs[loser])
		}
		v, err := store.GetOne(ctx, s, store.TableBooks, head)
		if err != nil || string(v) != fmt.Sprintf("v%d-w%d", round, 1-loser) {
			t.Fatalf("round %d: head = %q, %v; want the winner's", round, v, err)
		}
		if v, err := store.GetOne(ctx, s, store.TablePages, fmt.Appendf(nil, "r%03d-w%d", round, loser)); err != nil || v != nil {
			t.Fatalf("round %d: the loser's page = %q, %v; want absent", round, v, err)
		}
	}
}

// TestGroupSkipsConflict commits two batches with the same condition in
// one transaction, as the writer does when they arrive together: the first
// applies, the second conflicts and writes nothing, a third that is
// canceled writes nothing, and a fourth that expects the first's result
// applies.
func TestGroupSkipsConflict(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var start store.Batch
	start.Put(store.TableBooks, []byte("head"), []byte("v1"))
	if err := s.Write(ctx, &start); err != nil {
		t.Fatal(err)
	}
	batch := func(expect, next, page string) *store.Batch {
		var b store.Batch
		b.Expect(store.TableBooks, []byte("head"), []byte(expect))
		b.Put(store.TableBooks, []byte("head"), []byte(next))
		b.Put(store.TablePages, []byte(page), []byte(page))
		return &b
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	group := []*write{
		{ctx: ctx, b: batch("v1", "a", "pa")},
		{ctx: ctx, b: batch("v1", "b", "pb")},
		{ctx: canceled, b: batch("a", "c", "pc")},
		{ctx: ctx, b: batch("a", "d", "pd")},
	}
	for _, w := range group {
		w.done = make(chan error, 1)
	}
	s.commit(group)
	want := []error{nil, store.ErrConflict, context.Canceled, nil}
	for i, w := range group {
		if err := <-w.done; !errors.Is(err, want[i]) || (want[i] == nil) != (err == nil) {
			t.Errorf("batch %d: %v, want %v", i, err, want[i])
		}
	}
	got := storetest.Snapshot(t, s)
	wantSnap := fmt.Sprintf("books %x %x\npages %x %x\npages %x %x\n", "head", "d", "pa", "pa", "pd", "pd")
	if got != wantSnap {
		t.Fatalf("store after the group:\n%s\nwant:\n%s", got, wantSnap)
	}
}

func TestTooLarge(t *testing.T) {
	s, _ := openTemp(t)
	var b store.Batch
	b.Put(store.TablePages, []byte("ok"), []byte("1"))
	b.Put(store.TablePages, make([]byte, MaxKeySize+1), []byte("2"))
	if err := s.Write(context.Background(), &b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write of a key of %d bytes: %v, want ErrTooLarge", MaxKeySize+1, err)
	}
	if snap := storetest.Snapshot(t, s); snap != "" {
		t.Fatalf("a refused batch wrote:\n%s", snap)
	}
}

func TestLocked(t *testing.T) {
	_, path := openTemp(t)
	s, err := Open(path, &Options{LockTimeout: -1})
	if !errors.Is(err, ErrLocked) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("second Open of %s: %v, want ErrLocked", path, err)
	}
	t.Log(err)
}

// setSchema closes s and writes version into its file's schema record.
func setSchema(t *testing.T, s *Store, path string, version uint64) {
	t.Helper()
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(schemaBucket).Put(schemaKey, binary.BigEndian.AppendUint64(nil, version))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchema(t *testing.T) {
	s, path := openTemp(t)
	setSchema(t, s, path, store.SchemaVersion+1)
	if s, err := Open(path, nil); !errors.Is(err, ErrNewerSchema) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a newer store: %v, want ErrNewerSchema", err)
	}
}

// A file of an older schema opens, keeps its records, and is marked with
// the current schema, so that the older program refuses it from then on.
func TestOlderSchema(t *testing.T) {
	s, path := openTemp(t)
	var b store.Batch
	b.Put(store.TablePages, []byte("p"), []byte("v1 record"))
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	setSchema(t, s, path, 1)
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.GetOne(context.Background(), s, store.TablePages, []byte("p"))
	if err != nil || string(v) != "v1 record" {
		t.Fatalf("record after the upgrade: %q, %v", v, err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if got := binary.BigEndian.Uint64(tx.Bucket(schemaBucket).Get(schemaKey)); got != store.SchemaVersion {
			t.Errorf("schema record %d after opening, want %d", got, store.SchemaVersion)
		}
		return nil
	})
}

func TestNotStore(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone else's"))
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(other, nil); !errors.Is(err, ErrNotStore) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of another program's bbolt file: %v, want ErrNotStore", err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(text, nil); !errors.Is(err, ErrNotStore) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a text file: %v, want ErrNotStore", err)
	} else {
		t.Log(err)
	}
}

// TestNoChangeNoCommit checks that a group that writes nothing (a
// condition only, a conflict) is not committed: the file's transaction
// id stays.
func TestNoChangeNoCommit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var b store.Batch
	b.Put(store.TableMeta, []byte("k"), []byte("v"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	txid := func() int {
		var id int
		s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	b.Reset()
	b.Expect(store.TableMeta, []byte("k"), []byte("v"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.Expect(store.TableMeta, []byte("k"), []byte("w"))
	b.Put(store.TableMeta, []byte("k"), []byte("x"))
	if err := s.Write(ctx, &b); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Write: %v, want a conflict", err)
	}
	if after := txid(); after != before {
		t.Fatalf("transaction id went from %d to %d for writes that changed nothing", before, after)
	}
	b.Reset()
	b.Put(store.TableMeta, []byte("k"), []byte("x"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if after := txid(); after != before+1 {
		t.Fatalf("transaction id went from %d to %d for one write", before, after)
	}
}
