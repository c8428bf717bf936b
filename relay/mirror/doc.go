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
// (books and bytes), and verifies every head and page it stores. A port
// from an author is a stranger's to the mirror (peerio bounds what it may
// make the mirror hold unread), so the mirror asks an author for at most
// 128 pages at a time. It serves
// a book only to its author, to the reader its name addresses
// ("${author}-${reader}-…") and to the devices of persons (below): a
// copy's metadata is the members' business, and a mirror hands it to no
// one else.
//
// On each port from a peer it tells the peer, signed with its identity key,
// how far it holds each book the peer authored (package held, channel
// port.ChannelHeld; held.go): every such book when the port opens, then
// each book it stores pages of, at most one message per Config.HeldEvery
// with the latest lengths. The author verifies them against its own books
// and shows its messages "on a mirror", naming the mirror (wasm/room).
//
// # Devices
//
// A person writes from several devices, each with its own key certified
// by the person's identity (issue #14, package device); the books named
// for a person are read by every device of it. On the held channel a
// device shows its certificate first thing on each port, and tells the
// revocations of its person it knows (package held's client messages,
// devices.go; docs/format.md). The mirror takes them in the order they
// arrive with the port's replication (a certificate is known before the
// hello that follows it), at most 64 a port; one that does not decode or
// verify closes the port, one of an unknown type is ignored. It then
// serves a book to the port's peer when the peer is the book's author,
// the reader its name addresses, a device of that reader, or a device of
// the same person as the author (a person's devices read what the others
// wrote). Certificates are kept in memory, the latest 100,000: a device's
// own is sent on each of its ports, so only the last rule waits, after a
// restart, for the author device to come again.
//
// Revocations are kept on disk (a private book of the mirror's) for the
// persons the mirror serves, and honoured: a revoked device's ports are
// closed and served nothing after, its pins and growths are refused
// (ErrRevoked, counted in Stats.Refused), and its books are served to no
// one. Their pages stay on disk (only a release deletes books), and a page
// never served again costs only its bytes. Stats.Revocations and /metrics
// mirror_revocations count them.
//
// # Release
//
// An author that deletes its copy of a task tells the mirror, on the held
// channel, which of its books it pins no more (package held's "release",
// release.go): the mirror deletes each book whose genesis names the
// port's peer as its author, and takes it out of that author's quota
// (Stats.Released).
//
// # Quota
//
// The quota is checked when a book is pinned and whenever it grows
// (replication.Config.Grow), before anything is stored: pages pushed with
// a head count at their size, pages to be pulled at the author's average
// page so far, and each data message again at its size. A growth over it
// is refused (Stats.Refused, /metrics mirror_refused_total): the mirror
// keeps the book as it was and ends the session, its bye telling the
// author why (ErrOverQuota); the author's book loses nothing. A book
// counts once its genesis is stored, so a refused pin costs nothing.
//
// # Ports
//
// Every author is a stranger to the mirror's peerio (it dials no one), so
// the mirror raises the strangers' buffers (a port may hold a whole
// message, all ports 256 MiB together): replication sends without waiting
// for the reader, and the 256 KiB a browser allows a stranger closed the
// port of an author pinning more at once. A session to the mirror starts
// with a hello each way; a book the mirror holds is not sent again, so an
// author with 1,000 books pinned reconciles in one round trip.
//
// # A set of mirrors
//
// With Config.NATS (cmd/mirror: the relay's NATS flags, an embedded NATS
// by default), mirrors form a set (issue #15; set.go). Subjects:
//
//   - tm.mirror.announce, every Config.SetEvery (1 s), and tm.mirror.leave
//     once on Close: package mirrorset's signed JSON
//     {"v":1,"id":hex,"at":ms,"sig":hex}. A mirror not heard for
//     3 × SetEvery has left. Every mirror watches the set (so can a relay).
//   - tm.mirror.<hex id>.hold: one mirror asks another to hold books,
//     {"v":1,"from":hex,"books":[{"key":hex,"author":hex}, …]}, 1 to
//     MaxHoldBooks (1,024) books, at most MaxHoldMessage (256 KiB). It is
//     not signed: it is taken only from a live mirror of the set, and
//     only makes the receiver follow a book through that mirror, verified
//     as from its author. One that does not decode, or from no live
//     mirror, is dropped and counted (Stats.BadHolds).
//
// Being on the NATS is being trusted: a live mirror of the set is served
// every book the others hold (sealed pages, and their metadata), so a
// NATS shared with others needs credentials (-nats-creds, -nats-nkey).
//
// Placement is computed, never stored: each author's books belong on the
// first Config.Replicas (2) of held.Rank(author, live). The key is the
// author (a device id, the genesis's), not the book, so an author's books
// share their mirrors and an author keeps two ports to mirrors, not two
// per book; and a profile pins to the first two of the same rank over the
// mirrors it lists (wasm/room), so while they are all live its pins land
// where the set keeps them and nothing moves. No JetStream KV bucket
// holds placement (the issue allows one): the live set and the books each
// mirror holds say all of it, and a store would only go stale.
//
// Re-pin: whenever the live set changes, or a book's genesis is stored, a
// mirror takes each author it holds books of, and tells each target but
// itself the books it was not told of yet (again once a target left and
// came back: it may have lost them). The target follows each book it
// lacks through the sender (journal.DB.ReaderFrom, then replication
// version 2's FollowVia on a port through the relay): every head and page
// verified as the author's, charged to the author's quota (a book over it
// is refused, Stats.Refused). A mirror serves every book it holds whole
// to the live mirrors of the set, and follows its books through them. It
// keeps a port open to each other target of its authors while both are
// live (reopened Config.SetEvery after it closes), so a page an author
// pins to one reaches the other, and a mirror that returns with its store
// and seed catches up what was written while it was away. A mirror that
// is no longer a target keeps its copies and serves them (replication
// cannot take a pin back; only the author's release deletes). Stats.SetSize,
// Repinned and Followed (/metrics mirror_set_size, mirror_repinned_total,
// mirror_followed_total) count it.
//
// Failure modes. NATS down: the set stays as last known (nobody expires),
// no hold is told (those not sent are tried again every SetEvery), and the
// mirrors go on serving their books and following each other over the
// relay; once NATS is back, silence counts from then. A mirror killed
// without a leave is re-pinned from after 3 × SetEvery. A hold is sent
// once (NATS core delivers at most once): one lost is told again only
// when the target leaves and returns, while the author's next pin and
// the other targets' ports still reach it. Two mirrors whose views of the
// set differ for a moment (an announcement late on a busy host) may copy
// a book to a mirror that did not need it: harmless, and kept. The relay
// unreachable: holds are told, but nothing is copied until it is back.
//
// docs/benchmarks.md ("Mirror") measures it: pages stored and served per
// second, disk per page, heap per book, and sync latency among many books.
package mirror
