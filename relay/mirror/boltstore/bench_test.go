//go:build !js

package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// The benchmarks store 1 KiB values under page keys like the journal's: a
// 32-byte book key, then the index big-endian.
const (
	benchValueSize = 1024
	fixtureBooks   = 100
	fixturePages   = 1000 // per book: 100,000 values in all
)

func benchKey(book, i int) []byte {
	k := make([]byte, 32, 40)
	binary.BigEndian.PutUint64(k, uint64(book))
	return binary.BigEndian.AppendUint64(k, uint64(i))
}

func benchValue(r *rand.Rand) []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte(r.Uint32()) // ciphertext does not compress, nor does this
	}
	return v
}

// fillBooks writes books × pages values into s, in batches of 100 pages of
// one book, the books taking turns, as a mirror receives them.
func fillBooks(tb testing.TB, s *Store, books, pages int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < pages; start += 100 {
		for book := range books {
			var b store.Batch
			for i := start; i < min(start+100, pages); i++ {
				b.Put(store.TablePages, benchKey(book, i), benchValue(r))
			}
			if err := s.Write(ctx, &b); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// fixture is a store file of fixtureBooks × fixturePages values, made once
// for the read benchmarks and removed by TestMain.
var fixture struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func removeFixture() {
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
}

// openFixture opens the fixture, making it on first use.
func openFixture(b *testing.B) *Store {
	fixture.once.Do(func() {
		if fixture.dir, fixture.err = os.MkdirTemp("", "boltstore-bench-"); fixture.err != nil {
			return
		}
		fixture.path = filepath.Join(fixture.dir, "fixture.db")
		s, err := Open(fixture.path, nil)
		if err != nil {
			fixture.err = err
			return
		}
		fillBooks(b, s, fixtureBooks, fixturePages)
		fixture.err = s.Close()
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	s, err := Open(fixture.path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkBoltWrite is the cost of a Write of 1 KiB values, each synced
// to disk before Write returns: alone, in batches of 100, and from 8
// concurrent writers (whose batches the writer commits together). The
// nosync case turns bbolt's fsync off to show what the sync costs; the
// store never runs so.
func BenchmarkBoltWrite(b *testing.B) {
	cases := []struct {
		name           string
		batch, writers int
		noSync         bool
	}{
		{"batch=1", 1, 1, false},
		{"batch=100", 100, 1, false},
		{"batch=1/writers=8", 1, 8, false},
		{"batch=100/writers=8", 100, 8, false},
		{"batch=1/nosync", 1, 1, true},
		{"batch=100/nosync", 100, 1, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, _ := openTemp(b)
			s.db.NoSync = c.noSync
			ctx := context.Background()
			val := benchValue(rand.New(rand.NewPCG(1, 2)))
			var next atomic.Int64 // the next batch number
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range c.writers {
				wg.Go(func() {
					for {
						n := int(next.Add(1)) - 1
						if n >= b.N {
							return
						}
						var batch store.Batch
						for i := range c.batch {
							batch.Put(store.TablePages, benchKey(n%fixtureBooks, n/fixtureBooks*c.batch+i), val)
						}
						if err := s.Write(ctx, &batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*c.batch)/b.Elapsed().Seconds(), "values/s")
			b.ReportMetric(float64(b.N)/float64(s.commits.Load()), "batches/commit")
		})
	}
}

// BenchmarkBoltGet is one Get of one value at a random key of a store of
// 100,000 values.
func BenchmarkBoltGet(b *testing.B) {
	s := openFixture(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	for b.Loop() {
		vs, err := s.Get(ctx, store.TablePages, benchKey(r.IntN(fixtureBooks), r.IntN(fixturePages)))
		if err != nil || len(vs[0]) != benchValueSize {
			b.Fatalf("Get: %d bytes, %v", len(vs[0]), err)
		}
	}
}

// BenchmarkBoltScan is one Scan of 100 pages of a book at a random place,
// in a store of 100,000 values: what serving a range to a reader reads.
func BenchmarkBoltScan(b *testing.B) {
	s := openFixture(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	b.ReportAllocs()
	for b.Loop() {
		book, start := r.IntN(fixtureBooks), r.IntN(fixturePages-100)
		es, err := s.Scan(ctx, store.TablePages, benchKey(book, start), benchKey(book, start+100), 0)
		if err != nil || len(es) != 100 {
			b.Fatalf("Scan: %d entries, %v", len(es), err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkBoltFill writes 100,000 values of 1 KiB (100 books of 1,000
// pages, 100 pages a batch) into a new file and reports the disk it takes:
// the file's size and the part of it bbolt uses, per value stored.
func BenchmarkBoltFill(b *testing.B) {
	var file, used int64
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "fill.db")
		s, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		fillBooks(b, s, fixtureBooks, fixturePages)
		err = s.db.View(func(tx *bolt.Tx) error {
			used = tx.Size()
			return nil
		})
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		file = fi.Size()
	}
	const values = fixtureBooks * fixturePages
	b.ReportMetric(float64(b.N*values)/b.Elapsed().Seconds(), "values/s")
	b.ReportMetric(float64(file)/values, "file-B/value")
	b.ReportMetric(float64(used)/values, "used-B/value")
	if testing.Verbose() {
		fmt.Printf("fill: file %d bytes, used %d bytes for %d values of %d bytes\n", file, used, values, benchValueSize)
	}
}
