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
//
// Calls that come while the store is being read wait for that read
// rather than read it again: the room starts one as it opens, and the
// first sessions ask before it is done.
func (db *DB) Catalog(ctx context.Context) ([]BookInfo, error) {
	cat, err := db.readCatalog(ctx)
	if err != nil {
		return nil, err
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

// readCatalog returns the catalog, reading it from the store if no call
// kept it yet; a call that comes during another's read waits for it.
func (db *DB) readCatalog(ctx context.Context) (map[identity.ID]BookInfo, error) {
	for {
		db.mu.Lock()
		cat, deletes, reading := db.catalog, db.deletes, db.catalogRead
		if cat != nil {
			db.mu.Unlock()
			return cat, nil
		}
		if reading != nil {
			db.mu.Unlock()
			select {
			case <-reading:
				continue // kept, or failed: then read it here
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		reading = make(chan struct{})
		db.catalogRead = reading
		db.mu.Unlock()
		infos, err := db.Books(ctx)
		if err == nil {
			cat = make(map[identity.ID]BookInfo, len(infos))
			for _, bi := range infos {
				cat[bi.Key] = bi
			}
		}
		db.mu.Lock()
		// Kept (the books open now left out: their Books list them) unless
		// a book was deleted meanwhile, whose record may be among those
		// read; this call lists what it read all the same.
		if err == nil && db.deletes == deletes {
			for k := range cat {
				if _, ok := db.books[k]; ok {
					delete(cat, k)
				}
			}
			db.catalog = cat
		}
		db.catalogRead = nil
		close(reading)
		db.mu.Unlock()
		return cat, err
	}
}
