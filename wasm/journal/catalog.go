package journal

import (
	"bytes"
	"context"
	"sort"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Catalog lists the profile's books as Books does, reading the store only
// the first time: after that, a book open in this DB is listed as it is
// now (Book.Info), and one never opened as its record was then (nothing
// changes a book's record but its Book, and a profile has one writer).
// A replication session lists the books it shares with its peer at each
// start: with thousands of books and a session per peer, each read every
// record again.
func (db *DB) Catalog(ctx context.Context) ([]BookInfo, error) {
	db.mu.Lock()
	cat, deletes := db.catalog, db.deletes
	db.mu.Unlock()
	if cat == nil {
		infos, err := db.Books(ctx)
		if err != nil {
			return nil, err
		}
		cat = make(map[identity.ID]BookInfo, len(infos))
		for _, bi := range infos {
			cat[bi.Key] = bi
		}
		db.mu.Lock()
		// Kept (the books open now left out: their Books list them) unless
		// a book was deleted meanwhile, whose record may be among those
		// read, or another call kept one first.
		if db.catalog == nil && db.deletes == deletes {
			for k := range cat {
				if _, ok := db.books[k]; ok {
					delete(cat, k)
				}
			}
			db.catalog = cat
		}
		db.mu.Unlock()
	}
	db.mu.Lock()
	open := make([]*Book, 0, len(db.books))
	for _, b := range db.books {
		open = append(open, b)
	}
	out := make([]BookInfo, 0, len(cat)+len(open))
	for k, bi := range cat {
		if _, ok := db.books[k]; !ok {
			out = append(out, bi)
		}
	}
	db.mu.Unlock()
	for _, b := range open {
		out = append(out, b.Info())
	}
	// By key (sort.Slice: one sort in the module for every element type, docs/benchmarks.md "Module size").
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key[:], out[j].Key[:]) < 0 })
	return out, nil
}
