// Package app is one open profile's messenger, natively testable: an App
// owns the profile (vault.Profile: its store and journal), the relay
// connection (peerio.IO), the rooms (room.Messenger) and the devtools
// reporter (report.Reporter), all under one root context. The browser's
// JS API (package jsapi) only converts between JavaScript and an App.
//
// # Lifecycle
//
// Start opens the messenger on the profile and returns at once: tasks and
// timelines are readable while it goes online in the background, trying
// again after a failure (250 ms, doubling up to 5 s) until it succeeds or
// the App closes; joins and dials wait until it is online. Its own
// connection state (State) is also sent to subscribers as a 'peer' event
// for the own id: "online", "offline" (trying again), "replaced" (another
// tab or window opened the profile and writes it: the messenger, the
// relay connection and the reporter stop, and calls fail with ErrStopped).
// Recover (a recovery code, into an empty profile) makes the profile a
// new device of the code's identity (a holder certificate, vault.Link),
// and goes online as the identity too while the messenger recalls the
// person's tasks from the members that dial it (room.Messenger.Recall).
// Import stops the messenger, imports, and starts it again; a restore of
// another identity (an import with a passphrase into an empty profile)
// changes ID, taking the new id (Config.Take) and releasing the old one.
// Link (a pairing code, into an empty profile) makes the profile a new
// device of the person whose device shows the code: the messenger stops,
// the profile claims the code on a relay connection of its own, stores the
// certificate it is given (vault.Link) and starts again as that device
// (room.Config.Device, and the link bundle once: room.Config.Link). Every
// start of a linked profile passes its device. LinkDevice shows such a code
// on a device that holds the identity key: a second relay connection, as
// the code's rendezvous key, serves it until it is spent, expires, another
// code replaces it or the App closes ('link' events).
// Close cancels every call in flight (the ctx each call runs under derives
// from both the caller's and the App's root context) and waits for them,
// stops everything, releases the id and closes the profile; Reset closes
// and deletes the storage. Devtools' commands (import, reset) go through
// the same methods.
//
// # Events
//
// Subscribe's functions get every Event in order; the first subscriber
// also gets those before it (at most 4096), so none is lost between Start
// and Subscribe. An Event's JSON is what the page's app.on hooks receive.
//
// # Do: the JS API as JSON calls
//
// Do(ctx, method, args) is one call of the page's app object: method is
// the JS method's name (createTask, rename, invite, revokeInvite, join,
// send, sendMany, timeline, tasks, members, mirrors, export, import, reset,
// recoveryCode, recover, restoreStatus, finishRestore, linkDevice, link,
// devices, revokeDevice, person), args
// the JSON of its arguments as JSON.stringify([...arguments]) writes them
// (a Date becomes an ISO string, undefined null), and the result the JSON
// of what its Promise resolves to (nil for undefined). It accepts what the
// JS API accepts, with its error texts: invite's expires as Unix ms or an
// ISO date; send's replyTo as a message id or a message; join's timeout in
// ms (an AbortSignal is the caller's ctx); import's json as an object or
// its text. Everything in args is untrusted: at most MaxArgs bytes (an
// import at most MaxImport), every type checked (ErrBadArgs with the JS
// API's text), an unknown method is ErrUnknownMethod, and nothing panics
// (FuzzDo).
package app
