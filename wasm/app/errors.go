package app

import "errors"

// Errors of the App. Errors of the packages it calls (room, journal,
// backup, vault) are returned wrapped, so errors.Is finds them too.
var (
	// ErrClosed: the App was closed (Close or Reset), or closed while the
	// call was in flight.
	ErrClosed = errors.New("this app is closed")
	// ErrStopped: the messenger is stopped because another tab or window
	// opened the profile and writes it now (State "replaced").
	ErrStopped = errors.New("this app is stopped: the profile was opened in another tab or window")
	// ErrUnknownMethod: Do was asked for a method the JS API does not have.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrBadArgs: Do's arguments are not a JSON array, are too large, or
	// an argument has the wrong type.
	ErrBadArgs = errors.New("bad arguments")
	// ErrNoIdentity: this device was linked and does not hold the identity
	// key: its recovery code is on the person's first device.
	ErrNoIdentity = errors.New("this device does not hold your identity key: your recovery code is shown on your first device")
	// ErrLinkTimeout: no device showing the pairing code answered in time
	// (is it still shown, and was its first half typed right?).
	ErrLinkTimeout = errors.New("no device showing this pairing code answered in time: check that it is still shown and that the code was typed right")
	// ErrQuota: the browser's storage for this site is full; nothing of
	// the call was written (storage.go). Its JS error is named
	// QuotaExceededError.
	ErrQuota = errors.New("storage is full: free space by forgetting tasks")
)
