package journal

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestExtendMatchesTlog: extend gives the stored hashes, counts and root
// that tlog gives (through grow), and the frontier treeIndexes names, for
// every start up to 140 and runs of 1 to 20 pages.
func TestExtendMatchesTlog(t *testing.T) {
	var stored []Hash // every stored hash, by stored index
	read := tlog.HashReaderFunc(func(idx []int64) ([]Hash, error) {
		out := make([]Hash, len(idx))
		for i, s := range idx {
			out[i] = stored[s]
		}
		return out, nil
	})
	leaf := func(i int64) Hash { return tlog.RecordHash(fmt.Appendf(nil, "page %d", i)) }
	frontierAt := func(n int64) frontier {
		var f frontier
		for _, s := range treeIndexes(n) {
			f = append(f, storedHash{s, stored[s]})
		}
		return f
	}
	for n := int64(0); n < 170; n++ {
		hs, err := tlog.StoredHashes(n, fmt.Appendf(nil, "page %d", n), read)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	for start := int64(0); start <= 140; start++ {
		f := frontierAt(start)
		for k := int64(1); k <= 20; k++ {
			leaves := make([]Hash, k)
			for i := range leaves {
				leaves[i] = leaf(start + int64(i))
			}
			fresh, counts, root, next := extend(f, start, leaves)
			wantFresh, wantCounts, wantRoot, err := grow(start, leaves, f.get)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(fresh, counts, root) != fmt.Sprint(wantFresh, wantCounts, wantRoot) {
				t.Fatalf("extend(%d, %d pages) differs from tlog", start, k)
			}
			if fmt.Sprint(next) != fmt.Sprint(frontierAt(start+k)) {
				t.Fatalf("extend(%d, %d pages): frontier %v, want %v", start, k, next, frontierAt(start+k))
			}
		}
	}
}

// TestLeftIsFrontier: the left hashes of a range proof, derived from the
// range (every hash outside it that the tree of size end combines with a
// hash inside), are the frontier of the tree before the range, which
// VerifyRange hands to extend; and the frontier is what tlog.TreeHash reads.
func TestLeftIsFrontier(t *testing.T) {
	for start := int64(0); start < 300; start++ {
		for end := start + 1; end < start+70; end++ {
			if got, want := leftIndexes(start, end), leftOfRange(start, end); !slices.Equal(got, want) {
				t.Fatalf("range [%d, %d): left hashes %v, want %v", start, end, got, want)
			}
		}
	}
	for n := int64(0); n < 5000; n++ {
		if got, want := treeIndexes(n), treeHashReads(n); !slices.Equal(got, want) {
			t.Fatalf("tree of %d: frontier %v, TreeHash reads %v", n, got, want)
		}
	}
	for _, n := range []int64{1 << 20, 1<<20 - 1, 1<<40 + 12345, MaxLength} {
		if got, want := treeIndexes(n), treeHashReads(n); !slices.Equal(got, want) {
			t.Fatalf("tree of %d: frontier %v, TreeHash reads %v", n, got, want)
		}
	}
}

// leftOfRange derives the left hashes of a proof of [start, end) from the
// range: the roots of complete subtrees in [0, start) that a page of the
// range completes a subtree with, and those the tree of size end reads.
func leftOfRange(start, end int64) []int64 {
	base := tlog.StoredHashIndex(0, start)
	var out []int64
	for r := start; r < end; r++ {
		m := bits.TrailingZeros64(uint64(r + 1))
		for i := range m {
			if s := tlog.StoredHashIndex(i, r>>uint(i)-1); s < base {
				out = append(out, s)
			}
		}
	}
	for _, s := range treeHashReads(end) {
		if s < base {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// treeHashReads returns the stored indexes tlog.TreeHash(n) reads.
func treeHashReads(n int64) []int64 {
	var out []int64
	_, _ = tlog.TreeHash(n, tlog.HashReaderFunc(func(idx []int64) ([]Hash, error) {
		out = idx
		return nil, errors.New("probe")
	}))
	return out
}
