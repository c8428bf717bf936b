// Package wsconn is the websocket the relay's client and the devtools
// reporter dial: coder/websocket natively, the browser's WebSocket under
// js/wasm, where coder/websocket's build links net/http (some 400 KB of
// the module, gzip).
//
// # Wasm
//
// The browser sets Origin and Host; a refused upgrade cannot be told from
// a failed connection (no *RefusedError); messages are received as they
// come (the browser does not stop reading: a reader that falls behind
// holds them in memory); a write never waits; and Close sends only the
// codes a page may send (1000 and 3000–4999), other codes close with no
// code.
package wsconn

import "fmt"

// MessageType is a message's kind.
type MessageType int

// Message types (as in the websocket protocol and coder/websocket).
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

// StatusCode is a close frame's status.
type StatusCode int

// Close statuses used here.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusPolicyViolation StatusCode = 1008
	StatusMessageTooBig   StatusCode = 1009
)

// A RefusedError is an upgrade the server answered with another HTTP
// status (natively only).
type RefusedError struct {
	Status string // "503 Service Unavailable"
	Body   string // the answer's body, trimmed
}

func (e *RefusedError) Error() string { return fmt.Sprintf("%s: %s", e.Status, e.Body) }
