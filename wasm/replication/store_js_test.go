//go:build js && wasm

package replication_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/idb/idbtest"
)

// The sizes of the sparse, many-books and resume tests: smaller than the
// native ones (1,000,000 pages, 1,000 books, 5,000 pages) to keep a browser
// run within a minute or two; the code paths are the same.
const (
	bigBook    = 20_000
	manyBooks  = 200
	resumeBook = 1000
)

// newStore returns a fresh IndexedDB database, deleted when the test ends:
// the same tests that run natively on the memory store run here on IndexedDB.
func newStore(t testing.TB) store.Store { return idbtest.New(t, "replication") }

// leakOptions tune the goroutine-leak check of TestMain: in the browser the
// runtime parks a goroutine of its own to handle JavaScript events.
var leakOptions = []goleak.Option{goleak.IgnoreAnyFunction("runtime.handleEvent")}
