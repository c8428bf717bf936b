// Package wire is the relay protocol: the frames a client and the relay
// exchange, each one CBOR array over a binary websocket message (see
// package relay's documentation for the exchange). It is what the
// browser links of the relay, with package relay/client.
package wire

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/task-messenger/task-messenger/relay/hostname"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Version is the relay protocol version. Version 2 binds the hello to the
// relay: it names the host the client dialled, and signs it.
const Version = 2

// MaxFrameSize bounds every frame, both ways (tailscale's DERP uses 64 KiB).
const MaxFrameSize = 64 << 10

// MaxPayload bounds the payload of a send: the frame less its header.
const MaxPayload = MaxFrameSize - 128

// FrameType is the first element of every frame.
type FrameType uint8

// Frame types.
const (
	FrameChallenge FrameType = 1
	FrameHello     FrameType = 2
	FrameWelcome   FrameType = 3
	FrameSend      FrameType = 4
	FrameRecv      FrameType = 5
	FrameWatch     FrameType = 6
	FramePresence  FrameType = 7
	FrameError     FrameType = 8
)

// Kind says what a send carries.
type Kind uint8

// Kinds of payload.
const (
	KindSignal Kind = 1 // a signed signaling envelope (WebRTC offer, answer, candidate)
	KindFrame  Kind = 2 // an encrypted fallback frame of a port
)

// A Host is a name the relay answers to (package hostname): the hello
// names the one the client dialled.
type Host = hostname.Host

// ReasonReplaced is the reason of the close frame with which the relay
// ends a connection when a newer one proves the same id.
const ReasonReplaced = "replaced"

// Error codes sent in error frames.
const (
	CodeOffline  = "offline"  // the peer sent to is not connected
	CodeLimit    = "limit"    // a limit was hit (the detail says which)
	CodeBadFrame = "badframe" // the frame could not be used
)

// DetailQueueFull is the detail of the error {CodeLimit, to} that refuses
// a send while the relay's queue budget (Limits.MaxQueuedBytes) is spent.
const DetailQueueFull = "relay queue full"

// ErrBadFrame means a frame that does not decode or breaks a bound.
var ErrBadFrame = errors.New("relay: bad frame")

// MaxWatch is the most ids one watch frame may list.
const MaxWatch = 1024

// A Frame is one decoded frame; which fields are set depends on Type.
type Frame struct {
	Type    FrameType
	Nonce   []byte      // challenge
	ID      identity.ID // hello (own id), send (to), recv (from), presence, error
	Sig     []byte      // hello
	Host    Host        // hello: the relay the client dialled, as signed
	Kind    Kind        // send, recv
	Payload []byte      // send, recv
	IDs     []identity.ID
	Online  bool   // presence
	Code    string // error
	Detail  string // error
}

const helloContext = "taskmessenger/relay/v2\n"

// HelloMessage is what a client signs to prove its id to the relay at
// host (the host of the URL it dialled, as Host.String gives it): the
// context "taskmessenger/relay/v2\n", the host, a newline, and the
// server's nonce (32 bytes). A relay accepts only a host it answers to, so
// a relay the client was pointed at cannot replay the answer to another.
func HelloMessage(host Host, nonce []byte) []byte {
	b := make([]byte, 0, len(helloContext)+len(host.String())+1+len(nonce))
	b = append(b, helloContext...)
	b = append(b, host.String()...)
	b = append(b, '\n')
	return append(b, nonce...)
}

var encMode, decMode = journal.Codec(MaxWatch + 8)

// Encode encodes f.
func Encode(f *Frame) ([]byte, error) {
	var v []any
	switch f.Type {
	case FrameChallenge:
		v = []any{f.Type, f.Nonce}
	case FrameHello:
		if f.Host.IsZero() {
			return nil, fmt.Errorf("%w: hello without a host", ErrBadFrame)
		}
		v = []any{f.Type, f.ID[:], f.Sig, f.Host.String()}
	case FrameWelcome:
		v = []any{f.Type}
	case FrameSend, FrameRecv:
		v = []any{f.Type, f.ID[:], f.Kind, f.Payload}
	case FrameWatch:
		ids := make([][]byte, len(f.IDs))
		for i := range f.IDs {
			ids[i] = f.IDs[i][:]
		}
		v = []any{f.Type, ids}
	case FramePresence:
		v = []any{f.Type, f.ID[:], f.Online}
	case FrameError:
		var id []byte
		if !f.ID.IsZero() {
			id = f.ID[:]
		}
		v = []any{f.Type, f.Code, id, f.Detail}
	default:
		return nil, fmt.Errorf("relay: encode: unknown frame type %d", f.Type)
	}
	b, err := encMode.Marshal(v)
	if err == nil && len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadFrame, len(b), MaxFrameSize)
	}
	return b, err
}

// Decode decodes a frame from the wire, checking every size.
func Decode(b []byte) (*Frame, error) {
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadFrame, len(b), MaxFrameSize)
	}
	var raw []cbor.RawMessage
	if err := decMode.Unmarshal(b, &raw); err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("%w: not a frame", ErrBadFrame)
	}
	var t FrameType
	if err := decMode.Unmarshal(raw[0], &t); err != nil {
		return nil, fmt.Errorf("%w: frame type", ErrBadFrame)
	}
	f := &Frame{Type: t}
	if t == FrameHello && len(raw) == 3 {
		return nil, fmt.Errorf("%w: a hello of relay protocol version 1; this relay speaks version %d (update the client)", ErrBadFrame, Version)
	}
	want := map[FrameType]int{FrameChallenge: 2, FrameHello: 4, FrameWelcome: 1, FrameSend: 4, FrameRecv: 4, FrameWatch: 2, FramePresence: 3, FrameError: 4}[t]
	if want == 0 || len(raw) != want {
		return nil, fmt.Errorf("%w: type %d with %d fields", ErrBadFrame, t, len(raw))
	}
	field := func(i int, v any) error {
		if err := decMode.Unmarshal(raw[i], v); err != nil {
			return fmt.Errorf("%w: type %d field %d: %v", ErrBadFrame, t, i, err)
		}
		return nil
	}
	id := func(i int) (identity.ID, error) {
		var b []byte
		if err := field(i, &b); err != nil {
			return identity.ID{}, err
		}
		if len(b) != identity.IDSize {
			return identity.ID{}, fmt.Errorf("%w: id of %d bytes", ErrBadFrame, len(b))
		}
		return identity.ID(b), nil
	}
	var err error
	switch t {
	case FrameChallenge:
		if err = field(1, &f.Nonce); err == nil && len(f.Nonce) != 32 {
			err = fmt.Errorf("%w: nonce of %d bytes", ErrBadFrame, len(f.Nonce))
		}
	case FrameHello:
		if f.ID, err = id(1); err == nil {
			if err = field(2, &f.Sig); err == nil && len(f.Sig) != identity.SignatureSize {
				err = fmt.Errorf("%w: signature of %d bytes", ErrBadFrame, len(f.Sig))
			}
			var host string
			if err == nil {
				err = field(3, &host)
			}
			if err == nil {
				if f.Host, err = hostname.ParseHost(host); err != nil || f.Host.String() != host {
					err = fmt.Errorf("%w: hello host %q is not a canonical host", ErrBadFrame, clip(host, 64))
				}
			}
		}
	case FrameSend, FrameRecv:
		if f.ID, err = id(1); err == nil {
			if err = field(2, &f.Kind); err == nil {
				if f.Kind != KindSignal && f.Kind != KindFrame {
					err = fmt.Errorf("%w: kind %d", ErrBadFrame, f.Kind)
				} else {
					err = field(3, &f.Payload)
				}
			}
		}
	case FrameWatch:
		var ids [][]byte
		if err = field(1, &ids); err == nil {
			if len(ids) > MaxWatch {
				err = fmt.Errorf("%w: watch of %d ids", ErrBadFrame, len(ids))
			}
			for _, b := range ids {
				if len(b) != identity.IDSize {
					err = fmt.Errorf("%w: id of %d bytes", ErrBadFrame, len(b))
					break
				}
				f.IDs = append(f.IDs, identity.ID(b))
			}
		}
	case FramePresence:
		if f.ID, err = id(1); err == nil {
			err = field(2, &f.Online)
		}
	case FrameError:
		var b []byte
		if err = field(1, &f.Code); err == nil {
			if err = field(2, &b); err == nil && len(b) > 0 {
				if len(b) != identity.IDSize {
					err = fmt.Errorf("%w: id of %d bytes", ErrBadFrame, len(b))
				} else {
					f.ID = identity.ID(b)
				}
			}
			if err == nil {
				err = field(3, &f.Detail)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// clip cuts s to at most n bytes for errors.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
