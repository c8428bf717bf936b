package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/seal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// A DB is the collection of one profile's books, like corestore: the books
// it authors, opened by name, and the replicas of its peers' books, opened
// by key. Every change is reported to the hooks (see Subscribe) and the
// profile's own operations are written to its audit book.
type DB struct {
	store store.Store
	key   *identity.Key
	now   func() time.Time
	keep  int // page records each book keeps in memory (Options.RecentPages)
	// deterministic is Options.DeterministicHeads; immutable.
	deterministic bool

	mu    sync.Mutex // guards books and deletes; held while a book is created
	books map[identity.ID]*Book
	// deletes counts the books deleted (DeleteBook): a load that read a
	// book's record without mu reads it again if one was deleted meanwhile.
	deletes uint64
	// catalog is the records of the books not open (not in books), as
	// Catalog first read them; nil until then. Guarded by mu.
	catalog map[identity.ID]BookInfo
	// catalogRead is closed when the read of the catalog under way ends;
	// nil when none is. Guarded by mu.
	catalogRead chan struct{}
	audit       *Book // set once by Open

	hookMu sync.Mutex // held while hooks run, so they see events in commit order
	hooks  map[int]func(Event)
	nextID int
	// verified are the hooks of Verified, keyed like hooks (hookMu).
	verified map[int]func(Event)
	// writing are the hooks of Writing, keyed like hooks (hookMu).
	writing map[int]func(*Pending)

	signersMu sync.Mutex
	signers   map[string]*identity.Key // book name -> its key, derived once (bookSigner)

	epoch     []byte // the writer epoch this DB claimed at Open; immutable
	sealer    atomic.Pointer[Sealer]
	auditSeal *seal.Key // seals the audit book's entries; immutable
	staleOnce sync.Once
	stale     chan struct{} // closed by markStale; immutable otherwise
}

// Options configure a DB.
type Options struct {
	// Now is the clock for audit entries; time.Now if nil.
	Now func() time.Time
	// RecentPages is how many of each book's newest pages an open book
	// keeps in memory (zero: 256), read again without the store. A DB of
	// many books read rarely (a mirror) keeps fewer.
	RecentPages int
	// DeterministicHeads signs heads with RFC 8032's deterministic nonces
	// (identity.Key.Sign, ~20 µs each) instead of precomputed random ones
	// (identity.Key.SignRandom, ~1 µs on the caller's path): the same book
	// then always has byte-identical heads, for reproducible examples.
	DeterministicHeads bool
}

// AuditName is the name of the audit book every profile authors.
const AuditName = "audit"

var profileKey = []byte("profile")

// writerKey holds the profile's writer epoch (8 bytes, big-endian): every
// Open claims the next one, and every write expects the one its DB claimed,
// so a DB opened earlier on the same store (another tab, a restored backup)
// writes nothing once a later one opened: a fencing token.
var writerKey = []byte("writer")

// profileRecord is the store's meta record: whose store this is.
type profileRecord struct {
	Version uint   `cbor:"1,keyasint"`
	ID      []byte `cbor:"2,keyasint"`
}

// EventType says what changed.
type EventType string

// Event types.
const (
	EventCreate EventType = "create" // a book was created or first opened
	EventAppend EventType = "append" // the author appended pages
	EventHead   EventType = "head"   // a replica accepted a newer head
	EventPut    EventType = "put"    // a replica stored verified pages
	EventFork   EventType = "fork"   // a replica found its author forked the book
	EventFollow EventType = "follow" // a replica was bound to its expected author (Peer)
	EventDelete EventType = "delete" // the book was deleted (DeleteBook)
)

// An Event is one committed change. Pages must not be modified.
type Event struct {
	Type  EventType
	Book  identity.ID
	Name  string
	Index uint64      // the first page appended or stored; the old length for heads
	Pages [][]byte    // the pages appended or stored
	Head  Head        // the head after the change
	Fork  *Fork       // the evidence, for EventFork
	Peer  identity.ID // the expected author, for EventFollow
}

// BookInfo describes a book.
type BookInfo struct {
	Key      identity.ID
	Name     string
	Author   identity.ID // for a replica before its genesis: the expected author, or zero
	Verified bool        // the genesis page binding Key to Author and Name is verified
	Writable bool
	Head     Head
	Have     Ranges
	Forked   bool
}

func (r *bookRecord) info() BookInfo {
	bi := BookInfo{Name: r.Name, Writable: r.Own, Verified: r.Own || r.Genesis, Head: r.head(), Have: r.Have, Forked: r.Fork != nil}
	copy(bi.Key[:], r.Key)
	copy(bi.Author[:], r.Author)
	if r.Own {
		bi.Have = Ranges{{Start: 0, End: bi.Head.Length}}
	}
	return bi
}

// Open opens the DB of the profile with the given seed in st, creating it
// if st is empty. A store written for another seed is ErrUnauthorized.
func Open(ctx context.Context, st store.Store, seed identity.Seed, opts *Options) (*DB, error) {
	db := &DB{store: st, key: identity.New(seed), now: time.Now, books: make(map[identity.ID]*Book), hooks: make(map[int]func(Event)), stale: make(chan struct{})}
	if opts != nil && opts.Now != nil {
		db.now = opts.Now
	}
	db.keep = recentMax
	db.deterministic = opts != nil && opts.DeterministicHeads
	if opts != nil && opts.RecentPages > 0 {
		db.keep = opts.RecentPages
	}
	// The profile record and the writer epoch in one request.
	vs, err := st.Get(ctx, store.TableMeta, profileKey, writerKey)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	v, epoch := vs[0], vs[1]
	id := db.key.ID()
	if v == nil {
		b, _ := Marshal(&profileRecord{Version: store.SchemaVersion, ID: id[:]})
		var batch store.Batch
		batch.Put(store.TableMeta, profileKey, b)
		if err := st.Write(ctx, &batch); err != nil {
			return nil, fmt.Errorf("open profile: %w", err)
		}
	} else {
		var p profileRecord
		if err := Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("open profile: %w: %v", ErrMalformed, err)
		}
		if p.Version > store.SchemaVersion {
			return nil, fmt.Errorf("open profile: %w: version %d, this build reads %d", ErrSchema, p.Version, store.SchemaVersion)
		}
		if !bytes.Equal(p.ID, id[:]) {
			return nil, fmt.Errorf("open profile: %w: the store belongs to another identity", ErrUnauthorized)
		}
	}
	if db.epoch, err = claimEpoch(ctx, st, epoch); err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	if db.audit, err = db.author(ctx, AuditName, nil); err != nil {
		return nil, err
	}
	if db.auditSeal, err = seal.BookKey(seal.PrivateSecret(db.key), 0, db.audit.key); err != nil {
		return nil, err
	}
	if err := db.log(ctx, map[string]any{"op": "open", "id": id.String(), "epoch": binary.BigEndian.Uint64(db.epoch)}); err != nil {
		return nil, err
	}
	return db, nil
}

// ID returns the profile's peer id.
func (db *DB) ID() identity.ID { return db.key.ID() }

// Identity returns the profile's key pair.
func (db *DB) Identity() *identity.Key { return db.key }

// Store returns the store under the DB.
func (db *DB) Store() store.Store { return db.store }

// Audit returns the audit book.
func (db *DB) Audit() *Book { return db.audit }

// BookKey returns the key of the book this profile authors under name,
// whether or not it exists yet.
func (db *DB) BookKey(name string) identity.ID { return db.bookSigner(name).ID() }

// bookSigner returns the key of the book this profile authors under name,
// derived once per DB: a derivation is a scalar multiplication (0.1–0.3 ms
// in a browser), and opening a book asks for its key twice (its id, then
// the check that a stored own book's key derives from this profile).
func (db *DB) bookSigner(name string) *identity.Key {
	db.signersMu.Lock()
	defer db.signersMu.Unlock()
	k, ok := db.signers[name]
	if !ok {
		if db.signers == nil || len(db.signers) >= signersMax {
			db.signers = make(map[string]*identity.Key) // names may come from peers: bounded
		}
		k = db.key.Derive("book", name)
		db.signers[name] = k
	}
	return k
}

// signersMax bounds the book keys a DB keeps (bookSigner).
const signersMax = 1024

// Author opens the book this profile authors under name, creating it (with
// a genesis page carrying meta) if it does not exist. A name bound to
// another author's book is ErrUnauthorized, as in the original.
func (db *DB) Author(ctx context.Context, name string, meta []byte) (*Book, error) {
	if name == AuditName {
		return db.audit, nil
	}
	return db.author(ctx, name, meta)
}

func (db *DB) author(ctx context.Context, name string, meta []byte) (*Book, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if len(meta) > MaxGenesisMeta {
		return nil, fmt.Errorf("book %q: genesis meta: %w", name, ErrTooLarge)
	}
	if a, ok := NameAuthor(name); ok && a != db.ID() {
		return nil, fmt.Errorf("book %q: %w: the name says author %s", name, ErrUnauthorized, a.Short())
	}
	signer := db.bookSigner(name)
	key := signer.ID()

	db.mu.Lock()
	b, created, err := db.loadOrCreate(ctx, key, func() (*Book, error) {
		op, err := db.claimName(ctx, name, key)
		if err != nil {
			return nil, err
		}
		b := &Book{db: db, key: key, signer: signer, rec: bookRecord{Version: 1, Key: key[:], Name: name, Author: db.key.ID().Bytes(), Own: true}}
		g := newGenesis(db.key, signer, name, meta)
		b.mu.Lock()
		_, ev, err := b.appendLocked(ctx, [][]byte{g.Encode()}, []store.Op{op})
		b.mu.Unlock()
		if err != nil {
			return nil, err
		}
		ev.Type = EventCreate
		db.emit(nil, ev)
		return b, nil
	})
	db.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("book %q: %w", name, err)
	}
	if !b.Writable() {
		return nil, fmt.Errorf("book %q: %w: the name belongs to %s's book", name, ErrUnauthorized, b.Info().Author.Short())
	}
	if created && db.audit != nil {
		if err := db.log(ctx, map[string]any{"op": "author", "name": name, "key": key.String()}); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Reader opens the replica of a peer's book by its key, creating an empty
// one if it is new. For a book this profile authors it returns that book.
func (db *DB) Reader(ctx context.Context, key identity.ID) (*Book, error) {
	if err := key.Check(); err != nil {
		return nil, fmt.Errorf("reader %s: %w", key.Short(), err)
	}
	db.mu.Lock()
	b, created, err := db.loadOrCreate(ctx, key, func() (*Book, error) {
		b := &Book{db: db, key: key, rec: bookRecord{Version: 1, Key: key[:]}}
		if err := b.putRecordLocked(ctx, &b.rec); err != nil { // b is not shared yet
			return nil, err
		}
		db.emit(nil, &Event{Type: EventCreate, Book: key})
		return b, nil
	})
	db.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("reader %s: %w", key.Short(), err)
	}
	if created {
		if err := db.log(ctx, map[string]any{"op": "reader", "key": key.String()}); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ReaderFrom is Reader for a book expected to be authored by author: its
// genesis page must then name that author (ErrBadGenesis otherwise), and
// replication fetches it from that peer. A replica already bound to
// another author is ErrUnauthorized.
func (db *DB) ReaderFrom(ctx context.Context, key, author identity.ID) (*Book, error) {
	b, err := db.Reader(ctx, key)
	if err != nil {
		return nil, err
	}
	if b.Writable() {
		return nil, fmt.Errorf("reader %s: %w: this profile authors the book", key.Short(), ErrUnauthorized)
	}
	b.mu.Lock()
	switch {
	case bytes.Equal(b.rec.Author, author[:]):
		b.mu.Unlock()
		return b, nil
	case len(b.rec.Author) > 0:
		b.mu.Unlock()
		return nil, fmt.Errorf("reader %s: %w: authored by %x, not %s", key.Short(), ErrUnauthorized, b.rec.Author[:4], author.Short())
	}
	rec := b.rec
	rec.Author = author.Bytes()
	if err := b.putRecordLocked(ctx, &rec); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	b.rec = rec
	db.emit(&b.mu, &Event{Type: EventFollow, Book: key, Peer: author})
	return b, nil
}

// Get returns an open or stored book by key, or ErrNotFound.
func (db *DB) Get(ctx context.Context, key identity.ID) (*Book, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	b, _, err := db.loadOrCreate(ctx, key, nil)
	return b, err
}

// Preload opens the stored books among keys that are not open yet, their
// records read in one store request and own books' tree hashes side by
// side: a caller about to open several books (a task's log and its
// members' books) then waits on one round trip, two if an own book's
// record keeps no tree hashes (up to preloadAtOnce books' hashes at a
// time), not one or two for each book in turn. Keys of books not stored
// are skipped. It is only ahead of time: the books open as Get, Author
// and Reader would open them, and an error (a record that does not load)
// leaves it to those calls, which report it.
func (db *DB) Preload(ctx context.Context, keys []identity.ID) error {
	db.mu.Lock()
	var want []identity.ID
	for _, k := range keys {
		if _, ok := db.books[k]; !ok && !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	deletes := db.deletes
	db.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	raw := make([][]byte, len(want))
	for i := range want {
		raw[i] = want[i][:]
	}
	vs, err := db.store.Get(ctx, store.TableBooks, raw...)
	if err != nil {
		return err
	}
	books, errs := make([]*Book, len(want)), make([]error, len(want))
	var wg sync.WaitGroup
	at := make(chan struct{}, preloadAtOnce)
	for i, v := range vs {
		if v != nil {
			at <- struct{}{}
			wg.Go(func() {
				defer func() { <-at }()
				books[i], errs[i] = db.load(ctx, want[i], v)
			})
		}
	}
	wg.Wait()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.deletes != deletes {
		return nil // a record read may be one deleted since: each opens on its own
	}
	for i, b := range books {
		if _, ok := db.books[want[i]]; b != nil && !ok {
			db.openedLocked(want[i], b)
		}
	}
	return errors.Join(errs...)
}

// preloadAtOnce bounds the books Preload loads at once (an own book's load
// reads its tree hashes: a task of a hundred people does not ask the
// store for all of them together).
const preloadAtOnce = 8

// loadOrCreate returns the cached book, or loads it, or calls create.
// Called with db.mu held; it lets go of it while it reads the book's
// record (and an own book's tree hashes), so that books load side by side
// (a task opening its members' books: each read is an IndexedDB round
// trip), and takes it again before the book is cached or created. A book
// another call cached meanwhile is the one returned; if a book was
// deleted meanwhile, the record is read again. Creation stays under the
// lock: two callers never create the same book.
func (db *DB) loadOrCreate(ctx context.Context, key identity.ID, create func() (*Book, error)) (*Book, bool, error) {
	for {
		if b, ok := db.books[key]; ok {
			return b, false, nil
		}
		deletes := db.deletes
		db.mu.Unlock()
		b, err := db.read(ctx, key)
		db.mu.Lock()
		if err != nil {
			return nil, false, err
		}
		if db.deletes != deletes {
			continue // the record read may be one deleted since
		}
		if cached, ok := db.books[key]; ok {
			return cached, false, nil
		}
		created := b == nil
		switch {
		case b != nil:
		case create != nil:
			if b, err = create(); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, fmt.Errorf("book %s: %w", key.Short(), ErrNotFound)
		}
		db.openedLocked(key, b)
		return b, created, nil
	}
}

// openedLocked keeps b, the book of key, open: listed from it, not from
// the catalog, from now on. Called with db.mu held.
func (db *DB) openedLocked(key identity.ID, b *Book) {
	db.books[key] = b
	delete(db.catalog, key)
}

// loadHeld returns the cached book of key, or loads it, or ErrNotFound,
// holding db.mu throughout (a caller that checks several books and then
// writes, as an import, must see no book appear in between). Called with
// db.mu held.
func (db *DB) loadHeld(ctx context.Context, key identity.ID) (*Book, error) {
	if b, ok := db.books[key]; ok {
		return b, nil
	}
	b, err := db.read(ctx, key)
	switch {
	case err != nil:
		return nil, err
	case b == nil:
		return nil, fmt.Errorf("book %s: %w", key.Short(), ErrNotFound)
	}
	db.openedLocked(key, b)
	return b, nil
}

// read loads the book of key from its record, or returns nil if there is
// none. It reads the store and builds a Book that nothing shares yet:
// loadOrCreate calls it without db.mu.
func (db *DB) read(ctx context.Context, key identity.ID) (*Book, error) {
	v, err := store.GetOne(ctx, db.store, store.TableBooks, key[:])
	if err != nil || v == nil {
		return nil, err
	}
	return db.load(ctx, key, v)
}

// load rebuilds a book from its record, checking that an own book's key
// derives from this profile's seed and that its stored tree hashes to its head.
func (db *DB) load(ctx context.Context, key identity.ID, v []byte) (*Book, error) {
	b := &Book{db: db, key: key, stored: v}
	if err := Unmarshal(v, &b.rec); err != nil || !bytes.Equal(b.rec.Key, key[:]) {
		return nil, fmt.Errorf("book %s: record: %w", key.Short(), ErrMalformed)
	}
	if !b.rec.Own {
		return b, nil
	}
	b.signer = db.bookSigner(b.rec.Name)
	if b.signer.ID() != key {
		return nil, fmt.Errorf("book %s: %w: key does not derive from this profile", key.Short(), ErrUnauthorized)
	}
	head := b.rec.head()
	idx := treeIndexes(int64(head.Length))
	if b.frontier = recordFrontier(&b.rec, idx); b.frontier != nil {
		return b, nil
	}
	hs, err := storeHashes{ctx: ctx, st: db.store, book: key}.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("book %s: load tree: %w", key.Short(), err)
	}
	if b.frontier = frontierAt(idx, hs); !b.frontier.gives(head) {
		return nil, fmt.Errorf("book %s: stored tree does not match head %d: %w", key.Short(), head.Length, ErrBadProof)
	}
	return b, nil
}

// recordFrontier is the frontier an own book's record keeps
// (bookRecord.Frontier) at the stored indexes idx of its head's tree, or
// nil if the record keeps none or one that does not give the head's root.
func recordFrontier(rec *bookRecord, idx []int64) frontier {
	head := rec.head()
	if len(rec.Frontier) != len(idx) || head.Length == 0 {
		return nil
	}
	hs := make([]Hash, len(idx))
	for i, h := range rec.Frontier {
		if len(h) != tlog.HashSize {
			return nil
		}
		hs[i] = Hash(h)
	}
	if f := frontierAt(idx, hs); f.gives(head) {
		return f
	}
	return nil
}

// Books lists every book of the profile, in key order.
func (db *DB) Books(ctx context.Context) ([]BookInfo, error) {
	es, err := db.store.Scan(ctx, store.TableBooks, []byte{0}, nil, 0)
	if err != nil {
		return nil, err
	}
	out := make([]BookInfo, 0, len(es))
	for _, e := range es {
		var rec bookRecord
		if err := Unmarshal(e.Value, &rec); err != nil {
			return nil, fmt.Errorf("book %x: record: %w", e.Key, ErrMalformed)
		}
		out = append(out, rec.info())
	}
	return out, nil
}

// Lookup returns the key bound to a book name, or ErrNotFound.
func (db *DB) Lookup(ctx context.Context, name string) (identity.ID, error) {
	v, err := store.GetOne(ctx, db.store, store.TableNames, []byte(name))
	if err != nil {
		return identity.ID{}, err
	}
	if v == nil {
		return identity.ID{}, fmt.Errorf("name %q: %w", name, ErrNotFound)
	}
	return identity.IDFromBytes(v)
}

// claimName returns the write binding name to key, or ErrUnauthorized if
// the name is bound to another key.
func (db *DB) claimName(ctx context.Context, name string, key identity.ID) (store.Op, error) {
	got, err := db.Lookup(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && got == key:
	case err != nil:
		return store.Op{}, err
	default:
		return store.Op{}, fmt.Errorf("%w: name %q is bound to book %s", ErrUnauthorized, name, got.Short())
	}
	return store.Op{Table: store.TableNames, Key: []byte(name), Value: key[:]}, nil
}

// log appends an entry (JSON, with the date) to the audit book.
func (db *DB) log(ctx context.Context, entry map[string]any) error {
	entry["date"] = db.now().UnixMilli()
	b, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	_, err = db.audit.Append(ctx, b)
	return err
}

// A Sealer turns a page appended to a book this profile authors into the
// page stored: its sealed bytes (package seal), or the page as it is. It
// runs under the book's lock, knowing the index the page will have, for
// every page but the genesis, given the book's key and name; it must not
// read or write a book.
type Sealer func(key identity.ID, name string, index uint64, page []byte) ([]byte, error)

// SetSealer sets the sealer of every book this profile authors but the
// audit book (which the DB seals itself, with a key of the seed); nil
// stores pages as they are given.
func (db *DB) SetSealer(s Sealer) {
	if s == nil {
		db.sealer.Store(nil)
		return
	}
	db.sealer.Store(&s)
}

// OpenAudit returns the entry of the audit book's page index, opened (an
// entry written before the audit book was sealed, '{…', as it is).
func (db *DB) OpenAudit(index uint64, page []byte) ([]byte, error) {
	if len(page) > 0 && page[0] == '{' {
		return page, nil
	}
	return db.auditSeal.Open(index, page)
}

// sealLocked returns pages as they are to be stored from index start of
// b. Called with b.mu held.
func (b *Book) sealLocked(start uint64, pages [][]byte) ([][]byte, error) {
	var s Sealer
	switch {
	case b == b.db.audit && b.db.auditSeal != nil:
		s = func(_ identity.ID, _ string, i uint64, p []byte) ([]byte, error) { return b.db.auditSeal.Seal(i, p) }
	case b.db.sealer.Load() != nil:
		s = *b.db.sealer.Load()
	default:
		return pages, nil
	}
	out := make([][]byte, len(pages))
	for i, p := range pages {
		if start+uint64(i) == 0 {
			out[i] = p // the genesis: never sealed
			continue
		}
		var err error
		if out[i], err = s(b.key, b.rec.Name, start+uint64(i), p); err != nil {
			return nil, fmt.Errorf("book %s: seal page %d: %w", b.key.Short(), start+uint64(i), err)
		}
		if len(out[i]) > MaxPageSize {
			return nil, fmt.Errorf("book %s: page %d sealed: %w: %d bytes, at most %d", b.key.Short(), start+uint64(i), ErrTooLarge, len(out[i]), MaxPageSize)
		}
	}
	return out, nil
}

// Subscribe registers fn to see every committed change, in commit order per
// book. fn runs synchronously and must not write to the DB. The returned
// function unsubscribes.
func (db *DB) Subscribe(fn func(Event)) (cancel func()) { return addHook(db, &db.hooks, fn) }

// addHook adds fn to hooks (one of db's hook maps, made if nil) under a
// new id, and returns the function that removes it.
func addHook[F any](db *DB, hooks *map[int]F, fn F) (cancel func()) {
	db.hookMu.Lock()
	defer db.hookMu.Unlock()
	id := db.nextID
	db.nextID++
	if *hooks == nil {
		*hooks = make(map[int]F)
	}
	(*hooks)[id] = fn
	return func() {
		db.hookMu.Lock()
		defer db.hookMu.Unlock()
		delete(*hooks, id)
	}
}

// Verified calls fn with the pages a replica has verified (against its
// signed head, like every page it stores), as the write that stores them
// begins, and those Book.Preview verified as they arrived: an EventPut
// follows once they are stored, or nothing if the write fails (a crash, a
// full disk, another writer) or is refused (Preview checks a page against
// its head alone, not against the pages held). A page may be told twice
// (previewed, then its write). fn lets an application show a verified
// page while it is being stored; it must not block nor call into the DB.
// The event's Type is EventPut.
func (db *DB) Verified(fn func(Event)) (cancel func()) { return addHook(db, &db.verified, fn) }

// emitVerified calls the Verified hooks with ev; the book's lock is held.
func (db *DB) emitVerified(ev *Event) {
	db.hookMu.Lock()
	defer db.hookMu.Unlock()
	for _, fn := range db.verified {
		fn(*ev)
	}
}

// emitUnlocking is emit for events of several books whose locks are held.
func (db *DB) emitUnlocking(held []*sync.Mutex, evs ...*Event) {
	db.hookMu.Lock()
	for _, l := range held {
		l.Unlock()
	}
	defer db.hookMu.Unlock()
	for _, ev := range evs {
		for _, fn := range db.hooks {
			fn(*ev)
		}
	}
}

// emit delivers evs (nil ones skipped) to the hooks. If held is not nil,
// it is unlocked once the hooks' lock is taken, so events of one book keep
// their commit order.
func (db *DB) emit(held *sync.Mutex, evs ...*Event) {
	db.hookMu.Lock()
	if held != nil {
		held.Unlock()
	}
	defer db.hookMu.Unlock()
	for _, ev := range evs {
		if ev == nil {
			continue
		}
		for _, fn := range db.hooks {
			fn(*ev)
		}
	}
}

// Stale is closed the first time a write of this DB finds that another
// writer (a DB opened later on the same store: another tab, a restored
// backup) changed a book it was writing (ErrStaleWriter). From then on the
// DB's owner should stop writing and reopen the store, or give way to the
// other writer.
func (db *DB) Stale() <-chan struct{} { return db.stale }

func (db *DB) markStale() { db.staleOnce.Do(func() { close(db.stale) }) }

// CheckWriter reports whether this DB is still the store's writer: nil if
// no DB was opened on the store after it, else ErrStaleWriter (and Stale
// is closed). An owner that learns of another instance some other way (the
// relay replaced its session) asks, rather than waiting for a write to fail.
func (db *DB) CheckWriter(ctx context.Context) error {
	v, err := store.GetOne(ctx, db.store, store.TableMeta, writerKey)
	if err != nil {
		return err
	}
	if !bytes.Equal(v, db.epoch) {
		db.markStale()
		return fmt.Errorf("%w: the profile was opened again after this DB (another tab or window)", ErrStaleWriter)
	}
	return nil
}

// Fence claims the next writer epoch of st without opening a DB: every DB
// opened on st before it writes nothing more (ErrStaleWriter). A caller
// about to rewrite the store wholesale (a restore) fences first, so no
// other instance changes the store between its checks and its write.
func Fence(ctx context.Context, st store.Store) error {
	old, err := store.GetOne(ctx, st, store.TableMeta, writerKey)
	if err != nil {
		return err
	}
	_, err = claimEpoch(ctx, st, old)
	return err
}

// claimEpoch makes the next writer epoch of the store its current one and
// returns it; old is the current one as read (nil: none yet). Two Opens at
// once: one claims first, the other takes the next (it reads again and
// tries again while others keep claiming, a few times).
func claimEpoch(ctx context.Context, st store.Store, old []byte) ([]byte, error) {
	for try := range 8 {
		if try > 0 {
			var err error
			if old, err = store.GetOne(ctx, st, store.TableMeta, writerKey); err != nil {
				return nil, err
			}
		}
		var n uint64
		switch {
		case old == nil:
		case len(old) == 8:
			n = binary.BigEndian.Uint64(old)
		default:
			return nil, fmt.Errorf("%w: writer epoch of %d bytes", ErrMalformed, len(old))
		}
		next := binary.BigEndian.AppendUint64(nil, n+1)
		var batch store.Batch
		batch.Expect(store.TableMeta, writerKey, old)
		batch.Put(store.TableMeta, writerKey, next)
		err := st.Write(ctx, &batch)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: the profile is being opened elsewhere again and again", ErrStaleWriter)
}
