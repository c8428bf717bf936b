// Package storetest is the conformance suite every store.Store must pass:
// the memory store runs it natively, the IndexedDB store in a browser.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// Run runs the suite. newStore must return a new, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"BadBatchWritesNothing", testBadBatch},
		{"UnknownTable", testUnknownTable},
		{"ScanOrderAndBounds", testScan},
		{"Seek", testSeek},
		{"TablesAreSeparate", testTablesSeparate},
		{"LargeValue", testLargeValue},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceled},
		{"Closed", testClosed},
		{"ExpectHolds", testExpectHolds},
		{"ExpectFailsWritesNothing", testExpectFails},
		{"ExpectOnly", testExpectOnly},
		{"BadConditionWritesNothing", testBadCond},
		{"CompareAndSwapRace", testCASRace},
		{"DeleteRange", testDeleteRange},
		{"DeleteRangeConflictKeepsAll", testDeleteRangeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func put(t *testing.T, s store.Store, table string, kv ...string) {
	t.Helper()
	var b store.Batch
	for i := 0; i+1 < len(kv); i += 2 {
		b.Put(table, []byte(kv[i]), []byte(kv[i+1]))
	}
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func get(t *testing.T, s store.Store, table, key string) []byte {
	t.Helper()
	v, err := store.GetOne(context.Background(), s, table, []byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func testGetMissing(t *testing.T, s store.Store) {
	vs, err := s.Get(context.Background(), store.TablePages, []byte("a"), []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0] != nil || vs[1] != nil {
		t.Fatalf("Get of missing keys = %q, want two nils", vs)
	}
}

func testPutGet(t *testing.T, s store.Store) {
	put(t, s, store.TablePages, "a", "1", "b", "2", "empty", "")
	vs, err := s.Get(context.Background(), store.TablePages, []byte("b"), []byte("x"), []byte("a"), []byte("empty"))
	if err != nil {
		t.Fatal(err)
	}
	if string(vs[0]) != "2" || vs[1] != nil || string(vs[2]) != "1" || vs[3] == nil || len(vs[3]) != 0 {
		t.Fatalf("Get = %q, want [2 nil 1 \"\"]", vs)
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	put(t, s, store.TableBooks, "k", "old")
	put(t, s, store.TableBooks, "k", "new", "k", "newer")
	if v := get(t, s, store.TableBooks, "k"); string(v) != "newer" {
		t.Fatalf("value = %q, want newer", v)
	}
}

func testDelete(t *testing.T, s store.Store) {
	put(t, s, store.TableNames, "a", "1", "b", "2")
	var b store.Batch
	b.Delete(store.TableNames, []byte("a"))
	b.Delete(store.TableNames, []byte("missing"))
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if v := get(t, s, store.TableNames, "a"); v != nil {
		t.Fatalf("deleted key still has %q", v)
	}
	if v := get(t, s, store.TableNames, "b"); string(v) != "2" {
		t.Fatalf("other key = %q, want 2", v)
	}
}

func testBadBatch(t *testing.T, s store.Store) {
	var b store.Batch
	b.Put(store.TablePages, []byte("a"), []byte("1"))
	b.Put("nope", []byte("b"), []byte("2"))
	if err := s.Write(context.Background(), &b); !errors.Is(err, store.ErrUnknownTable) {
		t.Fatalf("Write with unknown table: err = %v, want ErrUnknownTable", err)
	}
	b.Reset()
	b.Put(store.TablePages, []byte("c"), []byte("3"))
	b.Put(store.TablePages, nil, []byte("4"))
	if err := s.Write(context.Background(), &b); !errors.Is(err, store.ErrEmptyKey) {
		t.Fatalf("Write with empty key: err = %v, want ErrEmptyKey", err)
	}
	for _, k := range []string{"a", "c"} {
		if v := get(t, s, store.TablePages, k); v != nil {
			t.Fatalf("refused batch wrote %q=%q", k, v)
		}
	}
}

func testUnknownTable(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nope", []byte("a")); !errors.Is(err, store.ErrUnknownTable) {
		t.Errorf("Get: err = %v, want ErrUnknownTable", err)
	}
	if _, err := s.Scan(ctx, "nope", nil, nil, 0); !errors.Is(err, store.ErrUnknownTable) {
		t.Errorf("Scan: err = %v, want ErrUnknownTable", err)
	}
}

func testScan(t *testing.T, s store.Store) {
	ctx := context.Background()
	var b store.Batch
	keys := [][]byte{{0xff}, {0x00, 0x01}, {0x01}, {0x00}, {0x80, 0x00}, {0x01, 0x00}}
	for _, k := range keys {
		b.Put(store.TableBooks, k, k)
	}
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{{0x00}, {0x00, 0x01}, {0x01}, {0x01, 0x00}, {0x80, 0x00}, {0xff}}
	cases := []struct {
		start, end []byte
		limit      int
		want       [][]byte
	}{
		{[]byte{0x00}, nil, 0, want},
		{[]byte{0x00}, nil, 2, want[:2]},
		{[]byte{0x01}, []byte{0x80}, 0, want[2:4]},
		{[]byte{0x01}, []byte{0x80, 0x00}, 0, want[2:4]},
		{[]byte{0x01}, []byte{0x80, 0x00, 0x00}, 0, want[2:5]},
		{[]byte{0x02}, []byte{0x03}, 0, nil},
	}
	for _, c := range cases {
		got, err := s.Scan(ctx, store.TableBooks, c.start, c.end, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("Scan(%x, %x, %d) = %d entries, want %d", c.start, c.end, c.limit, len(got), len(c.want))
		}
		for i := range got {
			if !bytes.Equal(got[i].Key, c.want[i]) || !bytes.Equal(got[i].Value, c.want[i]) {
				t.Fatalf("Scan(%x, %x, %d)[%d] = %x=%x, want %x", c.start, c.end, c.limit, i, got[i].Key, got[i].Value, c.want[i])
			}
		}
	}
}

func testSeek(t *testing.T, s store.Store) {
	ctx := context.Background()
	var b store.Batch
	for _, k := range [][]byte{{0x01}, {0x01, 0x00}, {0x05}, {0x80, 0x00}} {
		b.Put(store.TableBooks, k, append([]byte("v"), k...))
	}
	b.Put(store.TablePages, []byte{0x02}, []byte("other table"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		end  []byte
		keys [][]byte
		want [][]byte // nil: no entry
	}{
		{nil, [][]byte{{0x00}, {0x01}, {0x01, 0x00, 0x00}, {0x80, 0x00}, {0x80, 0x01}}, [][]byte{{0x01}, {0x01}, {0x05}, {0x80, 0x00}, nil}},
		{[]byte{0x05}, [][]byte{{0x02}, {0x01, 0x00}}, [][]byte{nil, {0x01, 0x00}}},
		{[]byte{0x05, 0x00}, [][]byte{{0x02}}, [][]byte{{0x05}}},
		{nil, nil, nil},
	}
	for _, c := range cases {
		got, err := s.Seek(ctx, store.TableBooks, c.end, c.keys...)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.keys) {
			t.Fatalf("Seek(%x, %x) = %d entries, want %d", c.end, c.keys, len(got), len(c.keys))
		}
		for i, e := range got {
			switch {
			case c.want[i] == nil && (e.Key != nil || e.Value != nil):
				t.Fatalf("Seek(%x, %x)[%d] = %x=%q, want none", c.end, c.keys, i, e.Key, e.Value)
			case c.want[i] != nil && (!bytes.Equal(e.Key, c.want[i]) || !bytes.Equal(e.Value, append([]byte("v"), c.want[i]...))):
				t.Fatalf("Seek(%x, %x)[%d] = %x=%q, want %x", c.end, c.keys, i, e.Key, e.Value, c.want[i])
			}
		}
	}
	if _, err := s.Seek(ctx, "nope", nil, []byte{1}); !errors.Is(err, store.ErrUnknownTable) {
		t.Fatalf("Seek of an unknown table: %v", err)
	}
}

func testTablesSeparate(t *testing.T, s store.Store) {
	put(t, s, store.TablePages, "k", "page")
	put(t, s, store.TableBooks, "k", "hash")
	if v := get(t, s, store.TablePages, "k"); string(v) != "page" {
		t.Fatalf("pages[k] = %q", v)
	}
	if v := get(t, s, store.TableBooks, "k"); string(v) != "hash" {
		t.Fatalf("hashes[k] = %q", v)
	}
}

func testLargeValue(t *testing.T, s store.Store) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var b store.Batch
	b.Put(store.TablePages, []byte("big"), big)
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	v := get(t, s, store.TablePages, "big")
	if !bytes.Equal(v, big) {
		t.Fatalf("large value: len %d first %q", len(v), v[:1])
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				var b store.Batch
				k := fmt.Appendf(nil, "w%d-%03d", w, i)
				b.Put(store.TablePages, k, k)
				b.Put(store.TableBooks, k, k)
				if err := s.Write(ctx, &b); err != nil {
					errs <- err
					return
				}
				vs, err := s.Get(ctx, store.TableBooks, k)
				if err != nil || !bytes.Equal(vs[0], k) {
					errs <- fmt.Errorf("read own write %s: %q, %v", k, vs, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := s.Scan(ctx, store.TablePages, []byte("w"), []byte("x"), 0)
	if err != nil || len(all) != 100 {
		t.Fatalf("after concurrent writes: %d entries, %v; want 100", len(all), err)
	}
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var b store.Batch
	b.Put(store.TablePages, []byte("a"), []byte("1"))
	if err := s.Write(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with canceled ctx: %v, want context.Canceled", err)
	}
	if v := get(t, s, store.TablePages, "a"); v != nil {
		t.Fatalf("canceled write stored %q", v)
	}
}

func testClosed(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), store.TablePages, []byte("a")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	var b store.Batch
	b.Put(store.TablePages, []byte("a"), []byte("1"))
	if err := s.Write(context.Background(), &b); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
}

// Snapshot returns every table of st as text, so a test can prove that an
// operation refused as invalid stored nothing.
func Snapshot(t testing.TB, st store.Store) string {
	t.Helper()
	var buf bytes.Buffer
	for _, tb := range store.Tables {
		es, err := st.Scan(context.Background(), tb, []byte{0}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			fmt.Fprintf(&buf, "%s %x %x\n", tb, e.Key, e.Value)
		}
	}
	return buf.String()
}

// conflict checks that err is a *ConflictError for key of table.
func conflict(t *testing.T, err error, table, key string) {
	t.Helper()
	var ce *store.ConflictError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("Write: err = %v, want a *ConflictError", err)
	}
	if ce.Cond.Table != table || string(ce.Cond.Key) != key {
		t.Fatalf("conflict on %s %q, want %s %q", ce.Cond.Table, ce.Cond.Key, table, key)
	}
}

func testExpectHolds(t *testing.T, s store.Store) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	var b store.Batch
	b.Put(store.TableBooks, []byte("head"), []byte("v1"))
	b.Put(store.TableBooks, []byte("empty"), nil)
	b.Put(store.TablePages, []byte("big"), big)
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if b.Len() != 0 || len(b.Conds) != 0 {
		t.Fatalf("Reset left %d ops, %d conditions", b.Len(), len(b.Conds))
	}
	b.Expect(store.TableBooks, []byte("head"), []byte("v1"))
	b.Expect(store.TableBooks, []byte("missing"), nil)
	b.Expect(store.TableBooks, []byte("empty"), []byte{})
	b.Expect(store.TablePages, []byte("big"), big)
	b.Put(store.TableBooks, []byte("head"), []byte("v2"))
	b.Put(store.TableNames, []byte("n"), []byte("x"))
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatalf("Write with conditions that hold: %v", err)
	}
	if v := get(t, s, store.TableBooks, "head"); string(v) != "v2" {
		t.Fatalf("head = %q, want v2", v)
	}
	if v := get(t, s, store.TableNames, "n"); string(v) != "x" {
		t.Fatalf("names[n] = %q, want x", v)
	}
}

func testExpectFails(t *testing.T, s store.Store) {
	put(t, s, store.TableBooks, "head", "v1", "empty", "")
	before := Snapshot(t, s)
	cases := []struct {
		name         string
		table, key   string
		value        []byte
		wantConflict string // the key reported
	}{
		{"other value", store.TableBooks, "head", []byte("v0"), "head"},
		{"longer value", store.TableBooks, "head", []byte("v10"), "head"},
		{"present, expected absent", store.TableBooks, "head", nil, "head"},
		{"absent, expected a value", store.TableBooks, "missing", []byte("v1"), "missing"},
		{"absent, expected empty", store.TableBooks, "missing", []byte{}, "missing"},
		{"empty, expected absent", store.TableBooks, "empty", nil, "empty"},
		{"other table", store.TableMeta, "head", []byte("v1"), "head"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b store.Batch
			b.Expect(store.TableBooks, []byte("head"), []byte("v1")) // holds
			b.Put(store.TableBooks, []byte("head"), []byte("v2"))
			b.Put(store.TablePages, []byte("p"), []byte("page"))
			b.Delete(store.TableBooks, []byte("empty"))
			b.Expect(c.table, []byte(c.key), c.value)
			conflict(t, s.Write(context.Background(), &b), c.table, c.wantConflict)
			if after := Snapshot(t, s); after != before {
				t.Fatalf("a batch whose condition failed wrote:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

func testExpectOnly(t *testing.T, s store.Store) {
	put(t, s, store.TableMeta, "k", "v")
	var b store.Batch
	b.Expect(store.TableMeta, []byte("k"), []byte("v"))
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatalf("conditions only, holding: %v", err)
	}
	b.Reset()
	b.Expect(store.TableMeta, []byte("k"), []byte("w"))
	conflict(t, s.Write(context.Background(), &b), store.TableMeta, "k")
}

func testBadCond(t *testing.T, s store.Store) {
	var b store.Batch
	b.Put(store.TablePages, []byte("a"), []byte("1"))
	b.Expect("nope", []byte("b"), nil)
	if err := s.Write(context.Background(), &b); !errors.Is(err, store.ErrUnknownTable) {
		t.Fatalf("condition on an unknown table: err = %v, want ErrUnknownTable", err)
	}
	b.Reset()
	b.Put(store.TablePages, []byte("a"), []byte("1"))
	b.Expect(store.TablePages, nil, nil)
	if err := s.Write(context.Background(), &b); !errors.Is(err, store.ErrEmptyKey) {
		t.Fatalf("condition on an empty key: err = %v, want ErrEmptyKey", err)
	}
	if v := get(t, s, store.TablePages, "a"); v != nil {
		t.Fatalf("refused batch wrote %q", v)
	}
}

// testCASRace runs writers that each increment one counter by reading it
// and writing it back with the value read expected, retrying on a
// conflict: the check and the write must be one atomic step, or an
// increment is lost.
func testCASRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, each = 4, 10
	key := []byte("counter")
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var mu sync.Mutex
	conflicts := 0
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				old, err := store.GetOne(ctx, s, store.TableMeta, key)
				if err != nil {
					errs <- err
					return
				}
				n := 0
				if old != nil {
					n = int(old[0])<<8 | int(old[1])
				}
				var b store.Batch
				b.Expect(store.TableMeta, key, old)
				b.Put(store.TableMeta, key, []byte{byte((n + 1) >> 8), byte(n + 1)})
				b.Put(store.TablePages, fmt.Appendf(nil, "n%04d", n+1), []byte("x"))
				switch err := s.Write(ctx, &b); {
				case errors.Is(err, store.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					errs <- err
					return
				default:
					done++
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v := get(t, s, store.TableMeta, "counter")
	if n := int(v[0])<<8 | int(v[1]); n != writers*each {
		t.Fatalf("counter = %d after %d increments (%d conflicts): an increment was lost", n, writers*each, conflicts)
	}
	all, err := s.Scan(ctx, store.TablePages, []byte("n"), []byte("o"), 0)
	if err != nil || len(all) != writers*each {
		t.Fatalf("%d increment records, %v; want %d", len(all), err, writers*each)
	}
	t.Logf("%d conflicts", conflicts)
}

// fillRange writes a record "rec" and 300 pages under prefix p, and keys
// just outside the range on either side.
func fillRange(t *testing.T, s store.Store, p byte) {
	t.Helper()
	var b store.Batch
	for i := range 300 {
		b.Put(store.TablePages, []byte{p, byte(i >> 8), byte(i)}, bytes.Repeat([]byte{byte(i)}, 100))
	}
	b.Put(store.TablePages, []byte{p - 1, 0xff}, []byte("before"))
	b.Put(store.TablePages, []byte{p + 1}, []byte("after"))
	b.Put(store.TableBooks, []byte{p}, []byte("rec"))
	if err := s.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

// testDeleteRange deletes a whole range and its record in one batch, as
// the journal deletes a book: all of it goes, nothing else.
func testDeleteRange(t *testing.T, s store.Store) {
	ctx := context.Background()
	fillRange(t, s, 5)
	n, size, err := store.RangeSize(ctx, s, store.TablePages, []byte{5}, []byte{6})
	if err != nil || n != 300 || size != 300*103 {
		t.Fatalf("RangeSize = %d keys, %d bytes, %v; want 300, %d", n, size, err, 300*103)
	}
	var b store.Batch
	b.Expect(store.TableBooks, []byte{5}, []byte("rec"))
	b.Delete(store.TableBooks, []byte{5})
	n, size, err = store.DeleteRange(ctx, s, &b, store.TablePages, []byte{5}, []byte{6})
	if err != nil || n != 300 || size != 300*103 {
		t.Fatalf("DeleteRange = %d keys, %d bytes, %v; want 300, %d", n, size, err, 300*103)
	}
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if n, _, err := store.RangeSize(ctx, s, store.TablePages, []byte{5}, []byte{6}); err != nil || n != 0 {
		t.Fatalf("after the deletion: %d keys left, %v", n, err)
	}
	if v := get(t, s, store.TableBooks, "\x05"); v != nil {
		t.Fatalf("record left: %q", v)
	}
	es, err := s.Scan(ctx, store.TablePages, []byte{0}, nil, 0)
	if err != nil || len(es) != 2 || string(es[0].Value) != "before" || string(es[1].Value) != "after" {
		t.Fatalf("keys around the range: %q, %v; want before, after", es, err)
	}
}

// testDeleteRangeConflict: a deletion whose record changed meanwhile
// deletes nothing.
func testDeleteRangeConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	fillRange(t, s, 9)
	before := Snapshot(t, s)
	var b store.Batch
	b.Expect(store.TableBooks, []byte{9}, []byte("older rec"))
	b.Delete(store.TableBooks, []byte{9})
	if _, _, err := store.DeleteRange(ctx, s, &b, store.TablePages, []byte{9}, []byte{10}); err != nil {
		t.Fatal(err)
	}
	conflict(t, s.Write(ctx, &b), store.TableBooks, "\x09")
	if after := Snapshot(t, s); after != before {
		t.Fatal("a deletion whose condition failed deleted keys")
	}
}
