package held_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

func ids(n int, from byte) []identity.ID {
	out := make([]identity.ID, n)
	for i := range out {
		out[i] = identity.New(identity.Seed{from, byte(i), byte(i >> 8)}).ID()
	}
	return out
}

// TestRank: the order is by score as documented, the same whatever the
// input order, without repeats; a mirror leaving moves only the keys it
// ranked first, by one place.
func TestRank(t *testing.T) {
	mirrors := ids(5, 1)
	key := identity.New(identity.Seed{9}).ID()
	got := held.Rank(key, mirrors)
	score := func(m identity.ID) uint64 {
		sum := sha256.Sum256(slices.Concat([]byte(held.PlaceContext), m[:], key[:]))
		return binary.BigEndian.Uint64(sum[:8])
	}
	if len(got) != len(mirrors) {
		t.Fatalf("%d mirrors ranked of %d", len(got), len(mirrors))
	}
	for i := 1; i < len(got); i++ {
		if score(got[i-1]) < score(got[i]) {
			t.Fatalf("rank %d scores below rank %d", i-1, i)
		}
	}
	shuffled := append(slices.Clone(mirrors[3:]), mirrors[:3]...)
	shuffled = append(shuffled, mirrors[1], mirrors[4], mirrors[1])
	if again := held.Rank(key, shuffled); !slices.Equal(again, got) {
		t.Fatalf("order or repeats changed the rank: %v, then %v", got, again)
	}
	if len(held.Rank(key, nil)) != 0 {
		t.Fatal("a rank of no mirrors")
	}

	// A mirror leaves: for every key, the others keep their order.
	gone := mirrors[2]
	rest := slices.DeleteFunc(slices.Clone(mirrors), func(m identity.ID) bool { return m == gone })
	for _, k := range ids(200, 2) {
		want := slices.DeleteFunc(held.Rank(k, mirrors), func(m identity.ID) bool { return m == gone })
		if got := held.Rank(k, rest); !slices.Equal(got, want) {
			t.Fatalf("key %s: without %s the rank is %v, want %v", k.Short(), gone.Short(), got, want)
		}
	}
}

// TestRankTies: equal scores (the same id twice) fall back on the id, and
// repeats go.
func TestRankTies(t *testing.T) {
	m := ids(1, 3)[0]
	if got := held.Rank(m, []identity.ID{m, m, m}); !slices.Equal(got, []identity.ID{m}) {
		t.Fatalf("repeats kept: %v", got)
	}
}

// TestRankSpread: over many authors, each of 4 mirrors is first for about
// a quarter of them.
func TestRankSpread(t *testing.T) {
	mirrors := ids(4, 4)
	first := map[identity.ID]int{}
	const n = 4000
	for _, k := range ids(n, 5) {
		first[held.Rank(k, mirrors)[0]]++
	}
	for _, m := range mirrors {
		if c := first[m]; c < n/4*8/10 || c > n/4*12/10 {
			t.Fatalf("mirror %s first for %d of %d authors: %v", m.Short(), c, n, first)
		}
	}
}

func BenchmarkRank(b *testing.B) {
	for _, n := range []int{3, 16, 128} {
		b.Run(fmt.Sprint(n, "mirrors"), func(b *testing.B) {
			mirrors := ids(n, 6)
			key := identity.New(identity.Seed{7}).ID()
			b.ReportAllocs()
			for b.Loop() {
				held.Rank(key, mirrors)
			}
		})
	}
}
