package store

import (
	"bytes"
	"context"
	"sync"

	"github.com/tidwall/btree"
)

// Memory is a Store kept in process memory. It is safe for concurrent use.
// Its data is gone when the process ends.
type Memory struct {
	mu     sync.RWMutex
	tables map[string]*btree.BTreeG[Entry] // guarded by mu
	hints  map[string]*btree.PathHint      // guarded by mu; speed up runs of nearby keys
	closed bool                            // guarded by mu
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	m := &Memory{tables: make(map[string]*btree.BTreeG[Entry], len(Tables)), hints: make(map[string]*btree.PathHint, len(Tables))}
	for _, t := range Tables {
		m.hints[t] = new(btree.PathHint)
		m.tables[t] = btree.NewBTreeGOptions(func(a, b Entry) bool { return bytes.Compare(a.Key, b.Key) < 0 }, btree.Options{NoLocks: true})
	}
	return m
}

func (m *Memory) table(name string) (*btree.BTreeG[Entry], error) {
	if m.closed {
		return nil, ErrClosed
	}
	t, ok := m.tables[name]
	if !ok {
		return nil, CheckTable(name)
	}
	return t, nil
}

// rlock checks ctx and read-locks m for a read of table; unless it
// returns an error, the caller read-unlocks m when it is done.
func (m *Memory) rlock(ctx context.Context, table string) (*btree.BTreeG[Entry], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	t, err := m.table(table)
	if err != nil {
		m.mu.RUnlock()
		return nil, err
	}
	return t, nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	t, err := m.rlock(ctx, table)
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := t.Get(Entry{Key: k}); ok {
			out[i] = e.Value
		}
	}
	return out, nil
}

// Scan implements Store.
func (m *Memory) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]Entry, error) {
	t, err := m.rlock(ctx, table)
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	var out []Entry
	if limit > 0 {
		out = make([]Entry, 0, min(limit, 1<<16))
	}
	t.Ascend(Entry{Key: start}, func(e Entry) bool {
		if end != nil && bytes.Compare(e.Key, end) >= 0 {
			return false
		}
		out = append(out, e)
		return limit <= 0 || len(out) < limit
	})
	return out, nil
}

// Seek implements Store.
func (m *Memory) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]Entry, error) {
	t, err := m.rlock(ctx, table)
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make([]Entry, len(keys))
	for i, k := range keys {
		t.Ascend(Entry{Key: k}, func(e Entry) bool {
			if end == nil || bytes.Compare(e.Key, end) < 0 {
				out[i] = e
			}
			return false
		})
	}
	return out, nil
}

// Write implements Store.
func (m *Memory) Write(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.Check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, c := range b.Conds {
		var stored []byte
		if e, ok := m.tables[c.Table].Get(Entry{Key: c.Key}); ok {
			stored = e.Value
		}
		if !c.Holds(stored) {
			return &ConflictError{Cond: c}
		}
	}
	for _, op := range b.Ops {
		t, hint := m.tables[op.Table], m.hints[op.Table]
		if op.Value == nil {
			t.DeleteHint(Entry{Key: op.Key}, hint)
			continue
		}
		t.SetHint(Entry{Key: op.Key, Value: op.Value}, hint)
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.tables = nil
	return nil
}
