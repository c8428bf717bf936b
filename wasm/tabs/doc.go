// Package tabs makes one tab of a profile its writer and every other tab
// of the same profile a follower that works through it.
//
// A browser user opens the same profile in several tabs (a duplicated tab,
// a second window, the debug page beside the messenger). Two tabs writing
// the profile's books from their own heads would fork them, so exactly one
// tab — the one holding the profile's exclusive lock (navigator.locks in a
// browser) — opens the profile's storage and goes online: the writer. The
// others are followers: each of their calls is carried to the writer over
// the profile's bus (a BroadcastChannel in a browser) and answered there,
// and the writer's events are broadcast to them, so every tab shows the
// same tasks and timelines live and can do everything.
//
// # The bus protocol
//
// Every message is one JSON object, an envelope {t, from, to, ...}: t is
// its kind, from the sending tab's id (random, per tab) and to the tab it
// is for ("" for every tab).
//
//	hello  {partial}                   a follower looks for the writer, and checks it is alive (every Config.Ping)
//	pong   {peer, state, partial}      the writer answers hello: the profile's id and connection state
//	writer {peer, state, partial}      a tab became the writer (sent to every tab)
//	yield  {}                          a full tab asks a partial writer to give the profile up
//	call   {id, method, args}          a follower's call (App.Do's method and JSON arguments)
//	cancel {id}                        the follower gave up on the call
//	reply  {id, result | error}        the writer's answer
//	event  {event}                     an event of the writer's App, for every tab
//
// # Partial tabs
//
// A page that opens a profile for its db alone (tm.vault, tm.DB: the
// debug page) is a partial tab (Config.Partial): its service carries out
// the db calls only (package dbcall), not the messenger's. As a follower
// it works like any other. As the writer it says so (partial in its pong
// and writer messages): a full tab (tm.open) sends it no call — its calls
// wait — and asks it to yield, at each pong until it does. The partial
// writer then closes the profile, releases the lock, which the full tab
// is waiting for, and follows that tab; the full tab opens the profile
// (fencing any late write of the old writer) and takes its calls over.
// So a messenger opened beside the debug page always works, and the
// profile is never open twice. A db.add in flight at such a hand-over
// fails with ErrWriterGone, as a createTask does.
//
// The writer's events of type "book" (changes to the profile's books,
// package dbcall) are for partial tabs only: a BroadcastChannel post costs
// the writer about as much as the append it tells of, so the writer posts
// them only while a partial tab follows it (its last hello, which says
// partial, is less than three pings old). A partial tab's hooks may miss
// the changes of the first ping after a hand-over.
//
// # Hand-over
//
// When the writer tab closes or crashes, the browser releases its lock and
// the next tab waiting for it becomes the writer: it opens the profile
// (which fences the old writer: journal.Fence) and announces itself. A
// follower sends its calls in flight again to the new writer: reads and
// calls that are harmless to repeat (rename, invite, join, import…) as
// they are, and a send with the same nonce and retry set, so the new
// writer writes it only if the old one had not (room.SendOnce). A call
// that is not safe to repeat (createTask, sendMany, reset) fails with
// ErrWriterGone, which says it may or may not have been done.
//
// A writer that is frozen rather than gone (the browser suspended a
// background tab, which keeps its lock) must not block the others: a
// follower whose hello is unanswered for Config.Patience takes the lock
// from it (steal). Chromium still delivers a frozen page's BroadcastChannel
// messages, and Go runs for each (its own timers fire then too), but the
// page's storage, network and browser timers stand still: a writer whose
// browser timer has not fired lately (Config.Awake) knows it is frozen, and
// answers no hello and takes no call — a call it started would hold
// IndexedDB locks the next writer waits for. When the frozen tab wakes up
// it finds its lock lost and becomes a follower; a write it had started
// fails (journal.ErrStaleWriter, the writer epoch moved on) instead of
// forking the profile. A background tab's timers are slowed (once a
// second; once a minute after minutes hidden), so a follower may take the
// profile from a long-hidden writer: that costs a reopen, never a message.
package tabs
