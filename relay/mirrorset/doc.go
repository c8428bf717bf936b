//go:build !js

// Package mirrorset keeps the set of live mirrors over NATS (issue #15):
// each mirror announces itself (Announce), and anyone on the NATS, a
// mirror or a relay that is none, follows the set (Watch).
//
// # Subjects and messages
//
// A mirror publishes on SubjectAnnounce every Config.Every (1 s) and once
// on SubjectLeave when it closes. Both carry one JSON object:
//
//	{"v":1,"id":"<64 hex: the mirror's peer id>","at":<Unix ms, its clock>,"sig":"<128 hex>"}
//
// sig is the mirror's ed25519 signature, with its identity key, of
// Context, the subject's kind ("announce" or "leave"), a newline, the id
// (32 bytes) and at (8 bytes, big endian): an announcement names only the
// mirror that signed it, and is never mistaken for a leave. A watcher
// takes a message only within MaxMessage bytes, of Version, whose id is a
// valid key, at > 0 and signature good; anything else is dropped and
// counted (Stats.Bad). It takes a mirror's messages in the order of at:
// one no newer than the last it took from that id is dropped (a replay,
// or a leave older than a restart's first announcement). At most
// MaxMirrors are live; announcements of more are dropped (Stats.Full).
//
// # Liveness
//
// A mirror is live from its first announcement until its leave, or until
// Config.Every × 3 passed without an announcement (a mirror killed). The
// watcher judges silence only while its NATS connection is up: while it
// is down the set stays as last known, and when it comes back every
// mirror has 3 × Every again to be heard. Config.OnChange is told each
// new set (sorted), from a goroutine of the watcher's, one call at a
// time (changes meanwhile coalesced into the latest set).
package mirrorset
