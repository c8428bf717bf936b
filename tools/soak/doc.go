// Package soak is the native part of the soak test (issue #18): three
// relay nodes on NATS, two mirrors and a dozen native peers (wasm/app
// Apps) in five tasks run a seeded random schedule of messages, replies
// and edits while peers close and reopen, relay nodes and mirrors die and
// come back; at the end every member's timeline of every task must hold
// every acknowledged message once, in the same order as every other
// member's. It is all in TestSoak, which runs only when SOAK_MINUTES is
// set (make soak); SOAK_SEED replays a schedule, SOAK_PEERS sets the
// number of peers (12), SOAK_CLOSED how many may be closed at once (1;
// more makes the mirrors the only way between some members). It writes
// artifacts/soak.md.
package soak
