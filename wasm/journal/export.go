package journal

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// ExportFormat names the JSON export of a profile's books.
const ExportFormat = "taskmessenger-export"

// An Export is a profile's books as JSON: each with its signed head and the
// pages it holds from 0. Import verifies all of it before storing any.
type Export struct {
	Format  string       `json:"format"`
	Version int          `json:"version"`
	Profile identity.ID  `json:"profile"`
	Date    int64        `json:"date"` // Unix milliseconds
	Books   []ExportBook `json:"books"`
}

// ExportBook is one book of an Export. Head is the CBOR head; Pages are
// pages [0, len(Pages)). A replica that does not hold a prefix up to its
// head exports only the head.
type ExportBook struct {
	Key    identity.ID `json:"key"`
	Name   string      `json:"name,omitempty"`
	Author identity.ID `json:"author"`
	Head   []byte      `json:"head"`
	Pages  [][]byte    `json:"pages"`
}

// Export returns every book of the profile.
func (db *DB) Export(ctx context.Context) (*Export, error) {
	infos, err := db.Books(ctx)
	if err != nil {
		return nil, err
	}
	ex := &Export{Format: ExportFormat, Version: 1, Profile: db.ID(), Date: db.now().UnixMilli()}
	for _, info := range infos {
		if info.Head.IsZero() {
			continue
		}
		head, err := Marshal(info.Head)
		if err != nil {
			return nil, err
		}
		eb := ExportBook{Key: info.Key, Name: info.Name, Author: info.Author, Head: head, Pages: [][]byte{}}
		if n := info.Head.Length; len(info.Have) > 0 && info.Have[0].Start == 0 && info.Have[0].End >= n {
			b, err := db.Get(ctx, info.Key)
			if err != nil {
				return nil, err
			}
			if eb.Pages, err = b.GetRange(ctx, 0, n); err != nil {
				return nil, err
			}
		}
		ex.Books = append(ex.Books, eb)
	}
	return ex, nil
}

// ImportResult says what Import did per book.
type ImportResult struct {
	Key    identity.ID `json:"key"`
	Name   string      `json:"name"`
	Own    bool        `json:"own"`
	Length uint64      `json:"length"`
}

// Import verifies every book of ex (head signature, genesis, every page
// against the head) and only then stores them: a tampered export is refused
// whole. Books of this profile come back as its own; others as replicas,
// which must be consistent with the heads already held. The profile's own
// audit book is not restored: the store keeps the audit book it has.
func (db *DB) Import(ctx context.Context, ex *Export) ([]ImportResult, error) {
	if ex.Format != ExportFormat || ex.Version != 1 {
		return nil, fmt.Errorf("import: %w: not a %s version 1", ErrMalformed, ExportFormat)
	}
	type checked struct {
		head   Head
		pages  [][]byte
		hashes map[int64]Hash
		g      *Genesis
	}
	all := make([]checked, 0, len(ex.Books))
	for i, eb := range ex.Books {
		c, err := func() (checked, error) {
			head, err := DecodeHead(eb.Head)
			if err != nil {
				return checked{}, err
			}
			if head.Key != eb.Key || len(eb.Pages) != 0 && uint64(len(eb.Pages)) != head.Length {
				return checked{}, fmt.Errorf("%w: head of %d pages for key %s with %d pages", ErrMalformed, head.Length, head.Key.Short(), len(eb.Pages))
			}
			c := checked{head: head, pages: eb.Pages}
			if len(eb.Pages) == 0 {
				return c, nil
			}
			hashes, err := VerifyRange(&head, 0, eb.Pages, &RangeProof{})
			if err != nil {
				return checked{}, err
			}
			c.hashes = make(map[int64]Hash)
			for r, hs := range hashes {
				base := tlog.StoredHashIndex(0, int64(r))
				for j, h := range hs {
					c.hashes[base+int64(j)] = h
				}
			}
			if c.g, err = DecodeGenesis(eb.Pages[0]); err != nil {
				return checked{}, err
			}
			if c.g.Key != head.Key {
				return checked{}, fmt.Errorf("%w: genesis of another book", ErrBadGenesis)
			}
			return c, nil
		}()
		if err != nil {
			return nil, fmt.Errorf("import: book %d (%s): %w", i, eb.Key.Short(), err)
		}
		all = append(all, c)
	}

	var out []ImportResult
	for _, c := range all {
		res := ImportResult{Key: c.head.Key, Length: c.head.Length}
		if c.g != nil {
			res.Name = c.g.Name
		}
		reader := tlog.HashReaderFunc(func(idx []int64) ([]Hash, error) {
			hs := make([]Hash, len(idx))
			for i, s := range idx {
				h, ok := c.hashes[s]
				if !ok {
					return nil, fmt.Errorf("%w: tree hash %d", ErrNotFound, s)
				}
				hs[i] = h
			}
			return hs, nil
		})
		var err error
		if c.head.Key == db.audit.Key() {
			// The audit book is this store's own log: a new store has started
			// a new one, so the exported one is history, not restored.
			continue
		}
		if c.g != nil && c.g.Author == db.ID() && db.BookKey(c.g.Name) == c.head.Key {
			res.Own = true
			err = db.restoreOwn(ctx, c.g.Name, c.head, c.pages, reader)
		} else {
			err = db.importReplica(ctx, c.head, c.pages, reader)
		}
		if err != nil {
			return out, fmt.Errorf("import: book %s: %w", c.head.Key.Short(), err)
		}
		out = append(out, res)
	}
	return out, db.log(ctx, map[string]any{"op": "import", "books": len(out), "from": ex.Profile.String()})
}

func (db *DB) importReplica(ctx context.Context, head Head, pages [][]byte, tree tlog.HashReader) error {
	b, err := db.Reader(ctx, head.Key)
	if err != nil {
		return err
	}
	if b.Writable() {
		return fmt.Errorf("%w: a book of this profile under another name", ErrUnauthorized)
	}
	cur := b.Len()
	up := &Upgrade{Head: head, From: cur}
	if cur > 0 && cur < head.Length && pages != nil {
		if up.FromRoot, err = tlog.TreeHash(int64(cur), tree); err != nil {
			return err
		}
		if up.Proof, err = tlog.ProveTree(int64(head.Length), int64(cur), tree); err != nil {
			return err
		}
	}
	if _, err := b.AcceptHead(ctx, up); err != nil && !errors.Is(err, ErrStaleHead) {
		return err
	}
	if pages == nil || b.Len() != head.Length {
		return nil
	}
	missing := b.Have().Missing(0, head.Length)
	if len(missing) == 0 {
		return nil
	}
	return b.PutRange(ctx, 0, pages, head.Length, &RangeProof{})
}

// restoreOwn brings back a book of this profile from an export: created if
// missing, extended if the export is longer and consistent.
func (db *DB) restoreOwn(ctx context.Context, name string, head Head, pages [][]byte, tree tlog.HashReader) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	signer := db.key.Derive("book", name)
	b, _, err := db.loadOrCreate(ctx, head.Key, func() (*Book, error) {
		op, err := db.claimName(ctx, name, head.Key)
		if err != nil {
			return nil, err
		}
		b := &Book{db: db, key: head.Key, signer: signer, rec: bookRecord{Version: 1, Key: head.Key[:], Name: name, Author: db.key.ID().Bytes(), Own: true}}
		return b, b.restore(ctx, head, pages, tree, []store.Op{op})
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.rec.head()
	if cur.Length >= head.Length {
		root, err := tlog.TreeHash(int64(head.Length), storeHashes{ctx: ctx, st: db.store, book: b.key})
		if err != nil || root != head.Root {
			return fmt.Errorf("%w: the export conflicts with the book here", ErrForked)
		}
		return nil
	}
	if root, err := tlog.TreeHash(int64(cur.Length), tree); err != nil || root != cur.Root {
		return fmt.Errorf("%w: the export conflicts with the book here", ErrForked)
	}
	return b.restore(ctx, head, pages, tree, nil)
}

// restore writes pages [current length, head.Length) with their hashes and
// the imported head. Called with b.mu held (or before b is shared).
func (b *Book) restore(ctx context.Context, head Head, pages [][]byte, tree tlog.HashReader, extra []store.Op) error {
	start := b.rec.head().Length
	batch := store.Batch{Ops: extra}
	for i := start; i < head.Length; i++ {
		n := tlog.StoredHashIndex(0, int64(i+1)) - tlog.StoredHashIndex(0, int64(i))
		idx := make([]int64, n)
		for j := range idx {
			idx[j] = tlog.StoredHashIndex(0, int64(i)) + int64(j)
		}
		hs, err := tree.ReadHashes(idx)
		if err != nil {
			return err
		}
		batch.Put(store.TablePages, pageKey(b.key, i), appendRecord(nil, hs, pages[i]))
	}
	rec := b.rec
	rec.Head = &head
	recBytes, err := Marshal(&rec)
	if err != nil {
		return err
	}
	batch.Put(store.TableBooks, b.key[:], recBytes)
	if err := b.db.store.Write(ctx, &batch); err != nil {
		return err
	}
	b.recent.reset()
	idx := treeIndexes(int64(head.Length))
	hs, err := tree.ReadHashes(idx)
	if err != nil {
		return err
	}
	b.frontier = make(frontier, len(idx))
	for i, s := range idx {
		b.frontier[i] = storedHash{s, hs[i]}
	}
	b.rec = rec
	return nil
}
