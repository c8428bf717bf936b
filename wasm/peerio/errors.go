package peerio

import "errors"

// Errors of peerio. A port's are wrapped in the reason it closed (Err,
// and what Send and Recv return after it closed).
var (
	// ErrSelf means At was asked for this peer's own id.
	ErrSelf = errors.New("peerio: cannot connect to itself")
	// ErrOffline means this peer is not online (call On first).
	ErrOffline = errors.New("peerio: network must be online")
	// ErrBusy means an offer from a peer this end did not ask for was
	// refused: MaxStrangerPorts such ports are open already, or such
	// offers come faster than StrangerOffers. At returns it when the peer
	// refused this end's offer so (a busy envelope): try again later.
	ErrBusy = errors.New("peerio: too many ports from unknown peers")
	// ErrHandshake means a peer's offer or answer failed verification.
	ErrHandshake = errors.New("peerio: handshake failed")
	// ErrTooLarge means a message over MaxMessage.
	ErrTooLarge = errors.New("peerio: message too large")
	// ErrBadFrame means a frame that does not open, or breaks the framing
	// (an oversized frame, an unknown flag).
	ErrBadFrame = errors.New("peerio: bad frame")
	// ErrOverflow means a peer made this end hold more than a limit
	// allows: frames ahead of sequence, a stranger's messages past
	// MaxStrangerBuffer or MaxStrangerTotal, or messages not read.
	ErrOverflow = errors.New("peerio: receive buffer full")
)
