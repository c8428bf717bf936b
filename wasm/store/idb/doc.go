// Package idb is the IndexedDB implementation of store.Store, for the
// browser (js/wasm only; natively the package is empty).
//
// Each profile is one IndexedDB database, opened with Open under a name the
// caller chooses (for example "taskmessenger-ana") and removed with Delete.
// The database version is store.SchemaVersion; the upgrade creates one object
// store per table, with out-of-line binary keys (Uint8Array), so IndexedDB
// orders keys bytewise as store.Store requires. Values are Uint8Arrays.
//
// Versions 2 (the journal's chunks of pages) and 3 (an own book's newest
// tree hashes in its record) changed no object store: their upgrades only
// move the version, so that tabs of older builds let go of the database.
//
// Every call is one IndexedDB transaction: Get, Scan and Seek a readonly one, Write
// a readwrite one over the tables the batch touches, reported done only when
// the transaction's complete event fires. All requests of a transaction are
// issued before anything is awaited, because a transaction commits as soon
// as its requests are done and control returns to the browser's event loop,
// which in Go happens whenever every goroutine blocks.
//
// A batch's conditions (store.Batch.Expect) are gets issued first in the
// write's readwrite transaction; a get that reads another value than the
// one expected aborts the transaction, undoing the writes issued after it,
// and Write returns a *store.ConflictError. IndexedDB runs readwrite
// transactions whose tables overlap one at a time, also across tabs and
// windows of one origin, so the check and the write are one atomic step.
//
// Errors: ErrBlocked when another tab's connection keeps an upgrade or a
// deletion from starting, ErrNewerSchema when the database was written by a
// newer version of the program, ErrQuota when the browser refuses a write
// for lack of space, ErrConnectionLost after the browser closed the
// connection (another tab upgraded or deleted the database, or the site's
// storage was cleared). Other DOMExceptions are returned with their name and
// message.
package idb
