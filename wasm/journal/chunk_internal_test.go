package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// notesBook opens a DB of seed on st and returns its book "notes".
func notesBook(t *testing.T, st store.Store, seed identity.Seed, opts *Options) *Book {
	t.Helper()
	db, err := Open(context.Background(), st, seed, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Author(context.Background(), "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A store written by schema version 1 (one record per page, each under
// its page's key) reads as chunks of one page, and takes chunks after it.
func TestVersion1Records(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	seed := identity.Seed{7}
	b := notesBook(t, st, seed, nil)
	var want [][]byte
	for i := range 100 {
		want = append(want, bytes.Repeat([]byte{byte(i)}, 10+i))
	}
	if _, err := b.Append(ctx, want...); err != nil {
		t.Fatal(err)
	}
	g, _ := b.Get(ctx, 0)
	want = append([][]byte{g}, want...)

	// Rewrite the book's chunks as version 1 wrote pages.
	start, end := pagesRange(b.Key())
	es, err := st.Scan(ctx, store.TablePages, start, end, 0)
	if err != nil {
		t.Fatal(err)
	}
	var batch store.Batch
	for _, e := range es {
		first, _, recs, err := chunkPages(b.Key(), e)
		if err != nil {
			t.Fatal(err)
		}
		batch.Delete(store.TablePages, e.Key)
		for i, r := range recs {
			batch.Put(store.TablePages, pageKey(b.Key(), first+uint64(i)), bytes.Clone(r))
		}
	}
	if err := st.Write(ctx, &batch); err != nil {
		t.Fatal(err)
	}
	if es, _ := st.Scan(ctx, store.TablePages, start, end, 0); len(es) != len(want) {
		t.Fatalf("%d records for %d pages", len(es), len(want))
	}

	check := func() {
		t.Helper()
		b := notesBook(t, st, seed, &Options{RecentPages: 1})
		head := b.Head()
		all, err := b.GetRange(ctx, 0, head.Length)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			p, err := b.Get(ctx, uint64(i))
			if err != nil || !bytes.Equal(p, want[i]) || !bytes.Equal(all[i], want[i]) {
				t.Fatalf("page %d: %v", i, err)
			}
			proof, err := b.Proof(ctx, uint64(i), head.Length)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(proof, int64(head.Length), head.Root, int64(i), tlog.RecordHash(p)); err != nil {
				t.Fatalf("page %d: %v", i, err)
			}
		}
	}
	check()
	b = notesBook(t, st, seed, nil)
	more := [][]byte{[]byte("x"), []byte("y"), []byte("z")}
	if _, err := b.Append(ctx, more...); err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	check()
}

// splitChunk reads back what putPages writes, and refuses what it could
// not have written.
func TestSplitChunk(t *testing.T) {
	pages := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("c"), 300)}
	hashes := [][]Hash{{{1}}, {{2}, {3}}, {{4}}}
	var batch store.Batch
	recs := putPages(&batch, identity.ID{9}, 5, pages, hashes)
	if len(batch.Ops) != 1 {
		t.Fatalf("%d chunks", len(batch.Ops))
	}
	first, got, err := splitChunk(7, batch.Ops[0].Value)
	if err != nil || first != 5 || len(got) != 3 {
		t.Fatalf("splitChunk = %d, %d records, %v", first, len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], recs[i]) {
			t.Fatalf("record %d differs", i)
		}
		if _, p, err := splitRecord(got[i]); err != nil || !bytes.Equal(p, pages[i]) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	good := batch.Ops[0].Value
	for _, c := range []struct {
		name string
		last uint64
		v    []byte
	}{
		{"empty", 7, nil},
		{"count 1", 7, []byte{chunkMark, 1, 34, 1}},
		{"count past page 0", 1, good},
		{"count over the bound", 1000, append([]byte{chunkMark, maxChunkPages + 1}, good[2:]...)},
		{"cut short", 7, good[:len(good)-1]},
		{"a byte too many", 7, append(bytes.Clone(good), 0)},
		{"no sizes", 7, []byte{chunkMark, 2}},
		{"record of too many hashes", 7, []byte{maxRecordHashes + 1}},
	} {
		if _, _, err := splitChunk(c.last, c.v); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func FuzzSplitChunk(f *testing.F) {
	var batch store.Batch
	putPages(&batch, identity.ID{}, 0, [][]byte{[]byte("a"), []byte("bc")}, [][]Hash{{{1}}, {{2}, {3}}})
	f.Add(uint64(1), batch.Ops[0].Value)
	f.Add(uint64(0), []byte{1, 0})
	f.Fuzz(func(t *testing.T, last uint64, v []byte) {
		first, recs, err := splitChunk(last, v)
		if err != nil {
			return
		}
		if first > last || uint64(len(recs)) != last-first+1 || len(recs) > maxChunkPages {
			t.Fatalf("pages [%d, %d] in %d records", first, last, len(recs))
		}
		n := 0
		for _, r := range recs {
			n += len(r)
		}
		if n > len(v) {
			t.Fatalf("records of %d bytes in a chunk of %d", n, len(v))
		}
	})
}

// readRecords finds each page wanted, the same page wanted twice and
// pages of one chunk included, in one Seek of distinct keys.
func TestReadRecords(t *testing.T) {
	ctx := context.Background()
	st := &seekCounter{Store: store.NewMemory()}
	b := notesBook(t, st, identity.Seed{}, &Options{RecentPages: 1})
	var pages [][]byte
	for i := range 300 {
		pages = append(pages, bytes.Repeat([]byte{byte(i)}, 100))
	}
	if _, err := b.Append(ctx, pages...); err != nil {
		t.Fatal(err)
	}
	want := []uint64{5, 5, 7, 200, 5, 0, 300, 301}
	st.keys = 0
	recs, err := readRecords(ctx, st, b.Key(), nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if st.keys != 6 {
		t.Fatalf("%d keys sought for 6 distinct pages", st.keys)
	}
	for i, p := range want {
		if p == 301 {
			if recs[i] != nil {
				t.Fatalf("page %d past the end found", p)
			}
			continue
		}
		_, page, err := splitRecord(recs[i])
		if err != nil {
			t.Fatalf("page %d: %v", p, err)
		}
		if p > 0 && !bytes.Equal(page, pages[p-1]) {
			t.Fatalf("page %d differs", p)
		}
	}
}

// seekCounter counts the keys sought.
type seekCounter struct {
	store.Store
	keys int
}

func (s *seekCounter) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	s.keys += len(keys)
	return s.Store.Seek(ctx, table, end, keys...)
}

func TestUvarintLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}
