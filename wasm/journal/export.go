package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

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
// against the head), then checks each against the books held and stores
// them all in one store write with the import's audit entry: all or
// nothing. A tampered export, or one whose any book conflicts with a book
// held (a fork, a name bound to another book, a replica of this profile's
// own book), is refused whole and leaves the store as it was. Books of this
// profile come back as its own; others as replicas, which must be
// consistent with the heads already held (an older head than the one held
// is ignored). The profile's own audit book is not restored: the store
// keeps the audit book it has.
func (db *DB) Import(ctx context.Context, ex *Export) ([]ImportResult, error) {
	if ex.Format != ExportFormat || ex.Version != 1 {
		return nil, fmt.Errorf("import: %w: not a %s version 1", ErrMalformed, ExportFormat)
	}
	all := make([]importBook, 0, len(ex.Books))
	seen := make(map[identity.ID]bool, len(ex.Books))
	for i, eb := range ex.Books {
		c, err := checkImport(&eb)
		if err == nil && seen[c.head.Key] {
			err = fmt.Errorf("%w: the book is in the export twice", ErrMalformed)
		}
		if err != nil {
			return nil, fmt.Errorf("import: book %d (%s): %w", i, eb.Key.Short(), err)
		}
		seen[c.head.Key] = true
		if c.head.Key == db.audit.Key() {
			// The audit book is this store's own log: a new store has started
			// a new one, so the exported one is history, not restored.
			continue
		}
		all = append(all, c)
	}
	return db.storeImport(ctx, ex.Profile, all)
}

// importBook is one verified book of an export.
type importBook struct {
	head   Head
	pages  [][]byte       // pages [0, head.Length), or nil: the head only
	hashes map[int64]Hash // the stored hashes of pages, by stored index
	g      *Genesis       // page 0, decoded, if pages
}

// ReadHashes implements tlog.HashReader over the export's hashes.
func (c *importBook) ReadHashes(idx []int64) ([]Hash, error) {
	hs := make([]Hash, len(idx))
	for i, s := range idx {
		h, ok := c.hashes[s]
		if !ok {
			return nil, fmt.Errorf("%w: tree hash %d", ErrNotFound, s)
		}
		hs[i] = h
	}
	return hs, nil
}

// checkImport verifies one book of an export on its own.
func checkImport(eb *ExportBook) (importBook, error) {
	head, err := DecodeHead(eb.Head)
	if err != nil {
		return importBook{}, err
	}
	if head.Key != eb.Key || head.Length == 0 || len(eb.Pages) != 0 && uint64(len(eb.Pages)) != head.Length {
		return importBook{}, fmt.Errorf("%w: head of %d pages for key %s with %d pages", ErrMalformed, head.Length, head.Key.Short(), len(eb.Pages))
	}
	c := importBook{head: head}
	if len(eb.Pages) == 0 {
		return c, nil
	}
	hashes, err := VerifyRange(&head, 0, eb.Pages, &RangeProof{})
	if err != nil {
		return importBook{}, err
	}
	c.pages = eb.Pages
	c.hashes = make(map[int64]Hash)
	for r, hs := range hashes {
		base := tlog.StoredHashIndex(0, int64(r))
		for j, h := range hs {
			c.hashes[base+int64(j)] = h
		}
	}
	if c.g, err = DecodeGenesis(eb.Pages[0]); err != nil {
		return importBook{}, err
	}
	if c.g.Key != head.Key {
		return importBook{}, fmt.Errorf("%w: genesis of another book", ErrBadGenesis)
	}
	return c, nil
}

// stagedImport is what an import does to one book, prepared under the
// locks of storeImport and applied once the batch is written.
type stagedImport struct {
	b        *Book // the book, or a new one (created set)
	created  bool
	own      bool
	rec      bookRecord
	recBytes []byte     // rec, as written
	frontier frontier   // own books: the frontier after the import
	ops      []store.Op // name bindings and page records to write
	start    uint64     // the first page of recs
	recs     [][]byte   // the page records written
	evs      []*Event
}

// storeImport checks every verified book against the books held and
// writes them all in one batch, with the audit entry. It holds db.mu and
// the locks of every book concerned (in key order, as AppendMany) from the
// first check to the write.
func (db *DB) storeImport(ctx context.Context, from identity.ID, all []importBook) ([]ImportResult, error) {
	held := []*sync.Mutex{&db.mu}
	db.mu.Lock()
	unlock := func() {
		for _, l := range held {
			l.Unlock()
		}
	}
	books := make([]*Book, len(all))
	lock := []*Book{db.audit}
	for i, c := range all {
		b, err := db.loadHeld(ctx, c.head.Key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			unlock()
			return nil, fmt.Errorf("import: book %s: %w", c.head.Key.Short(), err)
		default:
			books[i] = b
			lock = append(lock, b)
		}
	}
	slices.SortFunc(lock, func(a, b *Book) int { return bytes.Compare(a.key[:], b.key[:]) })
	for _, b := range lock {
		b.mu.Lock()
		held = append(held, &b.mu)
	}

	var batch store.Batch
	written := []*Book{db.audit}
	claims := make(map[string]identity.ID)
	staged := make([]*stagedImport, 0, len(all))
	out := make([]ImportResult, 0, len(all))
	for i, c := range all {
		st, err := db.stageImport(ctx, &c, books[i], claims)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("import: book %s: %w", c.head.Key.Short(), err)
		}
		res := ImportResult{Key: c.head.Key, Length: c.head.Length, Own: st.own}
		if c.g != nil {
			res.Name = c.g.Name
		}
		out = append(out, res)
		if st.b == nil {
			continue // nothing to write
		}
		cond, err := st.b.expectLocked()
		if err != nil {
			unlock()
			return nil, fmt.Errorf("import: %w", err)
		}
		staged = append(staged, st)
		written = append(written, st.b)
		batch.Ops = append(batch.Ops, st.ops...)
		if st.recBytes, err = Marshal(&st.rec); err != nil {
			unlock()
			return nil, err
		}
		batch.Put(store.TableBooks, c.head.Key[:], st.recBytes)
		batch.Expect(cond.Table, cond.Key, cond.Value)
	}
	entry, err := json.Marshal(map[string]any{"op": "import", "books": len(out), "from": from.String(), "date": db.now().UnixMilli()})
	if err != nil {
		unlock()
		return nil, err
	}
	audit, err := db.audit.stageLocked([][]byte{entry}, batch.Ops)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := db.write(ctx, &store.Batch{Ops: audit.ops, Conds: append(batch.Conds, audit.cond[0])}, written...); err != nil {
		unlock()
		return nil, fmt.Errorf("import: store %d books: %w", len(staged), err)
	}

	var evs []*Event
	for _, st := range staged {
		b := st.b
		b.rec, b.stored = st.rec, st.recBytes
		if st.own {
			b.frontier = st.frontier
		}
		b.recent.reset()
		if len(st.recs) > 0 {
			b.recent.add(st.start, st.recs, db.keep)
		}
		if st.created {
			db.openedLocked(b.key, b)
		}
		evs = append(evs, st.evs...)
	}
	evs = append(evs, audit.commitLocked())
	db.emitUnlocking(held, evs...)
	return out, nil
}

// stageImport checks c against b, the book held under its key (nil if
// none), and prepares the book's new record and page records. claims are
// the names bound by the import so far. It returns a stagedImport with a
// nil b when the book needs no write.
func (db *DB) stageImport(ctx context.Context, c *importBook, b *Book, claims map[string]identity.ID) (*stagedImport, error) {
	key := c.head.Key
	own := c.g != nil && c.g.Author == db.ID() && db.BookKey(c.g.Name) == key
	claim := func(name string) (store.Op, error) {
		if k, ok := claims[name]; ok && k != key {
			return store.Op{}, fmt.Errorf("%w: name %q is bound to book %s", ErrUnauthorized, name, k.Short())
		}
		claims[name] = key
		return db.claimName(ctx, name, key)
	}
	conflict := fmt.Errorf("%w: the export conflicts with the book here", ErrForked)
	st := &stagedImport{b: b, own: own}
	if b == nil {
		st.created = true
		st.b = &Book{db: db, key: key, rec: bookRecord{Version: 1, Key: key[:]}}
		if own {
			st.b.signer = db.bookSigner(c.g.Name)
			st.b.rec.Name, st.b.rec.Author, st.b.rec.Own = c.g.Name, db.ID().Bytes(), true
			// As Author's: a replication session running with the book's
			// reader serves it from now on.
			st.evs = append(st.evs, &Event{Type: EventCreate, Book: key, Name: c.g.Name, Head: c.head})
		} else {
			st.evs = append(st.evs, &Event{Type: EventCreate, Book: key})
		}
	}
	st.rec = st.b.rec
	cur := st.rec.head()
	switch {
	case st.b.Writable() != own:
		return nil, fmt.Errorf("%w: a book of this profile under another name", ErrUnauthorized)
	case st.rec.Fork != nil:
		return nil, verifyErr(key, c.head.Length, ErrForked, "head")
	case cur.IsZero():
	case c.head.Length < cur.Length:
		if !own {
			return st.noWrite(), nil // an older head of a replica: nothing to learn
		}
		root, err := tlog.TreeHash(int64(c.head.Length), st.b.hashReader(ctx))
		if err != nil || root != c.head.Root {
			return nil, conflict
		}
		return st.noWrite(), nil
	case c.head.Length == cur.Length:
		if c.head.Root != cur.Root {
			return nil, conflict
		}
		if own || c.pages == nil || len(st.rec.Have.Missing(0, cur.Length)) == 0 {
			return st.noWrite(), nil
		}
	case c.pages == nil:
		return nil, verifyErr(key, c.head.Length, ErrBadProof, "head not consistent with %d: no pages to prove it", cur.Length)
	default:
		if root, err := tlog.TreeHash(int64(cur.Length), c); err != nil || root != cur.Root {
			return nil, conflict
		}
	}
	if cur.IsZero() || c.head.Length > cur.Length {
		h := c.head
		st.rec.Head, st.rec.Frontier = &h, nil // opening reads the imported tree
		if !own {
			st.evs = append(st.evs, &Event{Type: EventHead, Book: key, Name: st.rec.Name, Index: cur.Length, Head: h})
		}
	}
	if own {
		if st.created {
			op, err := claim(c.g.Name)
			if err != nil {
				return nil, err
			}
			st.ops = append(st.ops, op)
		}
		if err := st.stagePages(c, cur.Length, nil); err != nil {
			return nil, err
		}
		idx := treeIndexes(int64(c.head.Length))
		hs, err := c.ReadHashes(idx)
		if err != nil {
			return nil, err
		}
		st.frontier = frontierAt(idx, hs)
		return st, nil
	}
	if c.pages == nil {
		return st, nil
	}
	g := c.g
	switch {
	case g.Author == db.ID():
		return nil, verifyErr(key, 0, ErrUnauthorized, "genesis claims this profile as author")
	case len(st.rec.Author) > 0 && !bytes.Equal(st.rec.Author, g.Author[:]):
		return nil, verifyErr(key, 0, ErrBadGenesis, "genesis by %s, expected author %x", g.Author.Short(), st.rec.Author[:4])
	}
	if _, ok := NameAuthor(g.Name); ok {
		op, err := claim(g.Name)
		if err != nil {
			return nil, err
		}
		st.ops = append(st.ops, op)
	}
	st.rec.Name, st.rec.Author, st.rec.Genesis = g.Name, g.Author[:], true
	held := st.rec.Have
	st.rec.Have = st.rec.Have.Add(0, c.head.Length)
	if err := st.stagePages(c, 0, held); err != nil {
		return nil, err
	}
	st.evs = append(st.evs, &Event{Type: EventPut, Book: key, Name: g.Name, Pages: c.pages, Head: c.head})
	return st, nil
}

// noWrite marks st as needing no write.
func (st *stagedImport) noWrite() *stagedImport { st.b = nil; return st }

// stagePages prepares the chunks of pages [start, head length) with their
// tree hashes, but of those held (have) only the records.
func (st *stagedImport) stagePages(c *importBook, start uint64, have Ranges) error {
	st.start = start
	if start >= c.head.Length {
		return nil
	}
	hashes := make([][]Hash, c.head.Length-start)
	for i := start; i < c.head.Length; i++ {
		lo, hi := tlog.StoredHashIndex(0, int64(i)), tlog.StoredHashIndex(0, int64(i+1))
		idx := make([]int64, hi-lo)
		for j := range idx {
			idx[j] = lo + int64(j)
		}
		hs, err := c.ReadHashes(idx)
		if err != nil {
			return err
		}
		hashes[i-start] = hs
	}
	var batch store.Batch
	st.recs = putMissing(&batch, c.head.Key, have, start, c.pages[start:], hashes)
	st.ops = append(st.ops, batch.Ops...)
	return nil
}
