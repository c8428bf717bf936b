package journal

import (
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// StoredPages returns the pages [first, last] each entry of the pages
// table of book holds (tests of package journal_test).
func StoredPages(book identity.ID, es []store.Entry) ([][2]uint64, error) {
	out := make([][2]uint64, len(es))
	for i, e := range es {
		first, last, _, err := chunkPages(book, e)
		if err != nil {
			return nil, err
		}
		out[i] = [2]uint64{first, last}
	}
	return out, nil
}
