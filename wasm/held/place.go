package held

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sort"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// PlaceContext prefixes the bytes hashed to place a key on mirrors.
const PlaceContext = "taskmessenger/place/v1\n"

// Rank orders mirrors for key, the best first, by rendezvous (highest
// random weight) hashing: a mirror's score is the first 8 bytes (big
// endian) of SHA-256(PlaceContext ‖ mirror ‖ key), the highest first, ties
// by id. The order is the same wherever it is computed, repeats are
// dropped, and a mirror leaving or joining moves only the keys it ranks
// first: every other key keeps its order among the rest.
//
// The key is a book's author (a device id: journal.NameAuthor, the
// genesis's author), not the book: the browser pins every book it writes
// to the first mirrors of Rank(self, …) and the mirrors re-pin by author
// (relay/mirror), so all the books of one author live on the same R
// mirrors, and an author keeps R ports to mirrors, not R per book.
func Rank(key identity.ID, mirrors []identity.ID) []identity.ID {
	type scored struct {
		id    identity.ID
		score uint64
	}
	ss := make([]scored, len(mirrors))
	buf := make([]byte, 0, len(PlaceContext)+2*identity.IDSize)
	buf = append(buf, PlaceContext...)
	for i, m := range mirrors {
		b := append(append(buf[:len(PlaceContext)], m[:]...), key[:]...)
		sum := sha256.Sum256(b)
		ss[i] = scored{m, binary.BigEndian.Uint64(sum[:8])}
	}
	// Highest score first, then by id (sort.Slice: one sort in the module for every element type, docs/benchmarks.md "Module size").
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].score != ss[j].score {
			return ss[i].score > ss[j].score
		}
		return bytes.Compare(ss[i].id[:], ss[j].id[:]) < 0
	})
	out := make([]identity.ID, 0, len(ss))
	for i, s := range ss {
		if i == 0 || s.id != ss[i-1].id {
			out = append(out, s.id)
		}
	}
	return out
}
