//go:build js && wasm

package idb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/hack-pad/go-indexeddb/idb"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// Errors.
var (
	// ErrQuota means the browser refused a write because the site is out
	// of storage quota. Nothing of the batch was written. It is
	// store.ErrQuota, so callers above the store need not import idb.
	ErrQuota = store.ErrQuota
	// ErrBlocked means another connection to the database (usually another
	// tab running an older version) did not close within blockedGrace, so
	// an upgrade or a deletion could not start. For Open, the connection
	// is abandoned (it is closed if the browser opens it later); a
	// deletion stays queued and happens once the other connections close.
	ErrBlocked = errors.New("idb: blocked by another open connection (close the other tabs of this app)")
	// ErrNewerSchema means the database was written by a newer version of
	// the program (its IndexedDB version is above store.SchemaVersion).
	ErrNewerSchema = errors.New("idb: database written by a newer version of the program")
	// ErrConnectionLost means the browser closed the connection: another
	// tab upgraded or deleted the database, or the site's storage was
	// cleared. Reopen the store (after a reload, for an upgrade).
	ErrConnectionLost = errors.New("idb: database connection closed by the browser")
)

// Store is a store.Store kept in one IndexedDB database. It is safe for
// concurrent use by goroutines.
type Store struct {
	name    string
	db      *idb.Database
	raw     js.Value    // the IDBDatabase under db, for the batched write path
	lost    atomic.Bool // set by the versionchange and close events
	unwatch func()      // removes the versionchange and close listeners

	mu     sync.Mutex
	closed bool           // guarded by mu
	calls  sync.WaitGroup // calls running; Add guarded by mu
}

var _ store.Store = (*Store)(nil)

// Open opens, creating or upgrading it if needed, the IndexedDB database
// called name. If another tab keeps an older version of the database open,
// Open fails with ErrBlocked rather than wait.
func Open(ctx context.Context, name string) (*Store, error) {
	return open(ctx, name, store.SchemaVersion)
}

func open(ctx context.Context, name string, version uint) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	factory := js.Global().Get("indexedDB")
	if !factory.Truthy() {
		return nil, fmt.Errorf("idb: open %q: IndexedDB is not available", name)
	}
	rawReq, err := call(factory, "open", name, version)
	if err != nil {
		return nil, fmt.Errorf("idb: open %q: %w", name, err)
	}

	// go-indexeddb does not expose the request, which we need for the
	// blocked event, so we make it and hand it to go-indexeddb through a
	// factory whose open returns it.
	var upgradeErr error
	upgrader := func(db *idb.Database, oldVersion, newVersion uint) error {
		// An error returned here would panic in go-indexeddb's event
		// handler: abort the versionchange transaction instead, which
		// fails the open request.
		if err := upgrade(db, oldVersion, newVersion); err != nil {
			upgradeErr = err
			if _, err := call(rawReq.Get("transaction"), "abort"); err != nil {
				upgradeErr = errors.Join(upgradeErr, err)
			}
		}
		return nil
	}
	openFn := js.FuncOf(func(js.Value, []js.Value) any { return rawReq })
	shim := js.Global().Get("Object").New()
	shim.Set("open", openFn)
	f, err := idb.WrapFactory(shim)
	if err != nil {
		openFn.Release()
		return nil, err
	}
	// The upgrade listener must outlive ctx: a database created without
	// its tables could never be repaired at the same version. It is
	// removed when the request settles.
	upgradeCtx, settled := context.WithCancel(context.Background())
	req, err := f.Open(upgradeCtx, name, version, upgrader)
	openFn.Release()
	if err != nil {
		settled()
		return nil, fmt.Errorf("idb: open %q: %w", name, domError(err))
	}

	// Listen after go-indexeddb, so its success handler (which closes the
	// connection on versionchange) runs before ours.
	w := watch(rawReq)
	ev, err := w.settle(ctx)
	if err != nil {
		w.abandon(func(ev string) {
			if ev == "success" {
				rawReq.Get("result").Call("close")
			}
			settled()
		})
		return nil, fmt.Errorf("idb: open %q version %d: %w", name, version, err)
	}
	settled()
	if ev == "error" {
		switch err := req.Err(); {
		case upgradeErr != nil:
			return nil, fmt.Errorf("idb: upgrade %q to version %d: %w", name, version, upgradeErr)
		case isDOM(err, "VersionError"):
			return nil, fmt.Errorf("idb: open %q version %d: %w: %w", name, version, ErrNewerSchema, err)
		default:
			return nil, fmt.Errorf("idb: open %q: %w", name, err)
		}
	}
	db, err := req.Result()
	if err != nil {
		rawReq.Get("result").Call("close")
		return nil, fmt.Errorf("idb: open %q: %w", name, err)
	}
	return newStore(name, db, rawReq.Get("result"))
}

func newStore(name string, db *idb.Database, raw js.Value) (*Store, error) {
	have, err := db.ObjectStoreNames()
	if err == nil {
		for _, t := range store.Tables {
			if !slices.Contains(have, t) {
				err = fmt.Errorf("table %q is missing", t)
				break
			}
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("idb: open %q: %w", name, domError(err))
	}
	s := &Store{name: name, db: db, raw: raw}
	s.unwatch = listen(raw, func(string) { s.lost.Store(true) }, "versionchange", "close")
	return s, nil
}

// tablesV1 are the tables created by the upgrade to version 1. Later
// versions add their own steps below; the list stays as it is.
var tablesV1 = []string{store.TableMeta, store.TableBooks, store.TableNames, store.TablePages}

// upgrade runs the steps from oldVersion to newVersion, inside the
// versionchange transaction.
func upgrade(db *idb.Database, oldVersion, newVersion uint) error {
	for v := oldVersion; v < newVersion; v++ {
		switch v {
		case 0: // new database
			for _, t := range tablesV1 {
				// A zero KeyPath is undefined: out-of-line keys.
				if _, err := db.CreateObjectStore(t, idb.ObjectStoreOptions{}); err != nil {
					return fmt.Errorf("create table %q: %w", t, err)
				}
			}
		case 1: // version 2 packs runs of pages into one record (package
			// journal) and reads version 1's records as they are; the
			// version tells the tabs of older builds to let go.
		case 2: // version 3 keeps an own book's newest tree hashes in its
			// record (package journal) and reads version 2's records as
			// they are; the version tells the tabs of older builds to
			// let go.
		default:
			return fmt.Errorf("no upgrade step from version %d", v)
		}
	}
	return nil
}

// Delete deletes the database called name with all its data. Open stores of
// this page on that database lose their connection (ErrConnectionLost). If
// another tab keeps the database open, Delete returns ErrBlocked; the
// deletion then happens once that tab closes its connection.
func Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	factory := js.Global().Get("indexedDB")
	if !factory.Truthy() {
		return fmt.Errorf("idb: delete %q: IndexedDB is not available", name)
	}
	req, err := call(factory, "deleteDatabase", name)
	if err != nil {
		return fmt.Errorf("idb: delete %q: %w", name, err)
	}
	w := watch(req)
	ev, err := w.settle(ctx)
	switch {
	case err != nil:
		w.abandon(func(string) {})
		return fmt.Errorf("idb: delete %q: %w", name, err)
	case ev == "error":
		return fmt.Errorf("idb: delete %q: %w", name, asError(req.Get("error")))
	}
	return nil
}

// blockedGrace is how long a request that got a blocked event may still
// succeed before it counts as blocked: connections of this page that are
// closing but still finish a transaction make the browser send blocked too.
const blockedGrace = 500 * time.Millisecond

// A watcher receives the events of an open or delete request.
type watcher struct {
	events   chan string
	unlisten func()
}

func watch(req js.Value) *watcher {
	w := &watcher{events: make(chan string, 3)} // at most blocked, then success or error
	w.unlisten = listen(req, func(ev string) { w.events <- ev }, "success", "error", "blocked")
	return w
}

// settle waits for the success or error event and returns its name. It
// returns ErrBlocked if the request stays blocked for blockedGrace, or
// ctx's error; the request is then still pending: call abandon.
func (w *watcher) settle(ctx context.Context) (string, error) {
	var grace <-chan time.Time
	for {
		select {
		case ev := <-w.events:
			if ev == "blocked" {
				t := time.NewTimer(blockedGrace)
				defer t.Stop()
				grace = t.C
				continue
			}
			w.unlisten()
			return ev, nil
		case <-grace:
			return "", ErrBlocked
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// abandon keeps listening in the background until the request settles,
// then calls done with the event's name.
func (w *watcher) abandon(done func(event string)) {
	go func() {
		for ev := range w.events {
			if ev != "blocked" {
				w.unlisten()
				done(ev)
				return
			}
		}
	}()
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	if err := s.enter(ctx, table, true); err != nil {
		return nil, err
	}
	defer s.calls.Done()
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	return s.getFast(ctx, table, keys)
}

// Scan implements store.Store.
func (s *Store) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	if err := s.enter(ctx, table, true); err != nil {
		return nil, err
	}
	defer s.calls.Done()
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil, nil // IDBKeyRange.bound refuses an empty range
	}
	return s.scanFast(ctx, table, start, end, limit)
}

// Seek implements store.Store.
func (s *Store) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	if err := s.enter(ctx, table, true); err != nil {
		return nil, err
	}
	defer s.calls.Done()
	if len(keys) == 0 {
		return []store.Entry{}, nil
	}
	return s.seekFast(ctx, table, end, keys)
}

// Write implements store.Store. If ctx ends while the transaction runs,
// Write aborts it and returns ctx's error; if the browser had already begun
// to commit, the error says the batch may have been written.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.Check(); err != nil {
		return err
	}
	if len(b.Ops) == 0 && len(b.Conds) == 0 {
		return s.enter(ctx, store.TableMeta, false)
	}
	if err := s.enter(ctx, store.TableMeta, true); err != nil {
		return err
	}
	defer s.calls.Done()
	return s.writeFast(ctx, b)
}

// Close implements store.Store. It waits for the calls running.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// Once the calls are done no transaction is left, so the connection
	// closes at once and a Delete that follows is not blocked by it.
	s.calls.Wait()
	s.unwatch()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("idb %s: close: %w", s.name, err)
	}
	return nil
}

// enter checks a call's ctx and table, and that the store is usable. With
// track, it counts the call as running: the caller must call s.calls.Done.
func (s *Store) enter(ctx context.Context, table string, track bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckTable(table); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.lost.Load() {
		return fmt.Errorf("idb %s: %w", s.name, ErrConnectionLost)
	}
	if track {
		s.calls.Add(1)
	}
	return nil
}

// begin starts a transaction over tables and returns it with the object
// store of the first table.
func (s *Store) begin(mode idb.TransactionMode, tables ...string) (*idb.Transaction, *idb.ObjectStore, error) {
	// Relaxed durability: a commit is done once the browser handed it to
	// the operating system. A killed tab still leaves whole transactions
	// only (atomicity does not depend on it); only a power cut may lose the
	// last ones. Strict (an fsync per transaction) costs ~30x in appends/s.
	txn, err := s.db.TransactionWithOptions(idb.TransactionOptions{Mode: mode, Durability: idb.DurabilityRelaxed}, tables[0], tables[1:]...)
	if err != nil {
		return nil, nil, s.fail("transaction", err)
	}
	os, err := txn.ObjectStore(tables[0])
	if err != nil {
		txn.Abort()
		return nil, nil, s.fail("transaction", err)
	}
	return txn, os, nil
}

// wait waits for txn to complete; last is its last request. If ctx ends
// first, wait aborts txn.
func (s *Store) wait(ctx context.Context, txn *idb.Transaction, last *idb.Request) error {
	// Transaction.Await(ctx) can miss ctx's end (it selects at random
	// between ctx and a context derived from it), so wait here. The
	// goroutine adds its listeners before the browser gets control back.
	done := make(chan error, 1)
	go func() { done <- txn.Await(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		if err := txn.Abort(); err != nil {
			// Already committing (or done): it cannot be stopped.
			return fmt.Errorf("%w (the transaction may have committed: %v)", ctx.Err(), err)
		}
		return ctx.Err()
	}
	// go-indexeddb reports an abort without an error (which only an
	// explicit abort() makes) as success: the requests of an aborted
	// transaction have an AbortError.
	if err := last.Err(); err != nil {
		return err
	}
	return nil
}

// fail wraps an error of op, mapping the DOMExceptions callers care about to
// this package's errors.
func (s *Store) fail(op string, err error) error {
	err = domError(err)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case isDOM(err, "QuotaExceededError"):
		return fmt.Errorf("idb %s: %s: %w: %w", s.name, op, ErrQuota, err)
	case s.isClosed():
		return fmt.Errorf("idb %s: %s: %w: %w", s.name, op, store.ErrClosed, err)
	case s.lost.Load():
		return fmt.Errorf("idb %s: %s: %w: %w", s.name, op, ErrConnectionLost, err)
	}
	return fmt.Errorf("idb %s: %s: %w", s.name, op, err)
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
