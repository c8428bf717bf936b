// Package room is the messenger's task rooms: tasks, invite codes, the
// join handshake, the message format and the timeline that merges a task's
// books in one order, the same on every member. It is pure Go, over the
// journal, replication and peerio ports.
//
// A Messenger (messenger.go) runs it all for one profile: Open rebuilds
// the tasks from the profile's books, Accept serves every port IO opens
// (replication on the sync channel, the room protocol on the room
// channel), and CreateTask, Invite, RevokeInvite, Join, Send, SendMany, Rename,
// Timeline, Tasks and Members are what the JS API (tm.open) calls;
// Restoring and FinishRestore follow a restore from the seed alone.
//
// # Books of a profile
//
//   - "tasks": private (its name addresses no reader, so it is never
//     replicated); one JSON record per page: a task made or joined, a
//     title, a member, the key of a member's book (records.go).
//   - "${self}-${task}": the profile's log of the task, private: every
//     message it wrote in the task, from the first. mid = page index.
//   - "${self}-${member}-${task}": the seed's one-way chat log, one per
//     other member (after a fork, its successor "….${gen}", see Forks), created when the pair forms: a copy of the log (page i
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
// # Devices of a person
//
// A member is a person: an identity key, with one or more devices
// (devices.go, docs/devices.md). Each device writes its own books, so two
// devices of a person never fork; "${self}" above is the device, and a
// book is addressed to a person: "${device}-${person}-${task}", read by
// every device of that person (for a person with one device, the device
// is the person: the books are the seed's). A device writes one book per
// other person of the task, and one to its own person once it has a
// sibling; it reads each author device's book to its person, and follows
// them through its siblings too (they serve them: replication's holders),
// so a device linked later finds the person's whole history already
// written. Devices join tasks on their certificate (a join's "cert"),
// are announced by the device that linked them ("device" messages), and
// are revoked with a signed revocation ("revoke-device"): each member
// stops following the device's books, keeps what it held, and the task's
// secret moves on without it; before closing the device's ports it hears
// the device's last words, the revocations it made (revokedevice.go).
//
// # Invite and join: the seed's question answered
//
// The seed asks whether the join may carry more than the exchange of a
// length. Yes, once: the join is the one moment when keys are not known yet,
// so it carries them, and from then on only heads and lengths flow.
//
//  1. Bob shares an invite code: his peer id, the task id and a random
//     secret, checksummed (invite.go). No message is sent: "there is no
//     such thing as invite"; Bob only keeps the secret's hash (and its
//     expiry, InviteOptions) in his private tasks book, and can revoke it
//     (RevokeInvite). The secret is the capability: the peer and task ids
//     are in every code and book name, and admit no one.
//  2. Ana pastes it; Join parses it (a bad code is an error at once), then
//     IO.At(bob) waits, visibly and cancellably, until Bob is online.
//  3. Ana sends on the port's room channel {v: 2, type: "join", task: T,
//     key, secret}, key being that of "ana-bob-T" (a book key is derived
//     from the seed and the name, so it is known before the book exists).
//     The port is authenticated (peerio), so Bob knows it is Ana's.
//  4. Bob, if he has T and the secret is one he issued for T, not revoked
//     nor expired, and he has admitted fewer than MaxIntroduced (64)
//     members of T, admits Ana: the record of the member (in his tasks
//     book) and a "member" message announcing her ({id: Ana, via: Bob,
//     invite: the first 8 hex digits of the secret's hash}) are one
//     write, all or nothing, so every admission is in the timeline of
//     every member, even one whose pairing then fails. He then follows
//     Ana's book (journal.DB.ReaderFrom(key, ana): its genesis must then
//     name Ana), creates "bob-ana-T" (genesis meta: Ana and the task id
//     only, a genesis being unsealed; then a copy of his log, announcement
//     included) and answers {type: "joined", task: T, key, title, parent,
//     members, clock, taskSecret, epochs, creator, departed}. Else he answers {type: "refused", error}: Join fails with
//     that reason (ErrNotInvited, ErrTooManyMembers).
//  5. Ana records the task, follows Bob's book, creates "ana-bob-T" (first
//     page naming Bob and the task, then a copy of her log) and writes a
//     "join" message after Bob's clock. Ana creates her book only once Bob
//     accepted: a refused join leaves nothing behind.
//  6. From then on the replication session on the same port carries only
//     heads, pages and lengths: the seed's "ping or send the latest length".
//
// A member who joins through Bob is announced by Bob, as a "member" page in
// each of his books to the others. The members an answer lists are never
// taken (not even by the joiner from its inviter; but for those that left,
// below): a profile counts a peer
// as a member only if it admitted it by its own invite, joined through it,
// or holds a verified book of a member announcing it: a "member" message,
// or the author's "join" message (its via: the member it joined through).
// So a newcomer learns its inviter's inviter from the inviter's join
// message, pairs with it, and learns the others from its books. Each side
// then pairs: a "join" without a secret on a port to the other (sent on
// every new port while a pair is incomplete), answered by "joined", so
// every pair ends with its two books. A pairing needs an announcement both
// sides hold: a join without a secret is accepted only from a peer this
// side already counts as a member.
//
// A member that left (a "leave" message, leave.go) deleted its copy and
// pairs with no one any more; so Bob's answer names, in "departed", each
// member that left with the key of its book to Bob ([{id, key}…]). Ana
// takes one such book per member the answer lists and she reads no book
// of yet, charged to Bob like an announcement: she records the member and
// the book ("departed" record), never dials it, follows the book through
// the members that hold it (they serve a departed member's book to any
// member of its task, replication's holders) and reads it as that
// member's book to her: it must be signed by it and named
// "${member}-${reader}-T" (departed.go). Its leave message in the book
// makes it left at Ana too, and her timeline holds its messages where
// every member's does. A pairing's answer names them too, and a member
// that records a leave sends its answer again to the members online: a
// joiner whose pairings were answered before the leave arrived learns of
// the book then (a member leaving pairs with no one new, so its book to
// the joiner stays empty and is replaced).
//
// Introductions are charged to the root of their chain: the first member
// up the chain of announcers that this profile admitted itself (by its
// invite) or joined through; this profile's own admissions are charged to
// itself. A root and everyone its chain introduces bring in at most
// MaxIntroduced (64) members of a task, this profile at most 64 by its
// invites, and a task holds at most MaxMembers (256): a hostile member
// that announces identities of its own, which announce more, still adds
// at most 64. Announcements beyond are shown, not acted on (EventError,
// ErrTooManyMembers). The price: a profile learns at most 64 members
// through the member it joined through. A member offline
// during a join learns of it from the announcement when it syncs again,
// and the newcomer's dial waits for it to come online. A refused pairing
// (the other side has not finished its own join yet) is retried from the
// other side. The messenger keeps a dial loop to every member, so ports
// reopen after a drop, a reload or a relay restart.
//
// # Sealed pages and removal
//
// Every page a profile writes after a genesis is sealed (sealing.go): the
// books to members under the task's secret, its private books under a key
// of its seed, so a mirror or any other holder verifies a book and cannot
// read it. The task's creator removes a member (remove.go): a "remove"
// message, then the next epoch's secret for everyone else; the removed
// member keeps what it had and gets nothing written after.
//
// # Strangers
//
// Any relay user can open a port to a profile. Replication runs on a port
// only while its peer is a member of one of the profile's tasks, or a peer
// the profile is joining through; a port from anyone else (a stranger)
// is read only on the room channel, where it may send up to 4 joins:
// anything else closes it, and so does Config.StrangerIdle (10s) without
// an admission. Its sync messages wait, unread and bounded, in their
// channel (a joiner starts replication at once: its first hello must not
// be lost while the host admits it). When a stranger is admitted, its
// ports start replication, reading them, before the answer is sent. Even with a member, replication follows only
// the books the room follows itself (replication.Config.Accept refuses
// every unsolicited announcement): one book per member and task.
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
//
// A clock is at most MaxClock (2^53−1, exact as a JavaScript number), and
// a member's message mid may claim at most MaxClockStep (2^32) + mid above
// the highest clock of the other authors (this profile included); so may a
// join's answer (mid 0). A message beyond is recorded as refused (in the
// tasks book) and shown as invalid, and never advances the clock; sums
// saturate, never wrap. The bound moves only with the other members'
// messages, so a member alone cannot ratchet the clock to its end: each
// of its steps needs a message of another member after it. A hostile
// author's messages may still be out of order among themselves; the
// others' order is kept.
//
// # Validation
//
// Decode checks what the page renders: meta.date within [MinDate, MaxDate]
// (years 2000 to 3000), meta.clock within [1, MaxClock], a type of at most
// 32 bytes, data a JSON object whose fields of a known type are strings of
// the right form (a peer id, a task id, a bounded title or text),
// refs.cause naming a message, and mid = the page's index. A page that
// fails is a TypeInvalid message with Reason and the raw page: shown, never
// hiding the others.
//
// # Equivocation
//
// Every chat log is one-way, so an author could write different messages
// under one mid for different readers. Members exchange, on the room
// channel, digests of every third member's messages as addressed to all
// (SHA-256 with head.to cleared), when they arrive and for the last 64 of
// each author when a port opens. A member whose digest differs asks for
// the other's copy, which comes with the author's signed head, the book's
// genesis and record proofs (equivocation.go): both verified copies are an
// Equivocation, reported as EventEquivocation and in
// MemberInfo.Equivocations (kept in memory: found again after a reload).
// A copy asked for and not received is asked again after 30s, or when the
// port to that member reopens; at most 16 are asked of one member, 1,024
// in all. A member may ask for 16 copies on one port; they are made off
// the port's reader (2 at once over all ports), so a port keeps being
// served while a copy is made.
//
// # Forks
//
// A profile written from two places (another device, an old backup)
// signs two histories of a book; the member holding one proves it
// (replication's forked) and follows that book no further. The author then
// goes on in a successor, "${self}-${member}-${task}.${gen}": it finds the
// last length both histories agree on (askroots and roots on the room
// channel), writes the successor with a genesis that cites it, copies the
// log's messages the member lacks into it, renumbered past every message
// the member holds, and announces it (successor). The member follows it
// only if the book it continues forked there and the cited root is its
// own; it then reads the author's messages from both books, each once
// (successor.go).
//
// # Mirrors and delivery status
//
// A profile pins its books to members to the mirrors of Config.Mirrors and
// reads its members' books through them while they are offline
// (mirrors.go). A message of this profile goes: saved (in its log) → on a
// mirror → delivered → read. "On a mirror" is a receipt, not a guess: the
// mirror signs "book K held up to length L, root R" with its identity key
// (package held, channel port.ChannelHeld of the port to it); the profile
// takes it only if the signature is that mirror's and R is its own tree
// hash at L (vouch.go), and shows, per member, the highest of its messages
// a mirror vouches for and which mirror (MemberInfo.Mirrored, .Vouches;
// EventReceipt with State "mirror"). The page counts a message on a mirror
// when every member's copy is. Delivered and read are the members' own
// receipts (receipt.go): on the port to the author while both are online
// (at most one per Config.ReceiptGap, 100ms, to an author in a task: a
// burst of messages is acknowledged together),
// and otherwise in a receipt page (type "receipt", receiptpage.go) the
// member writes into its own books of the task, so it reaches the author
// through the mirrors like any page, sealed, though the two are never
// online together. A member writes at most one receipt page per task per
// Config.ReceiptEvery (2s), and only when it holds or read more of an
// author's messages other than receipt pages than its last one said: a
// receipt page never calls for another, so pages never answer pages. Every
// member of the task reads a receipt page (each author's position is in
// it); the author takes its own entry (MemberInfo.Received, .Read,
// EventReceipt), renumbered and capped as a wire receipt; the timeline and
// EventMessage never show one. At open, the last receipt pages are found
// again in the books' last pages: nothing else is stored.
//
// # Restore from the seed alone
//
// A profile restored from its recovery code (Config.Restore: the seed, no
// books) has lost its private books ("tasks", its logs), but each member
// still holds its book to that member and its own book to it, and dials it
// as soon as it is online (same peer id). So the restoring profile
// (restore.go):
//
//  1. records {"op":"restoring"} in its new tasks book (a reload keeps
//     restoring) and writes nothing to a shared book from then on: a
//     message, a task, a join or a pairing book that is not back yet fail
//     with ErrRestoring ("restoring: waiting for your peers");
//  2. sends {v: 2, type: "restore"} first on every port that opens (a
//     member's port, which is a stranger's until the answer: its digests
//     are kept, not a reason to close it);
//  3. the member (only a member: a stranger may send joins only) answers
//     once per port, on the port's reader, so before anything it says
//     after: a "held" per task they share (id, title, parent, host, its
//     clock, the others it knows, the key of its book to the asker, and
//     the asker's book to it as held here: signed head and pages from 0, in
//     chunks of about 160 KiB), then "restored";
//  4. the asker verifies the whole answer (at most 1,024 tasks and 64 MiB;
//     each head signed by the key its seed derives for
//     "${self}-${member}-${task}", every page proven, the genesis its own,
//     each page its message to that member) or refuses it whole,
//     writing nothing (EventRestore "refused", ErrBadRestore); then
//     imports the books in one write (they come back as its own), records
//     each task, extends the task's log to the longest of its books (page
//     i of the log is page i of a book with head.to cleared), records the
//     member and follows its book (ensurePair finds this profile's book
//     there, so it creates none), and starts replication on the port: the
//     member's hello (what it holds of this profile's books) waited in the
//     port's sync channel meanwhile, so the first new page is sent as the
//     next of the member's copy;
//  5. once a task is back and every member the answers named has answered
//     (or the user calls FinishRestore), records {"op":"restored"}: writes
//     are allowed, and the first message is the next page of each book its
//     members hold.
//
// After the restore, a port from a member whose pair is incomplete, or
// from a peer that shares no task with this profile and that it is not
// joining through, is still asked first, once per peer while the
// messenger runs (a member offline during the restore gives back its copy
// before any pairing on that port). EventRestore
// reports each step with a RestoreStatus. Left open: a member that holds
// the head but not all the pages of the profile's book cannot give it
// back (nor one it holds forked: its successors are not given back), and
// a pair with a member that never answered is made anew.
//
// # Mirrors
//
// A profile reads its members' books through every mirror of
// Config.Mirrors, and pins the books it writes to MaxPinned (two) of them:
// the first of held.Rank(self, Config.Mirrors) (rendezvous hashing on the
// profile's id, whatever the list's order) that are neither gone nor
// refused. A mirror not reached yet, or whose session ended, is waited for
// 10 × Config.Retry (10 s) before it is gone and the next one ranked takes
// its pins; one that comes back is pinned to again (the one that stood in
// keeps what it was given: replication cannot take a pin back). The rank
// is the one a set of mirrors re-pins by (relay/mirror: each author's
// books on the first two of the rank over the live mirrors), so a book
// lands on the mirrors that keep it whichever connects first, and all
// of a profile's books on the same two. Whatever a mirror serves is verified as from the book's author: a
// copy that fails (a tampered page or head) ends that mirror's session
// and, for 10 minutes, the book is not read through that mirror nor
// anything pinned to it; the other mirrors, and the author when online,
// still serve the book. Any other failure only ends the session, dialled
// again with a back-off. A mirror that is gone is only a status, never an
// error.
// MirrorStatus says, per mirror, whether it is online, gone, pinned to
// (and how many books), why its last session failed and which books it is
// refused; EventMirror reports each change ("online", "offline", "gone",
// "refused" with the task and the verification error).
//
// # Protocol version
//
// Room messages carry "v": RoomVersion (2); version 1 (no version, no
// invite secret) is refused, and its "tm1" invite codes too.
package room
