// Package journal is the journaling book database: signed append-only books
// (like hypercore) and the collection of a profile's books (like corestore).
// It is pure Go: no goroutines of its own, no I/O but through a store.Store,
// no syscall/js. It builds and is tested natively and runs unchanged in the
// browser on an IndexedDB store.
//
// # Books
//
// A book has one author. Its key pair is derived from the author's seed and
// the book's name (identity.Key.Derive("book", name)), so a profile's books
// can be rebuilt from its seed. Names follow "${author}-${reader}-${task}"
// by convention; a name that starts with a peer id and '-' must be
// authored by that peer.
//
// Page 0 is the genesis page (Genesis): a CBOR array
//
//	[1, author id (32 bytes), book key (32), name (text), meta (bytes or null), signature (64)]
//
// meta is application data (1 to MaxGenesisMeta bytes), or CBOR null when
// there is none: an empty byte string is refused. The author's identity
// key signs "taskmessenger/genesis/v1\n" followed by the same 6-element
// array with the signature slot as CBOR null (the array still has six
// elements). The page must be in deterministic form (DecodeGenesis
// re-encodes it). The room protocol's meta is JSON: {"task", "to",
// "title", "parent", "members"} for task books, {"app":"task-messenger"}
// for "tasks"; the audit book has none. docs/format.md gives every field
// and a worked example.
//
// # Heads and proofs
//
// Page i's leaf hash is the RFC 6962 leaf hash SHA-256(0x00 ‖ page); the
// pages form an RFC 6962 Merkle tree, computed with golang.org/x/mod/sumdb/tlog
// (in the browser, the leaf and node hashes of appends and verified ranges
// through package rfc6962: the same hashes, twice as fast there).
// Every append (of one page or a batch) produces a Head {key, length, root,
// signature}, the book key's signature of
//
//	"taskmessenger/head/v1\n" ‖ key (32) ‖ length (8, big endian) ‖ root (32)
//
// and encoded as the CBOR array [key, length, root, signature]. The
// signature is standard ed25519 with a random nonce precomputed off the
// append path (identity.Key.SignRandom; Options.DeterministicHeads for RFC
// 8032's deterministic one), so heads are compared by length and root.
//
// A replica (a peer's book, opened by key) accepts:
//   - its first head on the signature alone (the key is the book's identity);
//   - a longer head only with a tlog consistency proof from the head it has
//     (Upgrade, the CBOR array [head, from, fromRoot, proof]; at from 0,
//     fromRoot is 32 zero bytes and the proof empty); a head of the same
//     length with another root, or a longer one whose proof shows another
//     root at the old length, is a fork: both heads are kept as evidence
//     (Fork), and the book accepts no more heads; a shorter head is stale
//     and refused;
//   - pages [start, end) only with a RangeProof against its current head,
//     the CBOR array [left, tree] of two hash lists: left are the roots of
//     the complete subtrees that tile [0, start), one per bit of start,
//     largest (leftmost) first (leftIndexes, in ascending stored index,
//     is this order), from which with the pages the verifier computes the
//     tree hash at size end; tree is the tlog consistency proof from end
//     to the head's length (empty when they are equal). A range of any
//     size costs O(log n) hashes, so a replica can hold any ranges of a
//     book (sparse), e.g. the last 50 of a million.
//
// Hash lists are CBOR arrays of 32-byte byte strings, empty arrays when
// empty (never null).
//
// Anything refused leaves the store as it was.
//
// # Storage
//
// Per book, in the tables of package store: the book record (CBOR map with
// integer keys, under the book key), the name binding, and the pages. Each
// page's record is k (1 byte) ‖ the k tree hashes tlog.StoredHashes
// returns for the page (level 0 first) ‖ the page. The records of a run of
// consecutive pages (up to 64 pages or 16 KiB) are one chunk, 0xFF ‖
// uvarint n ‖ n uvarint record sizes ‖ the records, under book key ‖ the
// index of its last page (8 bytes, big endian); a run of one page is its
// record alone, the form store schema version 1 wrote every page in. A
// page is found in the first chunk at or after its own key (one store
// read); chunks never overlap, as no page is written twice. An append
// writes its chunks and the record with its new head in one store.Batch,
// so a crash leaves a valid prefix. Concurrent appends to a book share one batch
// and one head (group commit). Since store schema version 3 an own book's
// record written by an append also keeps the tree hashes the next append
// extends (the roots of the subtrees that tile the head's tree, largest
// first): opening the book takes them from there, checked against the
// head's root, instead of reading them from the pages; a record without
// them (an import, a restore, an older build) or whose hashes do not give
// the root has them read from the pages.
//
// # One writer per book
//
// Two DBs may be open on one store with the same seed: two tabs, two
// browsers or devices sharing a synced store, an old backup restored over
// a profile in use. If both appended from the head each had read, the
// profile would sign two heads of one length (a fork its readers refuse
// for good) and the second write would overwrite the first's pages, so
// that the stored tree no longer hashes to the stored head.
//
// So every write of a book record (an append, AppendMany, a group commit,
// an import, a replica's new head or pages, a book's creation) is a
// compare-and-swap on the stored head: its store.Batch expects
// (store.Batch.Expect) the record's bytes as this DB last read or wrote
// them (absent, for a new book), checked in the same store transaction as
// the write. If another DB wrote the record meanwhile, nothing is written,
// the book in memory stays as it was, and the error is ErrStaleWriter
// (wrapping the store's *store.ConflictError). The store then holds one
// linear history: the stale DB's head is a prefix of it, so its reads and
// proofs stay true, but the book refuses every later write with
// ErrStaleWriter, without trying the store again. The caller reopens:
// Open a new DB on the store (dropping this one), which loads the newest
// heads.
//
// The newest DB on a store is its writer: Open claims the store's next
// writer epoch (meta key "writer", 8 bytes big-endian, itself written by
// compare-and-swap), and every write also expects the epoch its DB claimed.
// So once a DB is opened on a store, the DBs opened before it write nothing
// more, to any book (a fencing token): their next write fails with
// ErrStaleWriter, and DB.Stale is closed so their owner can stop (the page
// says the profile is open in another tab). A write whose outcome is
// unknown (the store failed or ctx ended while committing) is handled the
// same way: if it did commit, the next
// write finds the record changed and fails with ErrStaleWriter rather than
// sign a second head of the same length.
//
// # The DB
//
// Open binds a store to a seed (a store written for another seed is
// ErrUnauthorized), opens the profile's audit book (name "audit", JSON
// entries for every open, book creation and import) and reports every
// committed change to the hooks registered with Subscribe. Verified hooks
// also see a replica's verified pages as the write that stores them
// begins, or sooner, as they arrive, if the replication calls
// Book.Preview (a page may be shown then, marked pending until its
// EventPut; Preview checks a page against its signed head, the write
// against the pages held too).
//
// Export writes every book as JSON (its head and the pages it holds from
// 0); Import verifies all of an export, checks every book against the
// books held, and stores it all in one batch with its audit entry: a
// conflict anywhere (a fork, a name bound to another book) leaves the
// store as it was. A book of the profile's own that an import creates is
// reported as EventCreate, as Author's (a replication session with its
// reader then serves it).
package journal
