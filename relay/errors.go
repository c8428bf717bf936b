package relay

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Errors returned by the package (ErrBadFrame is beside the protocol).
var (
	// ErrRefused means the relay did not let the client in: it refused
	// the upgrade (too many connections, shutting down) or closed the
	// connection during the handshake (bad id or signature, timeout). The
	// error says why.
	ErrRefused = errors.New("relay: refused")
	// ErrReplaced means a newer connection proved the same id and the
	// relay closed this one. Reconnecting would replace that one in turn.
	ErrReplaced = errors.New("relay: replaced by a newer connection")
	// ErrClosed means the client was closed with Close.
	ErrClosed = errors.New("relay: client closed")
	// ErrHost means a host name that is not a valid relay host (see
	// ParseHost), in a relay URL or a flag.
	ErrHost = errors.New("relay: bad host")
	// ErrDevtoolsURL means a devtools address the page may not report to
	// (see CheckDevtoolsURL).
	ErrDevtoolsURL = errors.New("relay: devtools URL must be ws:// on loopback (127.0.0.1 or localhost)")
	// ErrRelayURL means a relay node's address the page may not be sent
	// to (see CheckRelayURL).
	ErrRelayURL = errors.New("relay: relay URL must be ws:// or wss:// with a host, and no wildcard, quote, semicolon or space")
)

// Reasons the server sends when it closes a connection.
const (
	reasonReplaced = "replaced"
	reasonShutdown = "shutting down"
)

// A closeError is why the server ends a connection: the websocket status
// and reason it closes with (code 0: close at once, with no close frame,
// as for a client that is not reading), and the reject counted for it ("":
// none).
type closeError struct {
	code   websocket.StatusCode
	reason string
	reject string
	drop   bool // counted in relay_drops_total
}

func (e *closeError) Error() string { return "relay: " + e.reason }

// Causes of a connection's end.
var (
	errShutdown  = &closeError{code: websocket.StatusGoingAway, reason: reasonShutdown}
	errReplaced  = &closeError{code: websocket.StatusPolicyViolation, reason: reasonReplaced}
	errHandshake = &closeError{code: websocket.StatusPolicyViolation, reason: "handshake timeout", reject: RejectTimeout}
	errSlow      = &closeError{reason: "send queue full", drop: true}
	errWriteSlow = &closeError{reason: "write timeout", drop: true}
	errShed      = &closeError{reason: "not reading while the relay's queue is full", drop: true}
	errIdle      = &closeError{reason: "ping not answered", reject: RejectIdle}
	errDone      = errors.New("relay: connection done")
)

// policy returns the cause for closing with status 1008 and reason (cut to
// what a close frame can carry), counted as a reject for the given reason.
func policy(reject, reason string) *closeError {
	const max = 123 // a close frame's payload less the status code
	if len(reason) > max {
		reason = reason[:max]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return &closeError{code: websocket.StatusPolicyViolation, reason: strings.TrimSpace(reason), reject: reject}
}
