package storetest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// Slow is a store that answers every request after Delay, as IndexedDB
// answers a tab (a round trip to the browser's storage backend), and
// counts the requests: what an operation waits on is the requests it
// makes one after the other (benchmarks of opening a profile or a task).
type Slow struct {
	store.Store
	Delay    time.Duration
	requests atomic.Int64
}

// Requests is how many requests reached s.
func (s *Slow) Requests() int64 { return s.requests.Load() }

func (s *Slow) wait(ctx context.Context) error {
	s.requests.Add(1)
	t := time.NewTimer(s.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get implements store.Store.
func (s *Slow) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, table, keys...)
}

// Scan implements store.Store.
func (s *Slow) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.Scan(ctx, table, start, end, limit)
}

// Seek implements store.Store.
func (s *Slow) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.Seek(ctx, table, end, keys...)
}

// Write implements store.Store.
func (s *Slow) Write(ctx context.Context, b *store.Batch) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Write(ctx, b)
}
