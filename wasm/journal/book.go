package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// A Book is one append-only log of pages. The profile that authors it holds
// its signing key and may Append; every other profile holds a replica,
// opened by key, that accepts only what verifies against signed heads.
//
// A Book is safe for concurrent use.
type Book struct {
	db     *DB
	key    identity.ID
	signer *identity.Key // book key; nil for replicas

	qmu     sync.Mutex   // guards queue and leading
	queue   []*appendReq // appends waiting for the next group commit
	leading bool         // an Append is committing; others queue behind it

	mu  sync.Mutex // serializes writes; guards the fields below
	rec bookRecord
	// stored is the book record's bytes as this DB last read them from or
	// wrote them to the store (nil: no record stored yet). Every write of
	// the record expects them (store.Batch.Expect): a compare-and-swap on
	// the stored head, so a write from a stale state fails instead of
	// overwriting another writer's pages and head.
	stored []byte
	// stale is set once a write found the record changed by another
	// writer: every later write fails with ErrStaleWriter at once.
	stale bool
	// deleted is set once DeleteBook removed the book: every later write
	// fails with ErrDeleted.
	deleted bool
	// unshown: this DB appended to the book, and has not shown its head
	// since (Unshown).
	unshown bool
	// frontier holds, for authors, the stored hashes that extending the
	// tree reads: the roots of the subtrees that tile [0, length).
	frontier frontier

	recent recentPages // the newest page records written, in memory

	verified verifiedHeads // a replica's: preview.go
}

// A frontier is a short list of stored hashes by stored index.
type frontier []storedHash

type storedHash struct {
	index int64
	hash  Hash
}

// frontierAt is the frontier of hashes hs at the stored indexes idx.
func frontierAt(idx []int64, hs []Hash) frontier {
	f := make(frontier, len(idx))
	for i, s := range idx {
		f[i] = storedHash{s, hs[i]}
	}
	return f
}

// gives reports whether f, the frontier of head's tree, hashes to its root.
func (f frontier) gives(head Head) bool {
	_, _, root, err := grow(int64(head.Length), nil, f.get)
	return err == nil && root == head.Root
}

// hashes are f's hashes, in its order (bookRecord.Frontier).
func (f frontier) hashes() [][]byte {
	out := make([][]byte, len(f))
	for i := range f {
		out[i] = f[i].hash[:]
	}
	return out
}

func (f frontier) get(s int64) (Hash, bool) {
	for _, e := range f {
		if e.index == s {
			return e.hash, true
		}
	}
	return Hash{}, false
}

// bookRecord is a book's entry in the books table (CBOR map, integer keys).
type bookRecord struct {
	Version uint   `cbor:"1,keyasint"`
	Key     []byte `cbor:"2,keyasint"`
	Name    string `cbor:"3,keyasint,omitempty"`
	Author  []byte `cbor:"4,keyasint,omitempty"`
	Own     bool   `cbor:"5,keyasint,omitempty"`
	Head    *Head  `cbor:"6,keyasint,omitempty"`
	Have    Ranges `cbor:"7,keyasint,omitempty"`
	Fork    *Fork  `cbor:"8,keyasint,omitempty"`
	// Genesis is set once page 0 has been verified. Before that, a
	// replica's Author is the author it expects (see DB.ReaderFrom), if any.
	Genesis bool `cbor:"9,keyasint,omitempty"`
	// Frontier, in an own book's record written by its append, is the tree
	// hashes that Head's tree leaves for the next append to extend (the
	// roots of the subtrees that tile [0, Head.Length), largest first):
	// opening the book reads them here instead of from the pages table.
	// Checked against Head.Root when read; a record without them (written
	// by an import, a restore or an older build) or with hashes that do
	// not give Head.Root has the book read them from its pages.
	Frontier [][]byte `cbor:"10,keyasint,omitempty"`
}

func (r *bookRecord) head() Head {
	if r.Head == nil {
		return Head{}
	}
	return *r.Head
}

// A Fork is the evidence that a book's author signed two heads that cannot
// both be true: Old is the head a replica held, New a later head whose tree,
// by a valid consistency Proof, has at Old's length the root FromRoot, not
// Old.Root. For two heads of the same length, Proof is empty and FromRoot is
// New.Root.
type Fork struct {
	Old, New Head
	FromRoot Hash
	Proof    tlog.TreeProof
}

type wireFork struct {
	_        struct{} `cbor:",toarray"`
	Old, New wireHead
	FromRoot []byte
	Proof    [][]byte
}

// MarshalCBOR implements cbor.Marshaler.
func (f Fork) MarshalCBOR() ([]byte, error) {
	return encMode.Marshal(wireFork{Old: f.Old.wire(), New: f.New.wire(), FromRoot: f.FromRoot[:], Proof: hashesToWire(f.Proof)})
}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (f *Fork) UnmarshalCBOR(b []byte) error {
	var w wireFork
	if err := decMode.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("fork: %w: %v", ErrMalformed, err)
	}
	old, err := w.Old.head()
	if err != nil {
		return fmt.Errorf("fork: %w", err)
	}
	newer, err := w.New.head()
	if err != nil {
		return fmt.Errorf("fork: %w", err)
	}
	root, err := hashFromWire(w.FromRoot)
	if err != nil {
		return err
	}
	proof, err := hashesFromWire(w.Proof)
	if err != nil {
		return err
	}
	*f = Fork{Old: old, New: newer, FromRoot: root, Proof: proof}
	return nil
}

// Verify checks that f proves a fork: both heads signed by the same key,
// and inconsistent.
func (f *Fork) Verify() error {
	if f.Old.Key != f.New.Key {
		return fmt.Errorf("fork evidence: heads of two books")
	}
	if err := f.Old.Key.Check(); err != nil {
		return fmt.Errorf("fork evidence: %w", err)
	}
	if err := f.Old.Verify(); err != nil {
		return err
	}
	if err := f.New.Verify(); err != nil {
		return err
	}
	switch {
	case f.Old.Length == f.New.Length:
		if f.Old.Root == f.New.Root {
			return fmt.Errorf("fork evidence: heads agree")
		}
	case f.Old.Length == 0 || f.Old.Length > f.New.Length || f.FromRoot == f.Old.Root:
		return fmt.Errorf("fork evidence: heads not in conflict")
	default:
		if err := tlog.CheckTree(f.Proof, int64(f.New.Length), f.New.Root, int64(f.Old.Length), f.FromRoot); err != nil {
			return fmt.Errorf("fork evidence: %w", ErrBadProof)
		}
	}
	return nil
}

// Unshown reports whether this DB appended to the book since it opened
// and has not shown its head (Shown) since: replication then shows it to a
// reader that says it holds as many pages, who can tell whether they were
// written elsewhere too (a fork).
func (b *Book) Unshown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unshown
}

// Shown records that the head of length n was sent to the book's reader.
func (b *Book) Shown(n uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rec.head().Length == n {
		b.unshown = false
	}
}

// Key returns the book key (its public key).
func (b *Book) Key() identity.ID { return b.key }

// Writable reports whether this profile authors the book.
func (b *Book) Writable() bool { return b.signer != nil }

// Info returns a snapshot of the book's state.
func (b *Book) Info() BookInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.info()
}

// Name returns the book's name ("" for a replica whose genesis has not arrived).
func (b *Book) Name() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Name
}

// Head returns the newest signed head (the zero Head for a replica that has none).
func (b *Book) Head() Head {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.head()
}

// Len returns the book's length: the pages its newest head covers. A replica
// may hold fewer of them (see Have).
func (b *Book) Len() uint64 { return b.Head().Length }

// Have returns the ranges of pages held.
func (b *Book) Have() Ranges {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.signer != nil {
		return Ranges{{Start: 0, End: b.rec.head().Length}}
	}
	return slices.Clone(b.rec.Have)
}

// Append adds pages at the end of the book, in one atomic store write with
// one signed head, and returns the index of the first. Only the author may
// append (ErrReadOnly).
//
// Concurrent appends to one book share a commit (group commit): the first
// caller writes everything queued behind it with one head, so many writers
// cost one signature and one store transaction.
func (b *Book) Append(ctx context.Context, pages ...[]byte) (uint64, error) {
	if b.signer == nil {
		return 0, fmt.Errorf("book %s: %w", b.key.Short(), ErrReadOnly)
	}
	if len(pages) == 0 {
		return 0, fmt.Errorf("book %s: append of no pages", b.key.Short())
	}
	for i, p := range pages {
		if len(p) > MaxPageSize {
			return 0, fmt.Errorf("book %s: page %d of the batch: %w: %d bytes, at most %d", b.key.Short(), i, ErrTooLarge, len(p), MaxPageSize)
		}
	}
	req := &appendReq{pages: pages, wake: make(chan struct{}, 1)}
	b.qmu.Lock()
	b.queue = append(b.queue, req)
	lead := !b.leading
	b.leading = true
	b.qmu.Unlock()
	if !lead {
		<-req.wake // committed, or promoted to lead
		if req.committed {
			return req.first, req.err
		}
	}

	// Lead: commit everything queued (our request included) as one group,
	// then hand the lead to the first request queued since.
	b.qmu.Lock()
	group := b.queue
	b.queue = nil
	b.qmu.Unlock()
	b.commitGroup(ctx, group)
	b.qmu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].wake <- struct{}{}
	} else {
		b.leading = false
	}
	b.qmu.Unlock()
	return req.first, req.err
}

// appendReq is one caller's Append waiting in a group commit.
type appendReq struct {
	pages     [][]byte
	wake      chan struct{} // receives once: committed, or promoted to lead
	committed bool          // set before wake, by the leader that committed it
	first     uint64
	err       error
}

func (b *Book) commitGroup(ctx context.Context, group []*appendReq) {
	all := group[0].pages
	if len(group) > 1 {
		// Others' appends ride on this caller's commit: its cancellation
		// must not fail them.
		ctx = context.WithoutCancel(ctx)
		all = nil
		for _, r := range group {
			all = append(all, r.pages...)
		}
	}
	b.mu.Lock()
	first, ev, err := b.appendLocked(ctx, all, nil)
	b.db.emit(&b.mu, ev)
	for _, r := range group {
		r.first, r.err, r.committed = first, err, true
		first += uint64(len(r.pages))
	}
	for _, r := range group[1:] {
		r.wake <- struct{}{}
	}
}

// appendLocked appends pages, writing extra with them. It returns the event
// to emit once the lock is released.
func (b *Book) appendLocked(ctx context.Context, pages [][]byte, extra []store.Op) (uint64, *Event, error) {
	st, err := b.stageLocked(pages, extra)
	if err != nil {
		return 0, nil, err
	}
	b.db.emitWriting(st)
	if err := b.db.write(ctx, &store.Batch{Ops: st.ops, Conds: st.cond[:]}, b); err != nil {
		return 0, nil, fmt.Errorf("book %s: append: %w", b.key.Short(), err)
	}
	return st.start, st.commitLocked(), nil
}

// expectLocked returns the condition that the store still holds the book
// record this DB last read or wrote, or ErrStaleWriter if the book is
// known to be stale.
func (b *Book) expectLocked() (store.Cond, error) {
	if b.deleted {
		return store.Cond{}, fmt.Errorf("book %s: %w", b.key.Short(), ErrDeleted)
	}
	if b.stale {
		return store.Cond{}, b.staleErr(nil)
	}
	return store.Cond{Table: store.TableBooks, Key: b.key[:], Value: b.stored}, nil
}

func (b *Book) staleErr(cause error) error {
	if cause == nil {
		return fmt.Errorf("book %s: %w", b.key.Short(), ErrStaleWriter)
	}
	return fmt.Errorf("book %s: %w: %w", b.key.Short(), ErrStaleWriter, cause)
}

// write writes batch, whose conditions expect the records of books (their
// locks held). If another writer changed one of them, that book is marked
// stale and the error is ErrStaleWriter; nothing was written.
func (db *DB) write(ctx context.Context, batch *store.Batch, books ...*Book) error {
	if db.epoch != nil {
		// The writer epoch this DB claimed, as well as the books' records.
		batch.Conds = append(batch.Conds[:len(batch.Conds):len(batch.Conds)], store.Cond{Table: store.TableMeta, Key: writerKey, Value: db.epoch})
	}
	err := db.store.Write(ctx, batch)
	if err == nil {
		return nil
	}
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	db.markStale()
	if ce.Cond.Table == store.TableMeta && bytes.Equal(ce.Cond.Key, writerKey) {
		for _, b := range books {
			b.stale = true
		}
		return fmt.Errorf("%w: the profile was opened again after this DB (another tab or window): %w", ErrStaleWriter, err)
	}
	for _, b := range books {
		if ce.Cond.Table == store.TableBooks && bytes.Equal(ce.Cond.Key, b.key[:]) {
			b.stale = true
			return b.staleErr(err)
		}
	}
	return fmt.Errorf("%w: %w", ErrStaleWriter, err)
}

// putRecordLocked writes rec as the book's record, expecting the one
// stored, and keeps its bytes. The caller sets b.rec.
func (b *Book) putRecordLocked(ctx context.Context, rec *bookRecord) error {
	cond, err := b.expectLocked()
	if err != nil {
		return err
	}
	v, err := Marshal(rec)
	if err != nil {
		return err
	}
	batch := store.Batch{Conds: []store.Cond{cond}}
	batch.Put(store.TableBooks, rec.Key, v)
	if err := b.db.write(ctx, &batch, b); err != nil {
		return err
	}
	b.stored = v
	return nil
}

// stagedAppend is an append prepared under the book's lock: the store
// operations to write, and the state commitLocked moves to once they are.
type stagedAppend struct {
	b        *Book
	start    uint64
	pages    [][]byte
	ops      []store.Op
	cond     [1]store.Cond // the stored record the write expects
	rec      bookRecord
	recBytes []byte
	head     Head
	next     frontier
	fresh    []Hash // the tree hashes the pages add, from StoredHashIndex(0, start)
	recs     [][]byte
}

// stageLocked signs the head after pages and builds their records,
// writing nothing.
func (b *Book) stageLocked(pages [][]byte, extra []store.Op) (*stagedAppend, error) {
	cond, err := b.expectLocked()
	if err != nil {
		return nil, err
	}
	start := b.rec.head().Length
	if pages, err = b.sealLocked(start, pages); err != nil {
		return nil, err
	}
	fresh, counts, root, next := extend(b.frontier, int64(start), leafHashes(pages))
	length := start + uint64(len(pages))
	head := signHead(b.signer, length, root, b.db.deterministic)
	rec := b.rec
	rec.Head = &head
	rec.Frontier = next.hashes()
	recBytes, err := Marshal(&rec)
	if err != nil {
		return nil, err
	}

	batch := store.Batch{Ops: make([]store.Op, 0, len(pages)/8+2+len(extra))}
	batch.Ops = append(batch.Ops, extra...)
	recs := putPages(&batch, b.key, start, pages, perPage(fresh, counts))
	batch.Put(store.TableBooks, b.key[:], recBytes)

	return &stagedAppend{b: b, start: start, pages: pages, ops: batch.Ops, cond: [1]store.Cond{cond}, rec: rec, recBytes: recBytes, head: head, next: next, fresh: fresh, recs: recs}, nil
}

// commitLocked moves the book to the append, once written, and returns
// its event.
func (st *stagedAppend) commitLocked() *Event {
	b := st.b
	b.frontier, b.rec, b.stored = st.next, st.rec, st.recBytes
	b.recent.add(st.start, st.recs, b.db.keep)
	b.recent.keepRoot(st.head.Length, st.head.Root)
	b.unshown = true
	return &Event{Type: EventAppend, Book: b.key, Name: st.rec.Name, Index: st.start, Pages: st.pages, Head: st.head}
}

// A BookAppend is pages to append to one book, for DB.AppendMany.
type BookAppend struct {
	Book  *Book
	Pages [][]byte
}

// AppendMany appends to several books this profile authors at once: one
// store write, so either every book has its pages or none has. It returns
// the index of each append's first page.
func (db *DB) AppendMany(ctx context.Context, as []BookAppend) ([]uint64, error) {
	seen := make(map[identity.ID]bool, len(as))
	for _, a := range as {
		b := a.Book
		switch {
		case b == nil || b.db != db:
			return nil, errors.New("journal: AppendMany of a book of another DB")
		case b.signer == nil:
			return nil, fmt.Errorf("book %s: %w", b.key.Short(), ErrReadOnly)
		case len(a.Pages) == 0:
			return nil, fmt.Errorf("book %s: append of no pages", b.key.Short())
		case seen[b.key]:
			return nil, fmt.Errorf("book %s: twice in one AppendMany", b.key.Short())
		}
		seen[b.key] = true
		for i, p := range a.Pages {
			if len(p) > MaxPageSize {
				return nil, fmt.Errorf("book %s: page %d of the batch: %w: %d bytes, at most %d", b.key.Short(), i, ErrTooLarge, len(p), MaxPageSize)
			}
		}
	}
	// Lock in key order (no other path holds two books' locks).
	order := make([]int, len(as))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return bytes.Compare(as[i].Book.key[:], as[j].Book.key[:]) })
	locks := make([]*sync.Mutex, 0, len(as))
	for _, i := range order {
		as[i].Book.mu.Lock()
		locks = append(locks, &as[i].Book.mu)
	}
	unlock := func() {
		for _, l := range locks {
			l.Unlock()
		}
	}
	staged := make([]*stagedAppend, len(as))
	books := make([]*Book, len(as))
	batch := store.Batch{Conds: make([]store.Cond, 0, len(as))}
	for i, a := range as {
		st, err := a.Book.stageLocked(a.Pages, nil)
		if err != nil {
			unlock()
			return nil, err
		}
		staged[i], books[i] = st, a.Book
		batch.Ops = append(batch.Ops, st.ops...)
		batch.Conds = append(batch.Conds, st.cond[0])
	}
	db.emitWriting(staged...)
	if err := db.write(ctx, &batch, books...); err != nil {
		unlock()
		return nil, fmt.Errorf("journal: append to %d books: %w", len(as), err)
	}
	firsts := make([]uint64, len(as))
	evs := make([]*Event, len(as))
	for i, st := range staged {
		firsts[i], evs[i] = st.start, st.commitLocked()
	}
	db.emitUnlocking(locks, evs...)
	return firsts, nil
}

// Get returns page i. It is ErrNotFound when i is past the end, or when a
// replica does not hold it (yet).
func (b *Book) Get(ctx context.Context, i uint64) ([]byte, error) {
	b.mu.Lock()
	length, held := b.rec.head().Length, b.signer != nil || b.rec.Have.Contains(i)
	b.mu.Unlock()
	if i >= length || !held {
		return nil, fmt.Errorf("book %s: page %d of %d: %w", b.key.Short(), i, length, ErrNotFound)
	}
	recs, err := readRecords(ctx, b.db.store, b.key, &b.recent, []uint64{i})
	if err != nil {
		return nil, fmt.Errorf("book %s: page %d: %w", b.key.Short(), i, err)
	}
	v := recs[0]
	if v == nil {
		return nil, fmt.Errorf("book %s: page %d: %w", b.key.Short(), i, ErrNotFound)
	}
	_, page, err := splitRecord(v)
	if err != nil {
		return nil, fmt.Errorf("book %s: page %d: %w", b.key.Short(), i, err)
	}
	return page, nil
}

// GetRange returns pages [start, end), all of which must be held.
func (b *Book) GetRange(ctx context.Context, start, end uint64) ([][]byte, error) {
	b.mu.Lock()
	length, missing := b.rec.head().Length, b.signer == nil && len(b.rec.Have.Missing(start, end)) > 0
	b.mu.Unlock()
	if start >= end || end > length || missing {
		return nil, fmt.Errorf("book %s: pages [%d, %d) of %d: %w", b.key.Short(), start, end, length, ErrNotFound)
	}
	recs, ok := b.recent.span(start, end)
	if !ok {
		var err error
		if recs, err = readSpan(ctx, b.db.store, b.key, start, end); err != nil {
			return nil, fmt.Errorf("book %s: pages [%d, %d): %w", b.key.Short(), start, end, err)
		}
	}
	out := make([][]byte, len(recs))
	for i, v := range recs {
		var err error
		if _, out[i], err = splitRecord(v); err != nil {
			return nil, fmt.Errorf("book %s: page %d: %w", b.key.Short(), start+uint64(i), err)
		}
	}
	return out, nil
}

// Proof returns the inclusion proof of page i in the tree of size n, which
// must be at most the book's length. The author can prove; a replica only
// if it holds pages [0, n).
func (b *Book) Proof(ctx context.Context, i, n uint64) (tlog.RecordProof, error) {
	if err := b.canProve(i, i+1, n); err != nil {
		return nil, err
	}
	p, err := tlog.ProveRecord(int64(n), int64(i), b.hashReader(ctx))
	if err != nil {
		return nil, fmt.Errorf("book %s: proof of %d in %d: %w", b.key.Short(), i, n, err)
	}
	return p, nil
}

// RangeProof proves pages [start, end) against the head of length n.
func (b *Book) RangeProof(ctx context.Context, start, end, n uint64) (*RangeProof, error) {
	if err := b.canProve(start, end, n); err != nil {
		return nil, err
	}
	r := b.hashReader(ctx)
	left, err := r.ReadHashes(leftIndexes(int64(start), int64(end)))
	if err != nil {
		return nil, fmt.Errorf("book %s: range proof: %w", b.key.Short(), err)
	}
	p := &RangeProof{Left: left}
	if end < n {
		if p.Tree, err = tlog.ProveTree(int64(n), int64(end), r); err != nil {
			return nil, fmt.Errorf("book %s: range proof: %w", b.key.Short(), err)
		}
	}
	return p, nil
}

// TreeProof proves that the tree of size m is a prefix of the tree of size n.
func (b *Book) TreeProof(ctx context.Context, m, n uint64) (tlog.TreeProof, error) {
	if err := b.canProve(0, m, n); err != nil {
		return nil, err
	}
	p, err := tlog.ProveTree(int64(n), int64(m), b.hashReader(ctx))
	if err != nil {
		return nil, fmt.Errorf("book %s: tree proof %d→%d: %w", b.key.Short(), m, n, err)
	}
	return p, nil
}

// TreeHash returns the root of the tree of size n.
func (b *Book) TreeHash(ctx context.Context, n uint64) (Hash, error) {
	if err := b.canProve(0, n, n); err != nil {
		return Hash{}, err
	}
	if root, ok := b.recent.root(n); ok {
		return root, nil
	}
	return tlog.TreeHash(int64(n), b.hashReader(ctx))
}

// hashReader reads the book's tree hashes, from memory where it can.
func (b *Book) hashReader(ctx context.Context) storeHashes {
	return storeHashes{ctx: ctx, st: b.db.store, book: b.key, recent: &b.recent, keep: 4 * b.db.keep}
}

// canProve checks that the book can prove [start, end) in the tree of size
// n: the author always can; a replica only if it holds pages [0, n), whose
// records hold every tree hash of that tree (verified when they were stored).
func (b *Book) canProve(start, end, n uint64) error {
	b.mu.Lock()
	length := b.rec.head().Length
	full := b.signer != nil || len(b.rec.Have.Missing(0, n)) == 0
	b.mu.Unlock()
	switch {
	case !full:
		return fmt.Errorf("book %s: a replica proves only a tree whose pages it holds: [0, %d) not held: %w", b.key.Short(), n, ErrNotFound)
	case start >= end || end > n || n > length:
		return fmt.Errorf("book %s: no proof of [%d, %d) in %d of %d: %w", b.key.Short(), start, end, n, length, ErrNotFound)
	}
	return nil
}

// An Upgrade carries a newer head to a replica: Proof is the consistency
// proof from the replica's length From to Head.Length, and FromRoot the
// sender's root at From (it lets a replica prove a fork, not only see one).
type Upgrade struct {
	Head     Head
	From     uint64
	FromRoot Hash
	Proof    tlog.TreeProof
}

type wireUpgrade struct {
	_        struct{} `cbor:",toarray"`
	Head     wireHead
	From     uint64
	FromRoot []byte
	Proof    [][]byte
}

// MarshalCBOR implements cbor.Marshaler: [head, from, fromRoot, proof]
// (wireUpgrade's encoding, written by hand: AppendUpgrade).
func (u Upgrade) MarshalCBOR() ([]byte, error) {
	return AppendUpgrade(make([]byte, 0, 180+len(u.Proof)*(tlog.HashSize+2)), &u), nil
}

// UnmarshalCBOR implements cbor.Unmarshaler, checking sizes (not signatures).
func (u *Upgrade) UnmarshalCBOR(b []byte) error {
	return unmarshalWire(u, b, ReadUpgrade, decodeUpgrade)
}

// decodeUpgrade decodes an upgrade with the general decoder.
func decodeUpgrade(b []byte) (Upgrade, error) {
	var w wireUpgrade
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Upgrade{}, fmt.Errorf("upgrade: %w: %v", ErrMalformed, err)
	}
	if len(w.Proof) > MaxProofHashes {
		return Upgrade{}, fmt.Errorf("upgrade: %w: %d hashes", ErrTooLarge, len(w.Proof))
	}
	root, err := hashFromWire(w.FromRoot)
	if err != nil {
		return Upgrade{}, fmt.Errorf("upgrade: %w", err)
	}
	proof, err := hashesFromWire(w.Proof)
	if err != nil {
		return Upgrade{}, fmt.Errorf("upgrade: %w", err)
	}
	head, err := w.Head.head()
	if err != nil {
		return Upgrade{}, fmt.Errorf("upgrade: %w", err)
	}
	return Upgrade{Head: head, From: w.From, FromRoot: root, Proof: proof}, nil
}

// MakeUpgrade builds the upgrade of a replica at length from to the current head.
func (b *Book) MakeUpgrade(ctx context.Context, from uint64) (*Upgrade, error) {
	head := b.Head()
	up := &Upgrade{Head: head, From: from}
	if from == 0 || from >= head.Length {
		return up, nil
	}
	var err error
	if up.FromRoot, err = b.TreeHash(ctx, from); err != nil {
		return nil, err
	}
	if up.Proof, err = b.TreeProof(ctx, from, head.Length); err != nil {
		return nil, err
	}
	return up, nil
}

// AcceptHead moves a replica to a newer head. It accepts the first head it
// sees for the key (the key is the book's identity), and later ones only
// with a consistency proof from the head it has. It returns whether the
// head changed. A head that contradicts the one held is stored as fork
// evidence and reported as ErrForked.
func (b *Book) AcceptHead(ctx context.Context, up *Upgrade) (bool, error) {
	if err := b.checkUpgrade(up); err != nil {
		return false, err
	}
	b.mu.Lock()
	changed, ev, err := b.acceptLocked(ctx, up, false)
	b.db.emit(&b.mu, ev)
	return changed, err
}

// AcceptHeadPages is AcceptHead, then PutRange of pages [start,
// start+len(pages)) proven against the new head (an author pushes its
// newest pages with its head), stored in one write: one transaction where
// there were two. If the pages fail, the head is not taken either.
func (b *Book) AcceptHeadPages(ctx context.Context, up *Upgrade, start uint64, pages [][]byte, proof *RangeProof) (bool, error) {
	if err := b.checkUpgrade(up); err != nil {
		return false, err
	}
	b.mu.Lock()
	saved := b.rec
	changed, hev, err := b.acceptLocked(ctx, up, true)
	if err != nil {
		b.db.emit(&b.mu, hev)
		return false, err
	}
	pev, err := b.putRangeLocked(ctx, start, pages, up.Head.Length, proof)
	if err != nil {
		b.rec = saved // the staged head was not written
		b.mu.Unlock()
		return false, err
	}
	b.db.emit(&b.mu, hev, pev)
	return changed, nil
}

// olderForkLocked returns the evidence that h, a head shorter than cur,
// contradicts it: cur's tree (the pages held) has another root at h's
// length (the author went on from an older state: another device, an old
// backup). Nil if they agree, or if the pages needed are not all held.
// Called with b.mu held.
func (b *Book) olderForkLocked(ctx context.Context, h, cur Head) *Fork {
	have := b.rec.Have
	if len(have) == 0 || have[0].Start != 0 || have[0].End < cur.Length {
		return nil
	}
	hashes := b.hashReader(ctx)
	root, err := tlog.TreeHash(int64(h.Length), hashes)
	if err != nil || root == h.Root {
		return nil
	}
	proof, err := tlog.ProveTree(int64(cur.Length), int64(h.Length), hashes)
	if err != nil {
		return nil
	}
	return &Fork{Old: h, New: cur, FromRoot: root, Proof: proof}
}

// checkUpgrade checks an upgrade before the book is locked: a replica's,
// for this key, in bounds, signed.
func (b *Book) checkUpgrade(up *Upgrade) error {
	if b.signer != nil {
		return fmt.Errorf("book %s: heads come from its author, this profile: %w", b.key.Short(), ErrReadOnly)
	}
	h := &up.Head
	if h.Key != b.key {
		return verifyErr(b.key, h.Length, ErrBadSignature, "head of book %s", h.Key.Short())
	}
	if h.Length == 0 || h.Length > MaxLength || len(up.Proof) > MaxProofHashes {
		return verifyErr(b.key, h.Length, ErrMalformed, "head")
	}
	return b.verified.verify(h)
}

// acceptLocked takes a verified head. With stage, a head that moves the
// book forward changes the record in memory only: the caller writes it
// (fork evidence is always written at once).
func (b *Book) acceptLocked(ctx context.Context, up *Upgrade, stage bool) (bool, *Event, error) {
	h, cur := up.Head, b.rec.head()
	if b.rec.Fork != nil {
		return false, nil, verifyErr(b.key, h.Length, ErrForked, "head")
	}
	var fork *Fork
	switch {
	case cur.IsZero():
	case h.Length < cur.Length:
		if fork = b.olderForkLocked(ctx, h, cur); fork == nil {
			return false, nil, verifyErr(b.key, h.Length, ErrStaleHead, "head older than %d", cur.Length)
		}
	case h.Length == cur.Length && h.Root == cur.Root:
		return false, nil, nil
	case h.Length == cur.Length:
		fork = &Fork{Old: cur, New: h, FromRoot: h.Root}
	case up.From != cur.Length:
		return false, nil, verifyErr(b.key, h.Length, ErrBadProof, "upgrade from %d, replica at %d", up.From, cur.Length)
	case tlog.CheckTree(up.Proof, int64(h.Length), h.Root, int64(cur.Length), cur.Root) == nil:
	case up.FromRoot != cur.Root && tlog.CheckTree(up.Proof, int64(h.Length), h.Root, int64(cur.Length), up.FromRoot) == nil:
		fork = &Fork{Old: cur, New: h, FromRoot: up.FromRoot, Proof: up.Proof}
	default:
		return false, nil, verifyErr(b.key, h.Length, ErrBadProof, "head not consistent with %d", cur.Length)
	}
	rec := b.rec
	ev := &Event{Type: EventHead, Book: b.key, Name: rec.Name, Index: cur.Length, Head: h}
	if fork != nil {
		rec.Fork = fork
		ev = &Event{Type: EventFork, Book: b.key, Name: rec.Name, Index: h.Length, Head: h, Fork: fork}
	} else {
		rec.Head, rec.Frontier = &h, nil // a head taken, not appended: opening reads its tree
	}
	if fork != nil || !stage {
		if err := b.putRecordLocked(ctx, &rec); err != nil {
			return false, nil, err
		}
	}
	b.rec = rec
	if fork != nil {
		return false, ev, verifyErr(b.key, h.Length, ErrForked, "head: evidence kept")
	}
	return true, ev, nil
}

// PutRange stores pages [start, start+len(pages)) in a replica after
// verifying them with proof against the head of length n, which must be the
// replica's current head. Page 0 must be a genesis page for this key; its
// author and name become the book's.
func (b *Book) PutRange(ctx context.Context, start uint64, pages [][]byte, n uint64, proof *RangeProof) error {
	if b.signer != nil {
		return fmt.Errorf("book %s: %w", b.key.Short(), ErrReadOnly)
	}
	b.mu.Lock()
	ev, err := b.putRangeLocked(ctx, start, pages, n, proof)
	b.db.emit(&b.mu, ev)
	return err
}

func (b *Book) putRangeLocked(ctx context.Context, start uint64, pages [][]byte, n uint64, proof *RangeProof) (*Event, error) {
	cond, err := b.expectLocked()
	if err != nil {
		return nil, err
	}
	head := b.rec.head()
	if head.Length != n || head.IsZero() {
		return nil, verifyErr(b.key, start, ErrStaleHead, "pages proven against length %d, replica at %d", n, head.Length)
	}
	hashes, err := VerifyRange(&head, start, pages, proof)
	if err != nil {
		return nil, err
	}
	rec := b.rec
	var extra []store.Op
	if start == 0 {
		g, err := DecodeGenesis(pages[0])
		if err != nil {
			return nil, verifyErr(b.key, 0, err, "genesis")
		}
		if g.Key != b.key {
			return nil, verifyErr(b.key, 0, ErrBadGenesis, "genesis of book %s", g.Key.Short())
		}
		if g.Author == b.db.ID() {
			return nil, verifyErr(b.key, 0, ErrUnauthorized, "genesis claims this profile as author")
		}
		if len(rec.Author) > 0 && !bytes.Equal(rec.Author, g.Author[:]) {
			return nil, verifyErr(b.key, 0, ErrBadGenesis, "genesis by %s, expected author %x", g.Author.Short(), rec.Author[:4])
		}
		// Only names that start with their author's id are unique across
		// authors ("${author}-${reader}-${task}"): those are bound in the
		// names registry; a free-form name (two peers may both have a
		// "notes") stays in the book's record only.
		if _, ok := NameAuthor(g.Name); ok {
			op, err := b.db.claimName(ctx, g.Name, b.key)
			if err != nil {
				return nil, err
			}
			extra = append(extra, op)
		}
		rec.Name, rec.Author, rec.Genesis = g.Name, g.Author[:], true
	}
	held := rec.Have
	rec.Have = rec.Have.Add(start, start+uint64(len(pages)))
	recBytes, err := Marshal(&rec)
	if err != nil {
		return nil, err
	}
	batch := store.Batch{Ops: make([]store.Op, 0, len(extra)+2), Conds: []store.Cond{cond}}
	batch.Ops = append(batch.Ops, extra...)
	recs := putMissing(&batch, b.key, held, start, pages, hashes)
	batch.Put(store.TableBooks, b.key[:], recBytes)
	ev := &Event{Type: EventPut, Book: b.key, Name: rec.Name, Index: start, Pages: pages, Head: head}
	b.db.emitVerified(ev)
	if err := b.db.write(ctx, &batch, b); err != nil {
		return nil, fmt.Errorf("book %s: store pages: %w", b.key.Short(), err)
	}
	b.rec, b.stored = rec, recBytes
	b.recent.add(start, recs, b.db.keep)
	return ev, nil
}

// Fork returns the fork evidence, or nil if the book is not forked.
func (b *Book) Fork() *Fork {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Fork
}
