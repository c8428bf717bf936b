package journal

import (
	"fmt"
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

// TestLeftIsFrontier: the left hashes of a range proof are the frontier of
// the tree before the range, which VerifyRange hands to extend.
func TestLeftIsFrontier(t *testing.T) {
	for start := int64(0); start < 300; start++ {
		for end := start + 1; end < start+70; end++ {
			if !slices.Equal(leftIndexes(start, end), treeIndexes(start)) {
				t.Fatalf("range [%d, %d): left hashes %v, frontier %v", start, end, leftIndexes(start, end), treeIndexes(start))
			}
		}
	}
}
