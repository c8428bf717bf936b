//go:build !js

package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// maxGroup is the most batches the writer commits in one transaction.
const maxGroup = 256

// pagesFillPercent is how full bbolt fills a leaf of the pages table
// before it splits it. Pages of a book are mostly written in index order,
// so the left half of a split leaf rarely gets another key: leaves are
// better packed full than at bbolt's default of half (1,178 bytes of file
// per 1 KiB page instead of 2,195 at 4 KiB pages and half full).
const pagesFillPercent = 1.0

// errNoChange rolls back a transaction that changed nothing (every batch
// skipped, or conditions only), which spares its syncs.
var errNoChange = errors.New("boltstore: no change")

// A write is one Write call waiting for the writer.
type write struct {
	ctx  context.Context // the caller's
	b    *store.Batch
	done chan error // buffered; the writer sends the result once
}

// Write implements store.Store. The batch is checked first (tables, empty
// and oversized keys and values); then it waits for its turn in the writer,
// which checks ctx and the batch's conditions in the transaction that
// writes it. Once its turn has come, Write returns only when the
// transaction is committed and synced to disk, whatever ctx says: the
// result is never in doubt.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkBatch(b); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	w := &write{ctx: ctx, b: b, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-w.done
}

// checkBatch adds bbolt's size limits to b.Check.
func checkBatch(b *store.Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	for i, op := range b.Ops {
		if len(op.Key) > MaxKeySize || len(op.Value) > MaxValueSize {
			return fmt.Errorf("batch op %d: %w: key of %d bytes (at most %d), value of %d bytes (at most %d)",
				i, ErrTooLarge, len(op.Key), MaxKeySize, len(op.Value), MaxValueSize)
		}
	}
	return nil
}

// writer runs until Close: it takes the writes waiting and commits them
// together, so that concurrent writers share one fsync.
func (s *Store) writer() {
	defer close(s.stopped)
	for {
		select {
		case w := <-s.writes:
			s.commit(s.gather(w))
		case <-s.stop:
			return
		}
	}
}

// gather returns first and the writes already waiting, up to maxGroup.
func (s *Store) gather(first *write) []*write {
	group := []*write{first}
	for len(group) < maxGroup {
		select {
		case w := <-s.writes:
			group = append(group, w)
		default:
			return group
		}
	}
	return group
}

// commit writes group in one transaction, each batch applied as if alone
// and in order: a batch whose ctx is done or whose condition fails is
// skipped with that error, writing nothing, and the others go on. An error
// of bbolt itself aborts the transaction; then each batch is retried in a
// transaction of its own, so that one bad batch fails only its own Write.
func (s *Store) commit(group []*write) {
	s.commits.Add(1)
	results := make([]error, len(group))
	err := s.db.Update(func(tx *bolt.Tx) error {
		changed := false
		for i, w := range group {
			skip, err := apply(tx, w)
			if err != nil {
				return err
			}
			results[i] = skip
			changed = changed || skip == nil && len(w.b.Ops) > 0
		}
		if !changed {
			return errNoChange
		}
		return nil
	})
	if err == errNoChange {
		err = nil
	}
	if err != nil && len(group) > 1 {
		for _, w := range group {
			s.commit([]*write{w})
		}
		return
	}
	for i, w := range group {
		if err != nil {
			w.done <- fmt.Errorf("boltstore: write: %w", err)
			continue
		}
		w.done <- results[i]
	}
}

// apply checks w's ctx and conditions in tx and, if they hold, applies its
// operations. skip is the reason w was not applied (its ctx's error or a
// *store.ConflictError); err is an error of bbolt that spoils tx.
func apply(tx *bolt.Tx, w *write) (skip, err error) {
	if err := w.ctx.Err(); err != nil {
		return err, nil
	}
	for _, c := range w.b.Conds {
		if !c.Holds(tx.Bucket([]byte(c.Table)).Get(c.Key)) {
			return &store.ConflictError{Cond: c}, nil
		}
	}
	for _, op := range w.b.Ops {
		b := tx.Bucket([]byte(op.Table))
		if op.Table == store.TablePages {
			b.FillPercent = pagesFillPercent
		}
		if op.Value == nil {
			err = b.Delete(op.Key)
		} else {
			err = b.Put(op.Key, op.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}
