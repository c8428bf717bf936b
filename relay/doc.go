// Package relay is the signaling relay: a small websocket server
// (coder/websocket) that peers register with under their peer id, and its
// Go client, which builds natively and for js/wasm. It also serves the page
// (StaticHandler).
//
// The relay routes three things between registered peers and never sees
// content: signaling envelopes (WebRTC offers, answers and candidates,
// signed end to end by the peers), presence (who is online), and fallback
// frames (a port's traffic when a data channel cannot open, encrypted end
// to end by the peers).
//
// # Protocol (version 1)
//
// One websocket per client at /relay, binary messages, each one frame: a
// CBOR array [type, …] (deterministic encoding, journal.DecOptions limits),
// at most MaxFrameSize bytes.
//
//	type  name       direction  body
//	1     challenge  s → c      [1, nonce (32 bytes)]
//	2     hello      c → s      [2, id (32), signature (64)]: the id's key signs
//	                            "taskmessenger/relay/v1\n" ‖ nonce
//	3     welcome    s → c      [3]: registered under id
//	4     send       c → s      [4, to (32), kind, payload]: kind 1 signal, 2 frame
//	5     recv       s → c      [5, from (32), kind, payload]
//	6     watch      c → s      [6, [id …]]: tell me when these come and go
//	7     presence   s → c      [7, id (32), online bool]
//	8     error      s → c      [8, code (text), id (32) or empty, detail (text)]
//
// A connection that does not answer the challenge with a valid hello within
// the handshake timeout is closed. A second connection that proves the same
// id replaces the first (the stale one is closed with "replaced"), so a peer
// that reconnects is never told its id is taken. Sending to a peer that is
// not connected returns error "offline" with its id; a watch answers at once
// with the current presence of each id, then with every change.
//
// Limits (Limits): frame size, frames and bytes per second per connection
// (token buckets), connections, watched ids per connection, a bounded send
// queue per connection with a short write timeout (a slow client is dropped,
// never waited for), and an idle timeout with pings. Bad input closes the
// connection with a reason (websocket status 1008), logged with log/slog.
package relay
