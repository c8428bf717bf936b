package relay

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/relay/client"
	"github.com/task-messenger/task-messenger/relay/wire"
)

// Errors returned by the package (ErrBadFrame is beside the protocol).
var (
	// ErrRefused, ErrReplaced and ErrClosed are the client's
	// (package relay/client).
	ErrRefused  = client.ErrRefused
	ErrReplaced = client.ErrReplaced
	ErrClosed   = client.ErrClosed
	// ErrHost means a host name that is not a valid relay host (see
	// ParseHost), in a relay URL or a flag (client.ErrHost).
	ErrHost = client.ErrHost
	// ErrDevtoolsURL means a devtools address the page may not report to
	// (see CheckDevtoolsURL).
	ErrDevtoolsURL = errors.New("relay: devtools URL must be ws:// on loopback (127.0.0.1 or localhost)")
	// ErrRelayURL means a relay node's address the page may not be sent
	// to (see CheckRelayURL).
	ErrRelayURL = client.ErrURL
)

// Reasons the server sends when it closes a connection.
const (
	reasonReplaced = wire.ReasonReplaced
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
