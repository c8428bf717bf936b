// Package store is the storage interface under the journal: a few ordered
// tables of binary keys and values, read by key or key range, written in
// atomic batches.
//
// The interface is shaped for IndexedDB (see package idb): every call may
// wait, so every call takes a ctx; a Write is one transaction, so a crash
// leaves either all of a batch or none of it; reads of one call see one
// snapshot. Keys compare as bytes, which is how IndexedDB orders binary keys.
//
// Memory is the in-process implementation, used natively and for profiles
// that ask for `storage: 'memory'`. storetest.Run checks any implementation.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Tables is the schema: every store has exactly these tables. Adding one is a
// schema change (see SchemaVersion).
var Tables = []string{
	TableMeta,  // profile record(s)
	TableBooks, // book key -> book record
	TableNames, // book name -> book key
	TablePages, // book key ‖ index -> a page and its tree hashes
}

// Table names.
const (
	TableMeta  = "meta"
	TableBooks = "books"
	TableNames = "names"
	TablePages = "pages"
)

// SchemaVersion is the version of the table layout and of the record
// formats kept in it. Stores that persist data record it and refuse data
// written by a newer version.
const SchemaVersion = 1

// Errors.
var (
	// ErrUnknownTable means a call named a table that is not in Tables.
	ErrUnknownTable = errors.New("store: unknown table")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrEmptyKey means a key was empty.
	ErrEmptyKey = errors.New("store: empty key")
)

// A Store holds the tables of one profile.
type Store interface {
	// Get returns the values stored under keys in table, in the same order;
	// a missing key gives a nil value. The returned slices must not be
	// modified.
	Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error)
	// Scan returns, in ascending key order, up to limit entries of table
	// whose keys are in [start, end). A nil end means no upper bound; a
	// limit <= 0 means no limit.
	Scan(ctx context.Context, table string, start, end []byte, limit int) ([]Entry, error)
	// Write applies every operation of b atomically: after a crash, either
	// all of them are stored or none. The store may keep the batch's key and
	// value slices: the caller must not modify them afterwards.
	Write(ctx context.Context, b *Batch) error
	// Close releases the store. Calls after Close return ErrClosed.
	Close() error
}

// An Entry is a key and its value.
type Entry struct {
	Key, Value []byte
}

// An Op is one write of a batch. A nil Value deletes Key.
type Op struct {
	Table      string
	Key, Value []byte
}

// A Batch is an ordered list of writes applied atomically by Store.Write.
// Later writes to the same key win.
type Batch struct {
	Ops []Op
}

// Put adds a write of value under key. The batch, and the store it is
// written to, keep the slices: do not modify them afterwards.
func (b *Batch) Put(table string, key, value []byte) {
	if value == nil {
		value = []byte{}
	}
	b.Ops = append(b.Ops, Op{Table: table, Key: key, Value: value})
}

// Delete adds a deletion of key.
func (b *Batch) Delete(table string, key []byte) {
	b.Ops = append(b.Ops, Op{Table: table, Key: key})
}

// Len returns the number of operations.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() { b.Ops = b.Ops[:0] }

// Check validates every operation of b, so that a store can refuse a bad
// batch before it writes anything.
func (b *Batch) Check() error {
	for i, op := range b.Ops {
		if err := CheckTable(op.Table); err != nil {
			return fmt.Errorf("batch op %d: %w", i, err)
		}
		if len(op.Key) == 0 {
			return fmt.Errorf("batch op %d: %w", i, ErrEmptyKey)
		}
	}
	return nil
}

// CheckTable returns ErrUnknownTable unless table is in Tables.
func CheckTable(table string) error {
	if !slices.Contains(Tables, table) {
		return fmt.Errorf("%w %q", ErrUnknownTable, table)
	}
	return nil
}

// GetOne returns the value under key, or nil if there is none.
func GetOne(ctx context.Context, s Store, table string, key []byte) ([]byte, error) {
	vs, err := s.Get(ctx, table, key)
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}
