package journal

import (
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// recentMax is how many of a book's newest page records a Book keeps in
// memory by default (Options.RecentPages).
const recentMax = 256

// rootsKept is how many of a book's newest heads' roots a Book keeps: an
// upgrade from a length a reader holds names its root.
const rootsKept = 8

// recentPages keeps the store records (hashes ‖ page) of a book's newest
// pages, as written: what replication reads right after an append (the
// pages to push, the hashes of their proofs) then comes from memory, not
// from the store (in the browser, an IndexedDB transaction each, queued
// behind the writes).
//
// It also keeps the tree hashes read from older records: every proof for
// a new page, and the root of the length a reader holds, read the same
// roots of the complete subtrees to the left of the newest pages (the
// tree's right frontier), which change only as the tree grows past them.
// A hash stored for a book never changes while its Book lives (pages are
// stored once, verified; an import that replaces a book resets this).
type recentPages struct {
	mu     sync.Mutex
	start  uint64               // index of recs[0]
	recs   [][]byte             // records of pages [start, start+len(recs))
	hashes map[int64]tlog.Hash  // stored hash index -> hash, read from the store
	roots  [rootsKept]sizedRoot // the newest heads' roots, newest at roots[next-1]
	next   int
}

// sizedRoot is the root of the tree of size n (n > 0).
type sizedRoot struct {
	n    uint64
	root tlog.Hash
}

// add records the records of pages [start, start+len(recs)) just
// written, keeping the newest max. A range that does not continue the one
// kept replaces it.
func (r *recentPages) add(start uint64, recs [][]byte, max int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if start != r.start+uint64(len(r.recs)) || len(r.recs) == 0 {
		r.start, r.recs = start, nil
	}
	r.recs = append(r.recs, recs...)
	if over := len(r.recs) - max; over > 0 {
		// Drop the oldest by reslicing (append copies the kept ones to a
		// new array when this one is used up: amortized O(1) per page),
		// clearing them so that their records can be collected.
		clear(r.recs[:over])
		r.recs = r.recs[over:]
		r.start += uint64(over)
	}
}

// get returns the record of page i, if kept.
func (r *recentPages) get(i uint64) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i < r.start || i >= r.start+uint64(len(r.recs)) {
		return nil, false
	}
	return r.recs[i-r.start], true
}

// span returns the records of pages [start, end), if all are kept.
func (r *recentPages) span(start, end uint64) ([][]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if start < r.start || end > r.start+uint64(len(r.recs)) || start >= end {
		return nil, false
	}
	return append([][]byte(nil), r.recs[start-r.start:end-r.start]...), true
}

// hash returns the tree hash of stored index i, if kept.
func (r *recentPages) hash(i int64) (tlog.Hash, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hashes[i]
	return h, ok
}

// keepHashes keeps hashes[j], the tree hash of stored index indexes[j],
// for each j; past max (4 per page record kept: 1,024 in a browser, 128
// for each of a mirror's many books) the ones kept before are dropped.
func (r *recentPages) keepHashes(indexes []int64, hashes []tlog.Hash, max int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hashes == nil || len(r.hashes)+len(indexes) > max {
		r.hashes = make(map[int64]tlog.Hash, len(indexes))
	}
	for j, i := range indexes {
		r.hashes[i] = hashes[j]
	}
}

// keepRoot keeps the root of a head of length n (verified, or signed
// here), dropping the oldest kept.
func (r *recentPages) keepRoot(n uint64, root tlog.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.roots[r.next] = sizedRoot{n, root}
	r.next = (r.next + 1) % rootsKept
}

// root returns the root of the tree of size n, if a head of that length
// is kept.
func (r *recentPages) root(n uint64) (tlog.Hash, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.roots {
		if k.n == n && n > 0 {
			return k.root, true
		}
	}
	return tlog.Hash{}, false
}

// reset forgets every record, hash and root.
func (r *recentPages) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start, r.recs, r.hashes = 0, nil, nil
	r.roots, r.next = [rootsKept]sizedRoot{}, 0
}
