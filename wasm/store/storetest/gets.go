package storetest

import (
	"context"
	"sync/atomic"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// Gets is a store that counts the Get requests for one table (the book
// records a profile opens, say): for tests of how many requests an
// operation makes.
type Gets struct {
	store.Store
	Table string
	n     atomic.Int64
}

// N is how many Get requests for Table reached g.
func (g *Gets) N() int64 { return g.n.Load() }

// Get implements store.Store.
func (g *Gets) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	if table == g.Table {
		g.n.Add(1)
	}
	return g.Store.Get(ctx, table, keys...)
}
