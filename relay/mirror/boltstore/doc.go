// Package boltstore is a store.Store in one bbolt file
// (go.etcd.io/bbolt): the persistent store of a mirror (issue #13), which
// keeps the books pinned to it across restarts. It passes storetest. It is
// native only: under js/wasm (where bbolt does not build) the package is
// empty, as package idb is natively.
//
// # Layout
//
// One file, opened with Open and locked by bbolt, so only one process
// (and one Store) has it at a time; another Open gets ErrLocked after
// Options.LockTimeout. Each table of store.Tables is a top-level bucket
// of the same name; keys and values are stored as given, and bbolt orders
// keys bytewise, as store.Store requires. A bucket "boltstore" holds the
// schema record: key "schema", store.SchemaVersion as 8 bytes big-endian.
// Open refuses a file of a newer schema (ErrNewerSchema) and a bbolt file
// of another program (ErrNotStore). A new file has 16 KiB pages, and the
// pages table fills leaves full instead of half, since a book's pages
// arrive in index order: a 1 KiB page then takes ~1,180 bytes of file.
//
// # Reads
//
// Get and Scan are each one read transaction, so one snapshot; they run in
// parallel with each other and with the writer. Values are copied out:
// bbolt's slices point into its memory map and are valid only inside the
// transaction. Scan checks its ctx every 256 entries.
//
// # Writes and durability
//
// One goroutine, the writer, started by Open and stopped by Close, commits.
// Write hands it the batch; the writer takes every batch waiting (up to
// 256) and applies them in one read-write transaction, in order, each as
// if alone: a batch whose ctx is done, or one of whose conditions does not
// hold when read in that transaction (after the batches before it), is
// skipped and writes nothing, and its Write returns the ctx's error or a
// *store.ConflictError. Once a batch's turn has come, Write waits for the
// commit whatever its ctx says, so its result is never in doubt.
//
// The commit is bbolt's: the changed pages are written to free space
// (copy on write), synced, then one of the file's two checksummed meta
// pages is written and synced. NoSync is never set. When Write returns
// nil the batch is on disk; a crash at any moment leaves the state before
// the commit or after it, never part of a batch (TestCrashMidWrite kills a
// writing process to check it). So a Write costs two fdatasyncs: on the
// development machine ~0.35–0.45 ms for one 1 KiB value and ~0.6–0.8 ms
// for a batch of 100 when its disk is calm, of which ~0.05 ms and ~0.3 ms
// are work without the syncs. Concurrent writers share the syncs: 8
// writers of one value each pay a third to a fifth of a lone write
// (docs/benchmarks.md).
//
// # Why bbolt
//
// It is pure Go, one file, and brings only golang.org/x/sys; its B+tree
// read through a memory map answers a Get in 2–3 µs; and its one writer
// at a time fits the mirror, whose writes are verified pages appended a
// batch per book, with group commit sharing the syncs among books. Pebble,
// also pure Go, an LSM tree, measured on the same machine with the same
// keys and values: one value written and synced is faster (~0.24 ms, one
// WAL sync against two), but batches of 100 were 2.7–3.8 times slower
// (46,000 values/s against 123,000–176,000) and filling 100,000 values
// 1.9–2.7 times slower, for the same disk per value (~1,200 bytes: pages are
// ciphertext, so its compression gains nothing), with a directory of
// files, background compactions, and 135 modules in its graph.
package boltstore
