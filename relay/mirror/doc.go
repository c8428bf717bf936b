// Package mirror is a blind mirror (issue #13): an always-on native peer,
// registered on the relay under its own id, that keeps the books authors
// pin to it available while they are offline, and serves them to their
// readers exactly like a peer would (replication version 2's holders:
// the author's signed heads, proofs from the tree hashes it stores).
//
// It is built from the same journal and replication code as the browser,
// on a persistent store (boltstore). An author pins a book by offering it
// on a port to the mirror (replication.Session.Share); the mirror follows
// only books whose genesis names the peer that offers them as their author
// (replication refuses any other announcement), within a quota per author
// (books and bytes), and verifies every head and page it stores. It serves
// a book only to its author and to the reader its name addresses
// ("${author}-${reader}-…"): until pages are sealed end to end (package
// seal), a copy is readable by whoever gets it.
//
// What is left of issue #13 around it: the room pinning its books and
// following them through mirrors, the page's "on a mirror" receipts signed
// by the mirror, and make run starting one.
package mirror
