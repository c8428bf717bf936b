//go:build !(js && wasm)

package journal_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// newStore returns the store the tests run on: natively, a memory store;
// in the browser (store_js_test.go), an IndexedDB database.
func newStore(testing.TB) store.Store { return store.NewMemory() }

// leakOptions tune the goroutine-leak check of TestMain.
var leakOptions []goleak.Option
