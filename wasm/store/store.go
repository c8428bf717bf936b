// Package store is the storage interface under the journal: a few ordered
// tables of binary keys and values, read by key or key range, written in
// atomic batches.
//
// The interface is shaped for IndexedDB (see package idb): every call may
// wait, so every call takes a ctx; a Write is one transaction, so a crash
// leaves either all of a batch or none of it; reads of one call see one
// snapshot. Keys compare as bytes, which is how IndexedDB orders binary keys.
//
// A batch may carry conditions (Batch.Expect): values that keys must hold
// for the batch to be written. Write checks them inside the transaction
// that writes the batch, so a batch is a compare-and-swap: if another
// writer (another tab or another instance on the same store) changed one of
// those keys since the caller read it, nothing is written and Write returns
// a *ConflictError (errors.Is ErrConflict). The journal uses this to make
// every write of a book expect the book record it started from.
//
// Memory is the in-process implementation, used natively and for profiles
// that ask for `storage: 'memory'`. storetest.Run checks any implementation.
package store

import (
	"bytes"
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
//
// Version 2 packs runs of pages into one record of the pages table (see
// package journal); version 1's records are valid version 2 records.
// Version 3 keeps in an own book's record the tree hashes its next append
// extends (package journal); version 2's records are valid version 3
// records, and older builds, which refuse a record field they do not
// know, let go of a store of version 3.
const SchemaVersion = 3

// Errors.
var (
	// ErrUnknownTable means a call named a table that is not in Tables.
	ErrUnknownTable = errors.New("store: unknown table")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrEmptyKey means a key was empty.
	ErrEmptyKey = errors.New("store: empty key")
	// ErrConflict means a condition of a batch (Batch.Expect) did not hold:
	// a key did not hold the value expected, so another writer changed it.
	// Nothing of the batch was written. Write returns it as a
	// *ConflictError, which says which key.
	ErrConflict = errors.New("store: conflict: a key does not hold the value expected")
	// ErrQuota means the storage under the store is full (in a browser:
	// the origin's quota, a QuotaExceededError): nothing of the batch
	// was written. Free space (forget a task) and write again.
	ErrQuota = errors.New("store: storage is full")
)

// A ConflictError is the error of a Write whose condition Cond did not
// hold. It matches ErrConflict.
type ConflictError struct {
	Cond Cond
}

func (e *ConflictError) Error() string {
	want := "absent"
	if e.Cond.Value != nil {
		want = fmt.Sprintf("a value of %d bytes", len(e.Cond.Value))
	}
	return fmt.Sprintf("%v: table %s key %x was expected %s", ErrConflict, e.Cond.Table, e.Cond.Key, want)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

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
	// Seek returns, for each of keys in the same order, the first entry of
	// table whose key is at least that key and below end (nil: no upper
	// bound), or a zero Entry if there is none; every one from one
	// snapshot. The returned slices must not be modified.
	Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]Entry, error)
	// Write applies every operation of b atomically: after a crash, either
	// all of them are stored or none. It first checks b's conditions in
	// the same transaction: if one does not hold, it writes nothing and
	// returns a *ConflictError. The store may keep the batch's key and
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

// A Cond is a condition of a batch: Key of Table holds exactly Value, or
// is absent if Value is nil (an empty non-nil Value is an empty value).
type Cond struct {
	Table      string
	Key, Value []byte
}

// Holds reports whether the condition holds for the value stored under its
// key (nil if absent).
func (c *Cond) Holds(stored []byte) bool {
	if c.Value == nil || stored == nil {
		return c.Value == nil && stored == nil
	}
	return bytes.Equal(c.Value, stored)
}

// A Batch is an ordered list of writes applied atomically by Store.Write,
// if its conditions hold. Later writes to the same key win.
type Batch struct {
	Ops []Op
	// Conds are checked before the writes, in the same transaction: if
	// any fails, nothing is written.
	Conds []Cond
}

// Expect adds a condition: the batch is written only if key holds exactly
// value when it is (nil: only if key is absent). The batch keeps the
// slices: do not modify them afterwards.
func (b *Batch) Expect(table string, key, value []byte) {
	b.Conds = append(b.Conds, Cond{Table: table, Key: key, Value: value})
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

// Reset empties the batch (operations and conditions), keeping its capacity.
func (b *Batch) Reset() { b.Ops, b.Conds = b.Ops[:0], b.Conds[:0] }

// Check validates every operation and condition of b, so that a store can
// refuse a bad batch before it writes anything.
func (b *Batch) Check() error {
	for i, op := range b.Ops {
		if err := CheckTable(op.Table); err != nil {
			return fmt.Errorf("batch op %d: %w", i, err)
		}
		if len(op.Key) == 0 {
			return fmt.Errorf("batch op %d: %w", i, ErrEmptyKey)
		}
	}
	for i, c := range b.Conds {
		if err := CheckTable(c.Table); err != nil {
			return fmt.Errorf("batch condition %d: %w", i, err)
		}
		if len(c.Key) == 0 {
			return fmt.Errorf("batch condition %d: %w", i, ErrEmptyKey)
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

// DeleteRange adds to b a deletion of every key of table in [start, end)
// (end nil: no upper bound), read now from s, and returns how many keys and
// bytes (keys and values) it will free. Written with the batch's other
// operations, the range goes in one transaction; a condition on a record
// that every writer of the range updates (a book record) makes sure no key
// was added to it meanwhile.
func DeleteRange(ctx context.Context, s Store, b *Batch, table string, start, end []byte) (keys int, size int64, err error) {
	es, err := s.Scan(ctx, table, start, end, 0)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range es {
		b.Delete(table, e.Key)
		size += int64(len(e.Key) + len(e.Value))
	}
	return len(es), size, nil
}

// RangeSize returns how many keys of table are in [start, end) and their
// bytes, keys and values.
func RangeSize(ctx context.Context, s Store, table string, start, end []byte) (keys int, size int64, err error) {
	es, err := s.Scan(ctx, table, start, end, 0)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range es {
		size += int64(len(e.Key) + len(e.Value))
	}
	return len(es), size, nil
}
