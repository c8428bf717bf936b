//go:build js && wasm

package journal_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/idb/idbtest"
)

// newStore returns a fresh IndexedDB database, deleted when the test ends:
// the same tests that run natively on the memory store run here on IndexedDB.
func newStore(t testing.TB) store.Store { return idbtest.New(t, "journal") }

// leakOptions tune the goroutine-leak check of TestMain: in the browser the
// runtime parks a goroutine of its own to handle JavaScript events.
var leakOptions = []goleak.Option{goleak.IgnoreAnyFunction("runtime.handleEvent")}
