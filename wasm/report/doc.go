// Package report streams a peer's books and IO events to the devtools
// server (package devtools), and defines the wire protocol both sides
// speak: the frame types here are what the server decodes.
//
// A Reporter watches a journal.DB (journal.DB.Subscribe) and takes IO
// events through its hooks: Sync (replication.Config.OnEvent), Port, App
// and Error. Hooks never block and never call into the DB: they queue a
// few words in a bounded queue that drops its oldest entry when full (the
// count is sent as a dropped frame). Run's goroutine reads pages and
// builds proofs from the DB, so a busy DB is never slowed. A book's
// changes are coalesced: however many appends were queued, one report
// sends the pages from the last length reported to the head, with one
// range proof and one consistency proof.
//
// # Protocol (version 2)
//
// One websocket per peer (ws://127.0.0.1:8081/peer by default), text
// messages, each one JSON frame, at most MaxFrameSize bytes (commands and
// results: MaxResultSize):
//
//	{"v": 2, "type": T, "at": unix-ms, "body": {…}}
//
// with the keys in that order (the body is decoded in one pass, after the
// type). Unknown fields, types and versions are refused. Byte strings
// (pages, heads, proofs) are base64, ids and keys z-base-32 (52
// characters). Heads, upgrades, range proofs and fork evidence are the
// journal's CBOR encodings (journal.Head, journal.Upgrade,
// journal.RangeProof, journal.Fork).
//
//	type     direction  body
//	challenge s → p     {nonce}: first frame, NonceSize random bytes
//	hello    p → s      {id, sig, alias, agent}: first peer frame; sig is the id's
//	                    signature of HelloMessage(nonce, host)
//	welcome  s → p      {books: [{key, length, head}]}: for the books the peer
//	                    authors, the pages the server holds verified (the peer
//	                    sends pages from length) and the verified head (its
//	                    upgrade starts at head)
//	books    p → s      {books: [{key, name, author, writable, head, have, forked,
//	                    genesis}], done}: every book at connect, ≤ MaxBooks per
//	                    frame, done on the last
//	book     p → s      {key, event, writable, head, upgrade, start, pages, plain,
//	                    proof, skipped, fork, peer}: pages [start, start+len) and
//	                    their head; from an author, the range proof of the pages
//	                    against the head and the upgrade (consistency proof) from
//	                    the length last reported; plain: the plaintexts of the
//	                    sealed pages the tab could open (none, or one per page, null
//	                    where it cannot); ≤ MaxPages pages, ≤ MaxPageBytes bytes of
//	                    pages and plaintexts
//	sync     p → s      {peer, send, type, book, start, end, bytes, pages, hashes}:
//	                    a replication message (hello, have, want, data, bye)
//	port     p → s      {peer, open, transport}: a port opened (or changed
//	                    transport: webrtc or relay) or closed
//	app      p → s      {peer, send, type, bytes}: an application message (join)
//	error    p → s      {text}
//	dropped  p → s      {count, total}: events the queue dropped
//	command  s → p      {id, op, data}: export, import (data: the JSON export)
//	                    or reset
//	result   p → s      {id, error, data}: the answer (data: the export)
//
// The hello authenticates the reporter: the signed bytes are
// "taskmessenger/devtools/v2\n" ‖ nonce ‖ host, host being the host of the
// URL dialled (lowercase, no default port: what a browser sends as Host),
// so a signature answers one challenge of one server. The reporter signs
// with Config.Key, the profile's identity key.
//
// Pages of task books are sealed (wasm/seal): the server verifies the
// ciphertext as it verifies any page, and shows people the plaintext a tab
// that can open the page sent beside it (Config.Open). Nothing proves
// that plaintext is what the page seals — the server holds no key — so it
// is the reporting tab's word, shown as "opened by" that tab.
//
// At connect the reporter reads the challenge, sends hello, waits for the welcome, lists its
// books and reports each book's newest pages (at most Config.Backfill);
// then every change as it happens. Replicas cannot prove (only authors
// hold a book's whole tree): their pages come without proofs and the
// server checks them against what the author proved.
//
// # Wasm
//
// The package is pure Go over internal/wsconn (coder/websocket natively)
// and builds for js/wasm,
// where the websocket is the browser's: the read limit is applied after a
// message arrives, and the Origin of the page is sent (the server allows
// loopback origins).
package report
