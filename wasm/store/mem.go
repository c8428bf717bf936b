package store

import (
	"bytes"
	"context"
	"sync"

	"github.com/google/btree"
)

// Memory is a Store kept in process memory. It is safe for concurrent use.
// Its data is gone when the process ends.
type Memory struct {
	mu     sync.RWMutex
	tables map[string]*btree.BTreeG[Entry] // guarded by mu
	closed bool                            // guarded by mu
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	m := &Memory{tables: make(map[string]*btree.BTreeG[Entry], len(Tables))}
	for _, t := range Tables {
		m.tables[t] = btree.NewG(32, func(a, b Entry) bool { return bytes.Compare(a.Key, b.Key) < 0 })
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

// Get implements Store.
func (m *Memory) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, err := m.table(table)
	if err != nil {
		return nil, err
	}
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, err := m.table(table)
	if err != nil {
		return nil, err
	}
	var out []Entry
	visit := func(e Entry) bool {
		out = append(out, e)
		return limit <= 0 || len(out) < limit
	}
	if end == nil {
		t.AscendGreaterOrEqual(Entry{Key: start}, visit)
	} else {
		t.AscendRange(Entry{Key: start}, Entry{Key: end}, visit)
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
	for _, op := range b.Ops {
		t := m.tables[op.Table]
		key := bytes.Clone(op.Key)
		if op.Value == nil {
			t.Delete(Entry{Key: key})
			continue
		}
		t.ReplaceOrInsert(Entry{Key: key, Value: bytes.Clone(op.Value)})
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
