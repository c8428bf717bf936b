package devtools

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// A tree holds the stored hashes (tlog's layout) of a book's pages
// [0, n) that the server verified, about two hashes per page. It answers
// the root at any length up to n, any page's leaf hash, and inclusion and
// consistency proofs, so the server checks what replicas report (they
// cannot prove) and proves any page against the head.
type tree struct {
	hashes []tlog.Hash
	n      int64
}

// ReadHashes implements tlog.HashReader.
func (t *tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, s := range idx {
		if s < 0 || s >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("tree hash %d of %d held", s, len(t.hashes))
		}
		out[i] = t.hashes[s]
	}
	return out, nil
}

// leaf returns page i's leaf hash; i < t.n.
func (t *tree) leaf(i uint64) tlog.Hash { return t.hashes[tlog.StoredHashIndex(0, int64(i))] }

// root returns the tree hash at length n <= t.n.
func (t *tree) root(n uint64) (tlog.Hash, bool) {
	if n == 0 || n > uint64(t.n) {
		return tlog.Hash{}, false
	}
	h, err := tlog.TreeHash(int64(n), t)
	return h, err == nil
}

// extend appends the pages [t.n, start+len(leaves)) given by their leaf
// hashes (start <= t.n; those below t.n must match) and returns the new
// root. The caller keeps the result or calls truncate.
func (t *tree) extend(start uint64, leaves []tlog.Hash) (tlog.Hash, error) {
	end := start + uint64(len(leaves))
	if start > uint64(t.n) || end <= uint64(t.n) {
		return tlog.Hash{}, fmt.Errorf("pages [%d, %d) do not extend the tree of %d", start, end, t.n)
	}
	for i := start; i < uint64(t.n); i++ {
		if t.leaf(i) != leaves[i-start] {
			return tlog.Hash{}, fmt.Errorf("page %d differs from the verified one", i)
		}
	}
	for i := uint64(t.n); i < end; i++ {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), leaves[i-start], t)
		if err != nil {
			return tlog.Hash{}, err
		}
		t.hashes = append(t.hashes, hs...)
		t.n++
	}
	return tlog.TreeHash(t.n, t)
}

// truncate cuts the tree back to n pages.
func (t *tree) truncate(n int64) {
	t.hashes = t.hashes[:tlog.StoredHashIndex(0, n)]
	t.n = n
}
