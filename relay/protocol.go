package relay

import "github.com/task-messenger/task-messenger/relay/wire"

// The protocol lives in package relay/wire, which the browser links
// without the server; these names are the server's and its users'.

// Version is the relay protocol version (wire.Version).
const Version = wire.Version

// Bounds of a frame (package wire).
const (
	MaxFrameSize = wire.MaxFrameSize
	MaxPayload   = wire.MaxPayload
	MaxWatch     = wire.MaxWatch
)

// FrameType is the first element of every frame.
type FrameType = wire.FrameType

// Frame types.
const (
	FrameChallenge = wire.FrameChallenge
	FrameHello     = wire.FrameHello
	FrameWelcome   = wire.FrameWelcome
	FrameSend      = wire.FrameSend
	FrameRecv      = wire.FrameRecv
	FrameWatch     = wire.FrameWatch
	FramePresence  = wire.FramePresence
	FrameError     = wire.FrameError
)

// Kind says what a send carries.
type Kind = wire.Kind

// Kinds of payload.
const (
	KindSignal = wire.KindSignal
	KindFrame  = wire.KindFrame
)

// Error codes sent in error frames, and the detail of a full queue.
const (
	CodeOffline     = wire.CodeOffline
	CodeLimit       = wire.CodeLimit
	CodeBadFrame    = wire.CodeBadFrame
	DetailQueueFull = wire.DetailQueueFull
)

// ErrBadFrame means a frame that does not decode or breaks a bound.
var ErrBadFrame = wire.ErrBadFrame

// A Frame is one decoded frame.
type Frame = wire.Frame

// HelloMessage is what a client signs to prove its id to the relay at
// host (wire.HelloMessage).
func HelloMessage(host Host, nonce []byte) []byte { return wire.HelloMessage(host, nonce) }

// Encode encodes f (wire.Encode).
func Encode(f *Frame) ([]byte, error) { return wire.Encode(f) }

// Decode decodes a frame from the wire, checking every size (wire.Decode).
func Decode(b []byte) (*Frame, error) { return wire.Decode(b) }
