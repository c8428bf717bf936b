// Package devtools is the devtools server: peers report their books and IO
// events to it (package report), it verifies everything with the journal's
// code, and it shows the result on a page and through a JSON API.
//
// # Verification
//
// Per book, the server keeps the verified head and the verified Merkle
// tree of the prefix it has seen (tlog's stored hashes, 64 bytes a page,
// up to Config.MaxTreePages). A book's genesis page binds its key to its
// author and name (journal.DecodeGenesis); a head is checked by its
// signature, then placed against the verified history: the first head is
// taken on its signature (as a journal replica does), a longer one needs
// the author's consistency proof (its upgrade) or pages that extend the
// verified tree exactly to it, an equal or shorter one must agree with the
// tree. Two signed heads that disagree are a fork, kept with the
// journal's evidence (journal.Fork, verified) when the server can build
// it. An author's pages are checked by their range proof
// (journal.VerifyRange) or by extending the tree; a replica's, which come
// without proofs, against the verified tree or the verified page at the
// same index, at once or as soon as the author's report arrives.
//
// Sealed pages (wasm/seal) are verified as their ciphertext, like any
// page: the server holds no key. A reporter whose tab can open a page
// sends the plaintext beside it (report.Config.Open); the server keeps one
// per page with the tab that sent it (the first, replaced once by the
// book's author's) and parses the page from it, shown as "opened by" that
// tab. The plaintext is never verified: it is the tab's word. A sealed page
// no tab opened is shown as such.
//
// Statuses, per book and per peer's copy: verified, unverified (nothing
// yet to check against), invalid (a bad signature, proof or page: kept as
// a problem, never refused silently) and forked. A book shows its worst.
//
// # Security
//
// Every route is behind one middleware (guard.go): a Host other than
// 127.0.0.1, localhost or [::1] on the listening port, or a name of
// Config.Hosts, is refused with 421, so a DNS-rebound name reaches nothing
// (checked before the websocket upgrade); a browser's Origin must be the
// devtools page's (for /peer, also Config.OriginPatterns), else 403. Every
// POST must carry the page's Origin, Content-Type application/json and
// TokenHeader with the server's random token (GET /api/token, readable
// same-origin only), else 403: no other web page can export, import or
// reset a peer.
//
// A reporter proves its id (package report, protocol version 2): the
// server's first frame is a random challenge, and nothing the peer sends
// is taken before its hello's signature by the id, over the context, the
// nonce and the server's host, verifies.
//
// # Bounds
//
// Pages and timeline events are kept per book up to Config.RetainPages and
// Config.RetainEvents; older ones are dropped and counted (the API says so),
// but for the genesis (page 0), always kept so a third party can check the
// author binding of any book served.
// Peers and books are bounded by Config.MaxPeers and Config.MaxBooks.
// Frames are bounded by the protocol (report.MaxFrameSize); a frame that
// does not decode or breaks a bound closes the connection (websocket
// status 1008, 1009 when too large) and is logged on the peer's timeline.
//
// # API
//
// Handler serves the page at /, the reporters' websocket at /peer, and:
//
//	GET  /api/token                      the token of the page's POSTs
//	GET  /api/peers                      peers
//	GET  /api/peers/{id}                 a peer, its books, its recent events
//	POST /api/peers/{id}/export          the peer's JSON export
//	POST /api/peers/{id}/import          body: a JSON export, verified first
//	POST /api/peers/{id}/reset           wipe the peer's storage
//	GET  /api/books?task=&peer=          books: key, name, author, length, status
//	GET  /api/books/{key}                a book: head, tree, copies, fork, problems
//	GET  /api/books/{key}/pages?from=&limit=   retained pages, raw and parsed
//	GET  /api/books/{key}/proof?index=   a page's inclusion (or range) proof, with the
//	                                     consistency proof to the signed head if it is
//	                                     against another head
//	GET  /api/timeline?task=&peer=&limit=&since=   protocol events
//	GET  /api/events                     the live feed (server-sent events)
//	GET  /api/stats                      counters
//
// A foreign Host is 421, a foreign Origin or a POST without the page's
// proof 403, unknown ids 404, bad query values 400, a command to an offline peer
// 409, a peer's refusal 502, its silence 504; every error is
// {"error": "…"}.
package devtools
