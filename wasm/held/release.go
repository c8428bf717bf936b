package held

import (
	"encoding/json"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TypeRelease: {"v":1,"type":"release","books":[book id, …]}: the author
// of these books pins them no more (it deleted its copy of their task,
// issue #16): the mirror deletes them and frees the author's quota. A
// mirror releases only the books the port's peer authored.
const TypeRelease = "release"

// MaxReleaseBooks is the most books one release names (it fits
// MaxClientMessage).
const MaxReleaseBooks = 48

// EncodeRelease returns the release messages of books, MaxReleaseBooks a
// message.
func EncodeRelease(books []identity.ID) [][]byte {
	var out [][]byte
	for len(books) > 0 {
		n := min(len(books), MaxReleaseBooks)
		b, _ := json.Marshal(releaseJSON{V: Version, Type: TypeRelease, Books: books[:n]})
		out = append(out, b)
		books = books[n:]
	}
	return out
}

type releaseJSON struct {
	V     int           `json:"v"`
	Type  string        `json:"type"`
	Books []identity.ID `json:"books"`
}

// decodeRelease reads the books of a release message.
func decodeRelease(b []byte) ([]identity.ID, error) {
	var j releaseJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	if len(j.Books) == 0 || len(j.Books) > MaxReleaseBooks {
		return nil, fmt.Errorf("%d books (1 to %d)", len(j.Books), MaxReleaseBooks)
	}
	return j.Books, nil
}
