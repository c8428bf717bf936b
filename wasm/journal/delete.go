package journal

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// pagesRange returns the store keys [start, end) of every page record of
// book (pages and their tree hashes).
func pagesRange(book identity.ID) (start, end []byte) {
	return pageKey(book, 0), append(pageKey(book, math.MaxUint64), 0)
}

// BookSize returns the bytes a book takes in the store: its record, its
// page records (pages and tree hashes, keys included) and, for a book
// this profile authors, its name binding. A book not stored is 0.
func (db *DB) BookSize(ctx context.Context, key identity.ID) (int64, error) {
	v, err := store.GetOne(ctx, db.store, store.TableBooks, key[:])
	if err != nil || v == nil {
		return 0, err
	}
	size := int64(len(key) + len(v))
	var rec bookRecord
	if err := Unmarshal(v, &rec); err == nil && rec.Own {
		size += int64(len(rec.Name) + len(key))
	}
	start, end := pagesRange(key)
	_, pages, err := store.RangeSize(ctx, db.store, store.TablePages, start, end)
	if err != nil {
		return 0, err
	}
	return size + pages, nil
}

// DeleteBook removes a book from the profile, in one write: its record,
// every page record, and for a book this profile authors its name
// binding. It returns the bytes freed (as BookSize counts them). The audit
// book records the deletion; the audit book itself cannot be deleted
// (ErrUnauthorized). A book not stored is ErrNotFound.
//
// A Book value of the deleted book refuses every later write
// (ErrDeleted); opening the key again (Reader, Author) makes a new, empty
// book. Subscribers see EventDelete.
//
// A book this profile authors, deleted and then authored again under the
// same name, gets the same key and starts again at page 0: its readers
// would take the new pages as a fork. Delete only the books of tasks this
// profile leaves for good.
func (db *DB) DeleteBook(ctx context.Context, key identity.ID) (int64, error) {
	if key == db.audit.key {
		return 0, fmt.Errorf("delete book %s: %w: the audit book stays", key.Short(), ErrUnauthorized)
	}
	db.mu.Lock()
	b, _, err := db.loadOrCreate(ctx, key, nil)
	if err != nil {
		db.mu.Unlock()
		return 0, fmt.Errorf("delete book %s: %w", key.Short(), err)
	}
	b.mu.Lock()
	freed, err := db.deleteLocked(ctx, b)
	if err == nil {
		b.deleted = true
		delete(db.books, key)
		delete(db.catalog, key)
		db.deletes++
	}
	db.mu.Unlock()
	if err != nil {
		b.mu.Unlock()
		return 0, fmt.Errorf("delete book %s: %w", key.Short(), err)
	}
	db.emit(&b.mu, &Event{Type: EventDelete, Book: key, Name: b.rec.Name})
	if err := db.log(ctx, map[string]any{"op": "delete", "key": key.String(), "bytes": freed}); err != nil {
		return freed, err
	}
	return freed, nil
}

// deleteLocked writes the deletion of b. Called with db.mu and b.mu held.
func (db *DB) deleteLocked(ctx context.Context, b *Book) (int64, error) {
	cond, err := b.expectLocked()
	if err != nil {
		return 0, err
	}
	batch := store.Batch{Conds: []store.Cond{cond}}
	batch.Delete(store.TableBooks, b.key[:])
	freed := int64(len(b.key) + len(b.stored))
	if b.rec.Own && b.rec.Name != "" {
		// Names are bound once, with the book's genesis, and never moved.
		bound, err := store.GetOne(ctx, db.store, store.TableNames, []byte(b.rec.Name))
		if err != nil {
			return 0, err
		}
		if bytes.Equal(bound, b.key[:]) {
			batch.Delete(store.TableNames, []byte(b.rec.Name))
			freed += int64(len(b.rec.Name) + len(b.key))
		}
	}
	start, end := pagesRange(b.key)
	_, pages, err := store.DeleteRange(ctx, db.store, &batch, store.TablePages, start, end)
	if err != nil {
		return 0, err
	}
	if err := db.write(ctx, &batch, b); err != nil {
		return 0, err
	}
	return freed + pages, nil
}
