// Package replication replicates books between two peers over a port.Port:
// the seed's "Bob pings Ana or sends the latest length of the chatlog",
// made verifiable, minimal and resumable.
//
// A Session runs over one port between this profile and a peer. It carries
// every book the two share: the books this profile authors for the peer
// (named "${self}-${peer}-…", or added with Share) and its replicas of the
// peer's books (those whose author, verified or expected through
// journal.DB.ReaderFrom, is the peer). In version 1 only the author of a
// book serves it and a replica only pulls; version 2 lets a holder serve
// (see Holders). Run it again on every new port: it resumes from what the
// store holds, so nothing is lost or downloaded twice.
//
// # Messages
//
// Every message is CBOR (deterministic encoding, fxamacker/cbor), an array
// [version, type, body], at most MaxMessageSize bytes: version 1 until the
// sender has the peer's hello, then the version agreed (see Versions). Bodies
// are CBOR arrays, their elements positional, the same in every version:
//
//	type  name   body                                   sent by
//	1     hello  [full bool, [[prefix, length] …]]      a reader: the length it has of each of
//	                                                    the peer's books it reads, by the first
//	                                                    8 bytes of the key. full: the list is
//	                                                    complete (sent once, at connect).
//	2     have   [upgrade, push data body / null]       an author: its head as an upgrade
//	                                                    [head, from, fromRoot, proof] from the
//	                                                    length the reader has (from), with the
//	                                                    pages [from, …) pushed along when they
//	                                                    are few (see Push rules), else null.
//	3     want   [key, [[start, end] …]]                a reader: the page ranges it lacks
//	                                                    (1 to 64 ranges, start < end).
//	4     data   [key, start, n, [page …], rangeproof]  an author: pages [start, start+len)
//	                                                    (1 to 4096 pages, ~256 KiB) proven
//	                                                    against the head of length n.
//	5     bye    [reason]                               either: why it ends the session
//	                                                    (text, at most 1024 bytes).
//	6     forked [key, fork]                            a reader: the author signed two heads
//	                                                    of this book that cannot both hold
//	                                                    (journal.Fork, verified on receipt);
//	                                                    the reader follows it no further.
//	7     preview [upgrade, data body]                  an author (version 3): pages it is
//	                                                    writing, not yet stored (see Previews).
//
// Keys are 32-byte byte strings, lengths and indexes unsigned integers,
// pages byte strings. A head is [key, length, root, signature]; an upgrade
// [head, from, fromRoot, consistency proof], fromRoot being 32 zero bytes
// (not the RFC 6962 empty-tree hash) and the proof empty when from is 0
// (anything else is refused); a range proof [left hashes, consistency proof]; hash lists are arrays of
// 32-byte byte strings (package journal documents each).
//
// Null means "none" in two places only: a have's push, and a hello's list
// of books (sent as an empty array; null is accepted because the first
// peers sent it). Null or undefined anywhere else is a protocol violation.
// docs/format.md gives every byte, with worked examples.
//
// # Versions
//
// A full hello may end with an offer entry (Offer): the reserved prefix
// OfferPrefix, and as its length the versions the peer speaks (bit v-1 for
// version v) and its capabilities shifted by 16 (CapServe). A version-1
// peer takes it for the length of a book it does not write and ignores it,
// so version-1 and version-2 peers keep talking version 1: a version-1
// decoder would refuse a hello with a new field, and neither peer knows
// the other's version before its hello. Two peers speak the highest version
// both offer (Agree, Session.Version); none in common ends the session with
// a bye that says so. Config.Version = 1 runs a session as a version-1 peer.
//
// # Previews (version 3)
//
// A reader shows a new message when its pages arrive; the author's have
// leaves only once its write is stored (a head sent before it could be
// lost with the tab, and the author sign another page at its length).
// With Config.Previews (a member, not a mirror), an author sends, as the
// write of an append begins (journal.DB.Writing), a preview: the shape of
// a have whose upgrade runs from the reader's length (no consistency
// proof, fromRoot 32 zero bytes) with exactly the pages the head adds
// pushed along under it (no tree proof). It goes only to a peer level
// with the book (its length is the append's start), for small appends
// (Push rules), and never after the have of those pages. The reader checks
// it like a pushed have (journal.Book.Preview: the head's signature, the
// pages under it; a preview that fails ends the session: an author never
// sends one) and tells its Verified hooks; it stores nothing, and a
// head only previewed binds the author to nothing: if the write fails, the
// author's next append signs other pages at that length, and their have
// is taken as any other. Previews are sent in version 3 only: a preview
// in an earlier version, without pages, or whose pages are not exactly
// [from, head length) is a protocol violation.
//
// # Holders (version 2)
//
// A holder serves books it holds whole (pages 0 to the author's head it
// holds, not forked) but does not author, to a peer Config.Serve allows;
// a reader follows a book through a holder when Config.FollowVia allows.
// The reader lists the book in its hello; the holder answers a reader
// behind it with a have of the author's head (from the reader's length,
// pages pushed as an author would), a reader at its length with a hello
// entry of that length (the reader may then pull what it lacks), and later
// haves as its copy grows. Heads are the author's, verified the same way;
// range proofs come from the tree hashes the holder stored (journal: a
// replica holding [0, n) proves like the author); the genesis must name the
// author the reader expects. A reader asks a holder for pages only under a
// head the holder showed it proves against; following a book from two
// sources, it drops data proven against a head it has since replaced, and
// asks again; a have checked against a length another source has since
// moved on is dropped too (the reader tells its new length, and asks again
// for data proven against the dropped head): neither ends the session. A
// bad head or page is refused as from an author (the session ends,
// ErrBadProof, a journal.VerifyError naming the book); a fork seen through
// a holder is two heads signed by the author's book key, evidence sent
// with forked to the peer that sent the second; a holder that receives it
// serves the book to that reader no more. The room leaves Serve off: its books are per pair, so a member
// holds only the copies addressed to it and nobody else follows them.
//
// # Push rules
//
// An author pushes the pages [from, n) a reader lacks along with the have
// only when they are at most Config.PushPages (32) and Config.PushBytes
// (64 KiB) together; otherwise the push is null and the reader pulls with
// want. An announcement (a have from 0 of a book the reader has not
// listed) always pushes the genesis: the whole book if it is short, else
// page 0 alone, proven against the full head.
//
// # State machine
//
// At connect each side sends a full hello listing its replicas of the
// peer's books. On a hello, an author compares each book it writes for the
// peer with the listed length: for every book the peer is behind on, or
// does not list (a new book: an announcement), it sends a have. So two
// peers that share 1,000 books, 10 of which changed, reconcile with one
// hello each way and ten haves: one round trip, a few KiB.
//
// On a have, a reader accepts the head (journal.Book.AcceptHead: signature,
// then consistency with the head it has), stores the pushed pages
// (journal.Book.PutRange: range proof against the new head), and asks with
// want for what it still lacks: everything, or for a sparse replica
// (Config.Sparse) only what the application asked with Fetch. At most
// Config.Window pages are asked for and not yet received; a want is never
// sent for pages held or already asked for. A have whose from is not the
// reader's length is answered with a hello for that book (the author then
// sends a fresh upgrade). An announcement of a book the reader does not
// follow must push the genesis page: the reader checks that it names the
// peer as the author before it stores anything (Config.Accept may refuse).
//
// On a want, an author checks the ranges lie within the head it last sent
// and queues them; data messages are built one at a time, round robin over
// books, only when the port can take them, and always proven against the
// head last sent on this port, which the reader holds by then because the
// port is ordered. After every append to a shared book the author sends a
// new have (with the new pages, when small).
//
// On data, a reader checks it asked for exactly those pages, verifies and
// stores them, and asks for more.
//
// A session handles its messages one at a time, in order, but receives
// messages ahead of the one it handles, which may wait for a store write
// (tens of milliseconds in a busy browser): up to readAhead (256) of
// them, and readAheadBytes (4 MiB) of them together, so that new
// messages keep arriving during a slow write while a catch-up's large
// data stay few. A have that pushes at most previewPages (16) pages to a
// replica held here is previewed as it arrives (journal.Book.Preview: the
// head's signature and the pages' proof against it, told to the DB's
// Verified hooks, nothing stored), so an application shows a new message
// while the write of the one before is still running; the have is then
// handled in its turn, with every check. Messages received before the
// port closed are handled before the session ends.
//
// Config.Grow sees every growth of a replica before anything of it is
// stored (a have's head with its pushed pages, each data message): a
// reader with a quota (relay/mirror) refuses one there, and the session
// ends with its reason in the bye. A book added with Share before the
// peer's hello waits for it, like the books the names share: a peer that
// already holds it is sent nothing.
//
// # A hostile peer
//
// Anything out of bounds (size, counts, ranges), undecodable, of an unknown
// version or type, unasked for, or failing verification (journal.ErrBadProof,
// ErrBadSignature, ErrBadGenesis) ends the session with an error
// (ErrProtocol or the journal's) after a best-effort bye. The journal stores
// nothing that failed verification.
//
// A fork is different: the author's seed signed two histories of one book
// (the profile written from two places: a second device, an old backup
// restored), which is the author's mistake more than an attack, and the
// pair's other books are sound. The reader keeps the evidence (the journal
// refuses every later head of the book), sends it to the author (forked)
// and follows that book no further; the session goes on with the others.
// The author verifies the evidence, offers that book to the reader no more,
// and learns it (Config.OnFork) to tell its user. Each new session tells it
// again, once. So that such a fork is seen even when the two histories are
// as long, or the author's the shorter: an author whose reader says it
// holds as many pages as the author wrote, or more, sends its head alone
// when it wrote since it opened and has not shown that head since (or the
// reader holds more than it ever wrote); the reader compares it with its
// own tree (journal: an older head that disagrees is a fork too).
package replication
