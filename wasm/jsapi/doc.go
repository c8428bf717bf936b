// Package jsapi exposes the module to JavaScript, shaped like the seed's
// DB.js: tm.DB(seed, opts) and tm.vault({ name }) give a db with
// author(name), reader(key), on(hook), books(), export({ passphrase }),
// import(json), reset() (a passphrase seals the seed into the export:
// package backup; app.import(json, { passphrase }) restores it); a book has key, name, add(x), get(i), len(), version(), on(fn).
// tm.IO(alias, seed, { relay, webrtc }) gives { id, on(handler), at(id, { timeout
// }) }, whose ports are { by, to, postMessage(x), onmessage, onclose,
// close() }; the vault's profile has an io too, whose ports also replicate
// the profile's books (a replication session on the port's sync channel).
// Ports run through the relay, encrypted end to end; with { webrtc: true }
// (tm.IO or tm.vault) they move to a WebRTC data channel when one opens.
// Every method that touches storage returns a Promise; every Go error
// reaches JavaScript as a rejected Promise with an Error. Pages are JSON
// values, as in the seed; page 0 of every book is its genesis, read back as
// { type: 'genesis', author, key, name }.
//
// tm.open({ profile, relay, devtools, webrtc, storage, recover, link,
// label }) gives the
// messenger of a profile: an app.App (package app holds all its logic).
// Each method of the JS app object is one call of app.App.Do: its
// arguments as JSON.stringify([...arguments]), its result JSON.parse'd
// (join's AbortSignal becomes the call's ctx instead); app.on hooks get
// app.Event values, in order, in batches. The object calls the App through
// the small service interface, so something else can stand behind it (a
// tab that forwards its calls to the profile's writer).
//
// Relay nodes: without a relay option, tm.open goes online at the page's
// own origin (/relay) and takes the other nodes of its relay cluster from
// the relays of /config.json (ws:// or wss:// URLs; others are ignored):
// when its node dies, every connection of the app (the profile's, a
// pairing's, a recall's) moves to the next node that answers, and its
// ports to peers reopen (app.Config.Relays, peerio.Config.Relays). An
// explicit relay option means that relay only. tm.IO uses its relay only.
//
// tm.vault and tm.DB on IndexedDB join the profile's tabs too (package
// tabs), as partial tabs (tabs.Config.Partial): their db object calls
// package dbcall's methods ("db.books", "db.add"…) through the tab, which
// carries them out here while this page writes the profile, and otherwise
// sends them to the tab that does (a messenger's app.App, or another such
// page); its hooks get the writer's book events. db.role() says 'writer'
// or 'follower'. Alone, such a page writes the profile; a messenger tab
// opened later takes it over (this page gives the lock up and follows).
// A follower's db.reset() and the vault's io refuse, saying why; the io
// of a vault that writes the profile ends when it gives the profile up.
// tm.DB refuses a profile another tab writes under another identity.
//
// Restore from a recovery code: app.recoveryCode() gives the profile's
// seed as a printable code (the whole identity); tm.open({ profile,
// recover: code, … }) on an empty profile makes it a new device of that
// person (app.id stays this device's, app.person() is the identity) and
// recalls its tasks from the members that dial the identity
// (app.recover(code) does the same on an open app; docs/devices.md).
// app.restoreStatus() says where it stands, app.on('restore', fn) reports
// each answer, and app.finishRestore() stops recalling.
//
// Devices (docs/devices.md): app.linkDevice({ label }) shows a pairing
// code, resolving to { code, qr, expires } (qr a data: URL of a PNG,
// expires Unix ms), and app.on('link', fn) follows it ({ state: 'waiting'
// | 'linked' | 'failed', device, label, error }); tm.open({ profile, link:
// code, label, timeout, signal }) on an empty profile links it as a new
// device of that person (app.App.Link; timeout in ms, 2 minutes by
// default; the AbortSignal ends the wait), and so does app.link(code, {
// label, timeout, signal }) on an open app (resolving to the person). app.person() resolves to the
// person's id (app.id is the device's: a method, not a property, so that a
// follower tab asks the writer), app.devices() to [{ id, label, created,
// self, holder, online, revoked, revokedBy }], app.revokeDevice(id) revokes
// one, and app.on('device', fn) gets { peer: the person, device, state:
// 'added' | 'revoked' }. app.members(task) entries carry each member's
// person and label as the room gives them.
//
// It is js/wasm only and holds no logic of its own: it converts arguments,
// calls the journal, vault, replication and app packages, and converts
// results.
package jsapi
