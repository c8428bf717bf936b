//go:build !(js && wasm)

package replication_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// newStore returns the store the tests run on: natively, a memory store;
// in the browser (store_js_test.go), an IndexedDB database.
func newStore(testing.TB) store.Store { return store.NewMemory() }

// bigBook is the length of the book of the sparse test; manyBooks the
// number of books of the many-books tests; resumeBook the length of the
// book of the resume test.
const (
	bigBook    = 1_000_000
	manyBooks  = 1000
	resumeBook = 5000
)

// leakOptions tune the goroutine-leak check of TestMain.
var leakOptions []goleak.Option
