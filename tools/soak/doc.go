// Package soak is the soak test (issue #18): three relay nodes on NATS,
// two mirrors, a dozen native peers (wasm/app Apps) and six tabs of
// headless Chromium (four profiles: one in two tabs, one on two linked
// devices) in five tasks run a seeded random schedule of messages,
// replies and edits while peers close and reopen, tabs close or their
// renderers crash, relay nodes and mirrors die and come back; at the end
// every member's timeline of every task (every tab's and device's) must
// hold every acknowledged message once, in the same order as every other
// member's. It is all in TestSoak, which runs only when SOAK_MINUTES is
// set (make soak, inside a network namespace for WebRTC); SOAK_SEED
// replays a schedule, SOAK_PEERS sets the number of native peers (12;
// make soak: 20), SOAK_CLOSED how many may be closed at once (1; more
// makes the mirrors the only way between some members), SOAK_WEB=0
// leaves the browsers out. A failure prints the make soak line that
// replays it. It writes artifacts/soak.md.
package soak
