package devtools

import "errors"

// Errors of the API and of peer connections; test with errors.Is.
var (
	// ErrUnknownPeer means no peer with that id has reported (HTTP 404).
	ErrUnknownPeer = errors.New("devtools: unknown peer")
	// ErrUnknownBook means no peer has reported a book with that key (HTTP 404).
	ErrUnknownBook = errors.New("devtools: unknown book")
	// ErrOffline means the peer is not connected, so it cannot run a command (HTTP 409).
	ErrOffline = errors.New("devtools: peer not connected")
	// ErrBadQuery means a query parameter or body that does not parse (HTTP 400).
	ErrBadQuery = errors.New("devtools: bad request")
	// ErrNoProof means the server holds no proof of that page (HTTP 404).
	ErrNoProof = errors.New("devtools: no proof held for that page")
	// ErrTimeout means the peer did not answer a command in time (HTTP 504).
	ErrTimeout = errors.New("devtools: the peer did not answer in time")
	// ErrCommand means the peer answered a command with an error (HTTP 502).
	ErrCommand = errors.New("devtools: the peer refused the command")
	// ErrClosed means the server is closed.
	ErrClosed = errors.New("devtools: server closed")
)
