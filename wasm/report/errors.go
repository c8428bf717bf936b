package report

import "errors"

// Errors of the protocol and the reporter; test with errors.Is.
var (
	// ErrBadFrame means a frame that does not decode or breaks a bound.
	ErrBadFrame = errors.New("report: bad frame")
	// ErrTooLarge means a frame over MaxFrameSize (or MaxResultSize).
	ErrTooLarge = errors.New("report: frame too large")
	// ErrVersion means an envelope of another protocol version.
	ErrVersion = errors.New("report: unsupported protocol version")
	// ErrRefused means the server closed the connection or answered the
	// hello with something other than a welcome.
	ErrRefused = errors.New("report: refused by the devtools server")
	// ErrUnsupported means a command the peer has no handler for.
	ErrUnsupported = errors.New("report: command not supported by this peer")
)
