// Package room is the messenger's task rooms: tasks, invite codes, the
// join handshake, the message format and the timeline that merges a task's
// books in one order, the same on every member. It is pure Go, over the
// journal, replication and peerio ports.
//
// A Messenger (messenger.go) runs it all for one profile: Open rebuilds
// the tasks from the profile's books, Accept serves every port IO opens
// (replication on the sync channel, the room protocol on the room
// channel), and CreateTask, Invite, Join, Send, SendMany, Rename,
// Timeline, Tasks and Members are what the JS API (tm.open) calls.
//
// # Books of a profile
//
//   - "tasks": private (its name addresses no reader, so it is never
//     replicated); one JSON record per page: a task made or joined, a
//     title, a member, the key of a member's book (records.go).
//   - "${self}-${task}": the profile's log of the task, private: every
//     message it wrote in the task, from the first. mid = page index.
//   - "${self}-${member}-${task}": the seed's one-way chat log, one per
//     other member, created when the pair forms: a copy of the log (page i
//     is the log's page i, with head.to = the member), then every new
//     message. A crash between the log's append and a copy is repaired at
//     the next send or open (the copy catches up from the log).
//
// # Books of a room
//
// As in the seed, every chat log is one-way: a member writes only into its
// own books, one per other member of the task, named
// "${self}-${member}-${task}". A room of n members has n·(n−1) shared
// books (the seed's nP2), plus each member's private log. A message is
// appended to the log and to each of its author's books of the task, with
// the same mid, so each reader gets it from the author's book addressed to
// it, and the timeline reads one source per author: the log for itself,
// the book addressed to it for every other member (once verified, and only
// if its genesis names that member, this reader and this task).
//
// # Invite and join: the seed's question answered
//
// The seed asks whether the join may carry more than the exchange of a
// length. Yes, once: the join is the one moment when keys are not known yet,
// so it carries them, and from then on only heads and lengths flow.
//
//  1. Bob shares an invite code: his peer id and the task id, checksummed
//     (invite.go). No message is sent: "there is no such thing as invite".
//  2. Ana pastes it; Join parses it (a bad code is an error at once), then
//     IO.At(bob) waits, visibly and cancellably, until Bob is online.
//  3. Ana sends on the port's room channel {type: "join", task: T, key,
//     invite: true}, key being that of "ana-bob-T" (a book key is derived
//     from the seed and the name, so it is known before the book exists).
//     The port is authenticated (peerio), so Bob knows it is Ana's.
//  4. Bob, if he has T, follows Ana's book (journal.DB.ReaderFrom(key,
//     ana): its genesis must then name Ana), creates "bob-ana-T" (genesis
//     meta: Ana, the task's title, parent and members; then a copy of his
//     log), announces Ana with a "member" message, and answers {type:
//     "joined", task: T, key, title, parent, members, clock}. Without T he
//     answers {type: "refused", error}: Join fails with that reason.
//  5. Ana records the task, follows Bob's book, creates "ana-bob-T" (first
//     page naming Bob and the task, then a copy of her log) and writes a
//     "join" message after Bob's clock. Ana creates her book only once Bob
//     accepted: a refused join leaves nothing behind.
//  6. From then on the replication session on the same port carries only
//     heads, pages and lengths: the seed's "ping or send the latest length".
//
// A member who joins through Bob is announced by Bob, as a "member" page in
// each of his books to the others, and Bob's answer lists the members to
// the newcomer. Each side then pairs: a "join" without invite on a port to
// the other (sent on every new port while a pair is incomplete), answered
// by "joined", so every pair ends with its two books. A member offline
// during a join learns of it from the announcement when it syncs again,
// and the newcomer's dial waits for it to come online. A refused pairing
// (the other side has not finished its own join yet) is retried from the
// other side. The messenger keeps a dial loop to every member, so ports
// reopen after a drop, a reload or a relay restart.
//
// # Order
//
// Every message carries a Lamport clock (meta.clock): one more than the
// highest clock its author had seen in the task (a reply: above its cause,
// even if the cause arrived a moment ago; a joiner's first message: above
// the host's clock, which the answer carries). The timeline orders by
// (clock, author, mid): the same on every member holding the same
// messages, causal (a reply after its cause, a message after all its author
// had seen), and with wall-clock dates only shown, never trusted. Each
// author's messages are sorted already, so a page of the timeline is a
// merge from the newest: O(log n) reads per author to find the place, then
// as many reads as messages shown.
package room
