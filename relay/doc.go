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
// # Protocol (version 2)
//
// One websocket per client at /relay, binary messages, each one frame: a
// CBOR array [type, …] (deterministic encoding, journal.DecOptions limits),
// at most MaxFrameSize bytes.
//
//	type  name       direction  body
//	1     challenge  s → c      [1, nonce (32 bytes)]
//	2     hello      c → s      [2, id (32), signature (64), host (text)]: the
//	                            id's key signs "taskmessenger/relay/v2\n" ‖
//	                            host ‖ "\n" ‖ nonce
//	3     welcome    s → c      [3]: registered under id
//	4     send       c → s      [4, to (32), kind, payload]: kind 1 signal, 2 frame
//	5     recv       s → c      [5, from (32), kind, payload]
//	6     watch      c → s      [6, [id …]]: tell me when these come and go
//	7     presence   s → c      [7, id (32), online bool]
//	8     error      s → c      [8, code (text), id (32) or empty, detail (text)]
//
// # Batches
//
// A client may offer the websocket subprotocol
// "taskmessenger.relay.v2.batch" (BatchProtocol; Client does, natively and
// in the browser). A relay that chooses it may put several frames in one
// binary message to the client: frames back to back, a CBOR sequence (RFC
// 8742), at most MaxFrameSize bytes in all, each frame as above and checked
// on its own (DecodeBatch). The relay writes so whatever waits in a
// connection's send queue when its writer runs, presence first as below:
// one websocket message, one socket write, and one message event in a
// browser instead of several. The challenge and the welcome go alone, and
// a client's messages to the relay stay one frame each. Without the
// subprotocol on both sides (an older client or relay) every message is
// one frame.
//
// The hello's host is the host of the URL the client dialled, as a browser
// sends it in Host: lower case, IPv6 in brackets, without the scheme's
// default port ("127.0.0.1:8080", "relay.example.com"); see Host. The
// relay refuses a hello signed for a host it does not answer to, so a
// relay a client was pointed at cannot replay the client's answer to
// another relay and register there under its id. Version 1 (a hello of
// three fields, signed "taskmessenger/relay/v1\n" ‖ nonce, bound to no
// relay) is refused with a close reason that says so.
//
// A connection that does not answer the challenge with a valid hello within
// the handshake timeout is closed. A second connection that proves the same
// id replaces the first (the stale one is closed with "replaced"), so a peer
// that reconnects is never told its id is taken; its watchers see it go
// offline and come back (presence false, then true: even when both changes
// wait for one write, the offline frame is written first), so they drop the
// ports they had with the old session and dial again. Sending to a peer that is
// not connected returns error "offline" with its id; a watch answers at once
// with the current presence of each id, then with every change.
//
// Limits (Limits): frame size, frames and bytes per second per connection
// (token buckets), connections in all and per client address, watched ids
// per connection, a bounded send queue per connection (a client that does
// not read is dropped; one on a slow machine is waited for) with a
// timeout on each socket write, a global budget of queued bytes (a send
// beyond it is refused with error {limit, to, "relay queue full"}, and
// the clients that hold it without reading are dropped) of which the
// clients of one address hold at most a share (MaxQueuedBytesPerIP, an
// eighth by default), and an idle timeout with pings. Bad input closes the connection with a reason
// (websocket status 1008), logged with log/slog.
//
// A client's address is the TCP peer's: behind a reverse proxy, every
// client counts as the proxy's one address, so MaxConnsPerIP and
// MaxQueuedBytesPerIP bound all of them together (raise them there, and
// let the proxy bound each client). No forwarded header is trusted.
//
// # Nodes of a cluster
//
// A Server may be one node of several (SetCluster; package relay/cluster
// joins them over NATS, docs/scale.md). Clients see the same protocol: a
// peer registered on another node is online for its watchers here, a
// send to it is forwarded to its node, and an offline or limit error
// comes back from there as from here. Each node keeps a directory of the
// sessions on the others (RemoteRegistered, RemoteUnregistered,
// RemoteSync, RemoteNodeGone), each session stamped at its registration:
// the newest stamp of an id wins on every node, so a peer that reconnects
// to another node replaces its old session everywhere. A peer's presence
// reaches its watchers before any frame it sends (the writer flushes
// presence noted before a frame; a send forwarded before its sender's
// directory message brings the session). Limits stay per connection and
// per node. A page served by another node may open the relay
// (WithPageHosts).
//
// # Who may connect
//
// The relay is reached under its own names only: 127.0.0.1, localhost and
// [::1] on the listening port, and those given with WithHosts. Handler
// (and CheckHost, for the command's other routes) answers any other Host
// with 421 Misdirected Request: a DNS-rebound name reaches nothing. A
// browser's upgrade must come from a page of one of those names (its
// Origin; 403 otherwise); native clients send no Origin.
//
// The page (StaticHandler) is served with a Content-Security-Policy
// (PageCSP: its own scripts, connections to its origin and to loopback
// devtools only, no framing), nosniff and no referrer. In a cluster the
// page is told the relay nodes (PageConfig.Relays, served live by
// ConfigHandlerFunc) and may connect to them too (PageCSPWith,
// StaticHandlerCSP).
// The page's service worker (/sw.js) is served with the app shell written
// in (Shell: ShellFiles and a version hashed from their contents, ShellOf),
// so a changed file is a new version the browser installs (docs/offline.md).
// The module is served under a hash of its bytes (ModuleName), cached for
// good, and the loader (LoaderFile) with that name written in.
//
// # Wasm
//
// The protocol (package relay/wire) and the client (package relay/client)
// are packages of their own, which the browser links without the server,
// net/http or coder/websocket: the client's websocket in the browser is
// the browser's own (package internal/wsconn). The browser sets Origin and
// Host, and a refused upgrade (403, 421, 429, 503) cannot be told from a
// failed connection. This package re-exports their names (Frame, Client,
// Dial, …) for the server and its tests.
package relay
