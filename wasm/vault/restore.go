package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// Errors of Restore.
// UIBook is the name of the private book of the page's UI state
// (room.uiBook).
const UIBook = "ui"

var (
	// ErrNotEmpty means a restore of another identity into a profile that
	// is not empty (see Empty): its own books and tasks would be lost.
	ErrNotEmpty = errors.New("vault: this profile has books or tasks of its own: a backup of another profile restores only into an empty profile (export and reset this one first)")
	// ErrSeedMismatch means a seed that is not the export's profile's.
	ErrSeedMismatch = errors.New("vault: the backup's seed is not its books' profile's")
)

// Empty reports whether db holds nothing of the user's: no replica, and
// its own books hold nothing past their genesis page, except the audit
// book, which journal.Open writes to. A profile just opened by the
// messenger (its audit book and its empty "tasks" book) is empty; one that
// created, joined or imported a task is not. The page's UI state (the
// book UIBook) is not the user's data: a restore replaces it.
func Empty(ctx context.Context, db *journal.DB) (bool, error) {
	infos, err := db.Books(ctx)
	if err != nil {
		return false, err
	}
	audit := db.Audit().Key()
	for _, b := range infos {
		switch {
		case b.Key == audit:
		case b.Writable && b.Name == UIBook:
		case !b.Writable || b.Head.Length > 1:
			return false, nil
		}
	}
	return true, nil
}

// Restore makes p the profile of seed with the books of ex (a backup of
// that profile): nothing is written unless all of it can be.
//
// If seed is p's own, it imports ex into p.DB (journal.DB.Import: verified,
// all or nothing) and returns p. Otherwise p must be Empty: Restore
// builds the restored profile in memory (the seed, a journal opened on it,
// ex imported: every book verified), then replaces the whole content of
// p's store by it in one store write that expects the seed, the profile
// record and every book record it read (a write by another DB in between
// makes it fail and write nothing), keeping the store's writer epoch so
// that the journal opened again on the store fences every DB opened
// before. It returns the new profile, on p's store; p.DB must not be used
// after (its writes would fail: its book records are gone).
func Restore(ctx context.Context, p *Profile, seed identity.Seed, ex *journal.Export) (*Profile, []journal.ImportResult, error) {
	id := identity.New(seed).ID()
	if ex.Profile != id {
		return nil, nil, ErrSeedMismatch
	}
	if id == p.ID {
		res, err := p.DB.Import(ctx, ex)
		if err != nil {
			return nil, nil, err
		}
		return p, res, nil
	}
	empty, err := Empty(ctx, p.DB)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: restore: %w", err)
	}
	if !empty {
		return nil, nil, ErrNotEmpty
	}
	mem := store.NewMemory()
	defer mem.Close()
	var b store.Batch
	b.Put(store.TableMeta, seedKey, seed[:])
	if err := mem.Write(ctx, &b); err != nil {
		return nil, nil, err
	}
	staged, err := journal.Open(ctx, mem, seed, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: restore: %w", err)
	}
	res, err := staged.Import(ctx, ex)
	if err != nil {
		return nil, nil, err
	}
	// Fence every DB open on the store (another tab's too), then check
	// again: from here on only a newer Open can change the store, and the
	// write below then fails (it expects the epoch it reads).
	if err := journal.Fence(ctx, p.Store); err != nil {
		return nil, nil, fmt.Errorf("vault: restore: %w", err)
	}
	if empty, err := Empty(ctx, p.DB); err != nil {
		return nil, nil, fmt.Errorf("vault: restore: %w", err)
	} else if !empty {
		return nil, nil, ErrNotEmpty
	}
	batch, err := replaceAll(ctx, p.Store, mem)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: restore: %w", err)
	}
	if err := p.Store.Write(ctx, batch); err != nil {
		return nil, nil, fmt.Errorf("vault: restore: %w", err)
	}
	db, err := journal.Open(ctx, p.Store, seed, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: restore: reopen: %w", err)
	}
	return &Profile{Name: p.Name, ID: id, Store: p.Store, DB: db}, res, nil // a first device
}

// identityMeta are the meta records that say whose store it is: a restore
// replaces them. The other meta records (the journal's writer epoch, which
// must only grow) keep dst's values.
var identityMeta = map[string]bool{string(seedKey): true, "profile": true,
	string(certKey): true, string(identityKey): true, string(linkKey): true}

// replaceAll returns the batch that makes dst hold what src holds: src's
// entries put, dst's others deleted, except dst's meta records other than
// identityMeta, which stay as they are. It expects every meta and book
// record of dst as read.
func replaceAll(ctx context.Context, dst, src store.Store) (*store.Batch, error) {
	var b store.Batch
	for _, table := range store.Tables {
		old, err := dst.Scan(ctx, table, []byte{}, nil, 0)
		if err != nil {
			return nil, err
		}
		now, err := src.Scan(ctx, table, []byte{}, nil, 0)
		if err != nil {
			return nil, err
		}
		held := make(map[string]bool, len(old))
		for _, e := range old {
			if table == store.TableMeta || table == store.TableBooks {
				b.Expect(table, e.Key, e.Value)
			}
			held[string(e.Key)] = true
		}
		keep := make(map[string]bool, len(now))
		for _, e := range now {
			if table == store.TableMeta && !identityMeta[string(e.Key)] && held[string(e.Key)] {
				continue // dst's own, kept
			}
			keep[string(e.Key)] = true
			b.Put(table, bytes.Clone(e.Key), bytes.Clone(e.Value))
		}
		for _, e := range old {
			if !keep[string(e.Key)] && !(table == store.TableMeta && !identityMeta[string(e.Key)]) {
				b.Delete(table, e.Key)
			}
		}
	}
	return &b, nil
}
