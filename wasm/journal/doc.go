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
//	[1, author id (32 bytes), book key (32), name (text), meta (bytes), signature (64)]
//
// where the author's identity key signs "taskmessenger/genesis/v1\n" followed
// by the CBOR encoding of the same array without the signature.
//
// # Heads and proofs
//
// Page i's leaf hash is the RFC 6962 leaf hash SHA-256(0x00 ‖ page); the
// pages form an RFC 6962 Merkle tree, computed with golang.org/x/mod/sumdb/tlog.
// Every append (of one page or a batch) produces a Head {key, length, root,
// signature}, the book key's signature of
//
//	"taskmessenger/head/v1\n" ‖ key (32) ‖ length (8, big endian) ‖ root (32)
//
// and encoded as the CBOR array [key, length, root, signature].
//
// A replica (a peer's book, opened by key) accepts:
//   - its first head on the signature alone (the key is the book's identity);
//   - a longer head only with a tlog consistency proof from the head it has
//     (Upgrade); a head of the same length with another root, or a longer
//     one whose proof shows another root at the old length, is a fork: both
//     heads are kept as evidence (Fork), and the book accepts no more heads;
//     a shorter head is stale and refused;
//   - pages [start, end) only with a RangeProof against its current head:
//     the hashes of the subtrees left of start that, with the pages, give the
//     tree hash at size end, plus a tlog consistency proof from end to the
//     head's length. A range of any size costs O(log n) hashes, so a replica
//     can hold any ranges of a book (sparse), e.g. the last 50 of a million.
//
// Anything refused leaves the store as it was.
//
// # Storage
//
// Per book, in the tables of package store: the book record (CBOR map with
// integer keys, under the book key), the name binding, and for each page,
// under book key ‖ index (8 bytes, big endian), the page and the tree hashes
// that tlog.StoredHashes returns for it (concatenated). An append writes
// pages, hashes and the record with its new head in one store.Batch, so a
// crash leaves a valid prefix. Concurrent appends to a book share one batch
// and one head (group commit).
//
// # The DB
//
// Open binds a store to a seed (a store written for another seed is
// ErrUnauthorized), opens the profile's audit book (name "audit", JSON
// entries for every open and book creation) and reports every committed
// change to the hooks registered with Subscribe.
package journal
