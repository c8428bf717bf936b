//go:build js && wasm

package idbtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/idb"
)

var count atomic.Int64

// New opens a fresh IndexedDB database named after prefix, closed and
// deleted when the test ends.
func New(t testing.TB, prefix string) store.Store {
	t.Helper()
	name := fmt.Sprintf("%s-test-%d", prefix, count.Add(1))
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
