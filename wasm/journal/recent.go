package journal

import "sync"

// recentMax is how many of a book's newest page records a Book keeps in
// memory by default (Options.RecentPages).
const recentMax = 256

// recentPages keeps the store records (hashes ‖ page) of a book's newest
// pages, as written: what replication reads right after an append (the
// pages to push, the hashes of their proofs) then comes from memory, not
// from the store (in the browser, an IndexedDB transaction each, queued
// behind the writes).
type recentPages struct {
	mu    sync.Mutex
	start uint64   // index of recs[0]
	recs  [][]byte // records of pages [start, start+len(recs))
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

// reset forgets every record.
func (r *recentPages) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start, r.recs = 0, nil
}
