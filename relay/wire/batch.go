package wire

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// BatchProtocol is the websocket subprotocol a client offers to take
// batches: with it agreed, a binary message from the relay holds one or
// more frames back to back (a CBOR sequence), at most MaxFrameSize bytes
// in all. A client that does not offer it (or a relay that does not
// choose it) gets one frame per message, as before.
const BatchProtocol = "taskmessenger.relay.v2.batch"

// SendRecvHeader is the most bytes a send or recv frame holds besides its
// payload: the array, type, id and kind, and the payload's length.
const SendRecvHeader = 1 + 1 + 2 + identity.IDSize + 1 + 3

// AppendSendRecv appends the encoding of a send or recv frame (t) to dst,
// byte for byte what Encode gives, without reflection. payload is at most
// MaxPayload bytes.
func AppendSendRecv(dst []byte, t FrameType, id identity.ID, kind Kind, payload []byte) []byte {
	dst = append(dst, 0x84, byte(t), 0x58, identity.IDSize)
	dst = append(dst, id[:]...)
	dst = append(dst, byte(kind))
	switch n := len(payload); {
	case payload == nil:
		return append(dst, 0xf6) // as Encode writes a nil byte string
	case n < 24:
		dst = append(dst, 0x40|byte(n))
	case n < 1<<8:
		dst = append(dst, 0x58, byte(n))
	default:
		dst = append(dst, 0x59, byte(n>>8), byte(n))
	}
	return append(dst, payload...)
}

// ParseSendRecv reads a send or recv frame at the start of b in the form
// AppendSendRecv writes (shortest lengths), without copying: payload is a
// part of b. n is the frame's length; ok is false if b does not start with
// such a frame (Decode may still take it).
func ParseSendRecv(b []byte) (t FrameType, id identity.ID, kind Kind, payload []byte, n int, ok bool) {
	const at = 1 + 1 + 2 + identity.IDSize + 1 // the payload's head
	if len(b) < at+1 || b[0] != 0x84 || b[1] != byte(FrameSend) && b[1] != byte(FrameRecv) ||
		b[2] != 0x58 || b[3] != identity.IDSize || b[at-1] != byte(KindSignal) && b[at-1] != byte(KindFrame) {
		return 0, id, 0, nil, 0, false
	}
	t, id, kind = FrameType(b[1]), identity.ID(b[4:4+identity.IDSize]), Kind(b[at-1])
	h, size := b[at], 0
	switch {
	case h == 0xf6:
		return t, id, kind, nil, at + 1, true
	case h >= 0x40 && h < 0x58:
		n, size = at+1, int(h&0x1f)
	case h == 0x58 && len(b) > at+1 && b[at+1] >= 24:
		n, size = at+2, int(b[at+1])
	case h == 0x59 && len(b) > at+2 && b[at+1] != 0:
		n, size = at+3, int(b[at+1])<<8|int(b[at+2])
	default:
		return 0, id, 0, nil, 0, false
	}
	if len(b)-n < size {
		return 0, id, 0, nil, 0, false
	}
	return t, id, kind, b[n : n+size : n+size], n + size, true
}

// decodeFirst decodes the frame at the start of b, a message of a batch,
// and returns it and the rest of b. Each frame is checked as Decode checks
// a message of one frame. A payload is a copy: a part of b would keep the
// whole batch (64 KiB) alive for as long as a few bytes of it are held
// (a port's message waiting for its reader).
func decodeFirst(b []byte) (*Frame, []byte, error) {
	if t, id, kind, payload, n, ok := ParseSendRecv(b); ok {
		if payload != nil {
			payload = append([]byte{}, payload...)
		}
		return &Frame{Type: t, ID: id, Kind: kind, Payload: payload}, b[n:], nil
	}
	var raw cbor.RawMessage
	rest, err := decMode.UnmarshalFirst(b, &raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: not a frame", ErrBadFrame)
	}
	f, err := Decode(b[:len(b)-len(rest)])
	return f, rest, err
}

// DecodeBatch decodes a message of BatchProtocol: one or more frames,
// each checked as Decode checks it, at most MaxFrameSize bytes in all.
func DecodeBatch(b []byte) ([]*Frame, error) {
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: batch of %d bytes, at most %d", ErrBadFrame, len(b), MaxFrameSize)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrBadFrame)
	}
	var fs []*Frame
	for len(b) > 0 {
		f, rest, err := decodeFirst(b)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
		b = rest
	}
	return fs, nil
}

// DecodeMessage decodes a message from the relay: a batch (DecodeBatch)
// if batch was agreed, else one frame.
func DecodeMessage(b []byte, batch bool) ([]*Frame, error) {
	if batch {
		return DecodeBatch(b)
	}
	f, err := Decode(b)
	if err != nil {
		return nil, err
	}
	return []*Frame{f}, nil
}
