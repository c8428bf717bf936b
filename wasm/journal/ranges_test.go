package journal

import (
	"fmt"
	"slices"
	"testing"
)

func TestRanges(t *testing.T) {
	var rs Ranges
	for _, r := range [][2]uint64{{10, 20}, {30, 40}, {20, 25}, {5, 6}, {6, 7}, {50, 50}, {0, 1}, {24, 31}} {
		rs = rs.Add(r[0], r[1])
	}
	if got := fmt.Sprint(rs); got != "[{{} 0 1} {{} 5 7} {{} 10 40}]" {
		t.Fatalf("ranges = %s", got)
	}
	if rs.Count() != 33 {
		t.Fatalf("count = %d", rs.Count())
	}
	for i, want := range map[uint64]bool{0: true, 1: false, 6: true, 7: false, 10: true, 39: true, 40: false} {
		if rs.Contains(i) != want {
			t.Errorf("Contains(%d) = %v", i, !want)
		}
	}
	if got := fmt.Sprint(rs.Missing(0, 45)); got != "[{{} 1 5} {{} 7 10} {{} 40 45}]" {
		t.Fatalf("missing = %s", got)
	}
	if got := rs.Missing(12, 30); got != nil {
		t.Fatalf("missing inside = %v", got)
	}
}

func TestLeftIndexesMatchVerifier(t *testing.T) {
	// For every small range, the hashes the verifier asks for are exactly
	// leftIndexes: all below the range's first stored index.
	for end := int64(1); end <= 70; end++ {
		for start := int64(0); start < end; start++ {
			idx := leftIndexes(start, end)
			seen := map[int64]bool{}
			leaves := make([]Hash, end-start)
			_, _, _, err := grow(start, leaves, func(s int64) (Hash, bool) { seen[s] = true; return Hash{}, true })
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != len(idx) {
				t.Fatalf("[%d, %d): verifier read %d hashes, leftIndexes has %d", start, end, len(seen), len(idx))
			}
			for _, s := range idx {
				if !seen[s] {
					t.Fatalf("[%d, %d): index %d not read", start, end, s)
				}
			}
		}
	}
}

// TestLeftHashesAreStartFrontier: the left hashes of a range proof of
// [start, end) are, for every end, the hashes of the complete subtrees that
// tile [0, start) (the frontier TreeHash(start) reads), left to right: what
// docs/format.md tells a verifier.
func TestLeftHashesAreStartFrontier(t *testing.T) {
	for end := int64(1); end <= 130; end++ {
		for start := int64(0); start < end; start++ {
			got, want := leftOfRange(start, end), treeHashReads(start)
			if !slices.Equal(got, want) {
				t.Fatalf("[%d, %d): left hashes %v, frontier of %d %v", start, end, got, start, want)
			}
		}
	}
}
