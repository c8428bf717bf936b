//go:build js && wasm

package journal_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/idb"
)

var stores atomic.Int64

// newStore returns a fresh IndexedDB database, deleted when the test ends:
// the same tests that run natively on the memory store run here on IndexedDB.
func newStore(t testing.TB) store.Store {
	t.Helper()
	name := fmt.Sprintf("journal-test-%d", stores.Add(1))
	st, err := idb.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("idb.Open: %v", err)
	}
	t.Cleanup(func() {
		st.Close()
		idb.Delete(context.Background(), name)
	})
	return st
}

// leakOptions tune the goroutine-leak check of TestMain: in the browser the
// runtime parks a goroutine of its own to handle JavaScript events.
var leakOptions = []goleak.Option{goleak.IgnoreAnyFunction("runtime.handleEvent")}
