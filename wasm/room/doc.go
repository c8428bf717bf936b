// Package room is the messenger's task rooms: tasks, invite codes, the
// join handshake, the message format and the timeline that merges a task's
// books in one order, the same on every member. It is pure Go, over the
// journal, replication and peerio ports.
//
// Built so far: invite codes (invite.go), the message format (message.go)
// and the timeline (timeline.go, source.go). The join handshake and
// membership below are the design the next steps implement.
//
// # Books of a room
//
// As in the seed, every chat log is one-way: a member writes only into its
// own books, one per other member of the task, named
// "${self}-${member}-${task}". A room of n members has n·(n−1) books (the
// seed's nP2). A message is appended to each of its author's books of the
// task, with the same mid, so each reader gets it from the author's book
// addressed to it, and the timeline reads one source per author.
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
//  3. Ana creates "ana-bob-T", its genesis meta naming Bob and the task,
//     and sends on the port's app channel {type: "join", task: T, key}.
//     The port is authenticated (peerio), so Bob knows it is Ana's.
//  4. Bob, if he hosts or belongs to T, follows Ana's book
//     (journal.DB.ReaderFrom(key, ana): its genesis must then name Ana),
//     creates "bob-ana-T" whose first page is {type: "join"} with the
//     task's title, parent and current members, and answers
//     {type: "joined", task: T, key}. Ana follows Bob's book the same way.
//  5. From then on the replication session on the same port carries only
//     heads, pages and lengths: the seed's "ping or send the latest length".
//
// A member who joins through Bob is announced by Bob, as a "member" page in
// each of his books to the others; each of them, on reading it (at once, or
// when back online), runs the same handshake with the newcomer, so every
// pair ends with its two books. A member offline during a join learns of it
// from the announcement when it syncs again.
//
// # Order
//
// Every message carries a Lamport clock (meta.clock): one more than the
// highest clock its author had seen in the task. The timeline orders by
// (clock, author, mid): the same on every member holding the same
// messages, causal (a reply after its cause, a message after all its author
// had seen), and with wall-clock dates only shown, never trusted. Each
// author's messages are sorted already, so a page of the timeline is a
// merge from the newest: O(log n) reads per author to find the place, then
// as many reads as messages shown.
package room
