package pairing

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Version is the pairing protocol's version, the first element of every
// message.
const Version = 1

// Message types.
const (
	typeHello   = 1 // A → B: [1, 1, sid, Ya]
	typeReply   = 2 // B → A: [1, 2, Yb, Tb]
	typeConfirm = 3 // A → B: [1, 3, Ta, sealed request]
	typeChunk   = 4 // B → A: [1, 4, index, total, sealed chunk]
	typeAck     = 5 // A → B: [1, 5, index]
	typeRefuse  = 6 // either: [1, 6, reason, text]
)

// Refusal reasons.
const (
	reasonWrongCode = 1 // a confirmation tag did not match
	reasonExpired   = 2 // the offer's Lifetime passed
	reasonUsed      = 3 // a device was linked with the code
	reasonTries     = 4 // MaxFailures wrong tries
	reasonRefused   = 5 // the showing device refused the request (text says why)
	reasonProtocol  = 6 // a message broke the protocol (text says how)
)

// Bounds on messages.
const (
	// ChunkSize is the most bundle bytes one chunk carries: far below
	// peerio.MaxMessage (8 MiB), so a chunk is one port message.
	ChunkSize = 1 << 20
	// MaxBundle is the largest bundle Serve sends and Claim takes.
	MaxBundle = 16 << 20
	// Window is how many chunks Serve sends ahead of the claimant's
	// acknowledgements: Window·ChunkSize stays far below peerio.MaxInbox.
	Window = 4
	// MaxText bounds a refusal's text, in bytes.
	MaxText = 256
	// maxRequest bounds a sealed request (its label is at most
	// device.MaxLabel bytes).
	maxRequest = 256
	// maxToOffer bounds a message to the showing device (a stranger's
	// port: peerio.MaxStrangerBuffer).
	maxToOffer = 1 << 10
	// maxToClaim bounds a message to the new device.
	maxToClaim = ChunkSize + 1<<10
)

var encMode, decMode = journal.Codec(16)

type hello struct {
	_       struct{} `cbor:",toarray"`
	V, T    uint
	SID, YA []byte
}

type reply struct {
	_      struct{} `cbor:",toarray"`
	V, T   uint
	YB, TB []byte
}

type confirm struct {
	_       struct{} `cbor:",toarray"`
	V, T    uint
	TA      []byte
	Request []byte
}

type chunk struct {
	_            struct{} `cbor:",toarray"`
	V, T         uint
	Index, Total uint64
	Sealed       []byte
}

type ack struct {
	_     struct{} `cbor:",toarray"`
	V, T  uint
	Index uint64
}

type refuse struct {
	_      struct{} `cbor:",toarray"`
	V, T   uint
	Reason uint
	Text   string
}

// request is a Request's sealed form: [device, label].
type request struct {
	_      struct{} `cbor:",toarray"`
	Device []byte
	Label  string
}

func encode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic("pairing: encode: " + err.Error()) // our own types always encode
	}
	return b
}

// header reads a message's version and type.
func header(b []byte, limit int) (v, t uint, err error) {
	if len(b) > limit {
		return 0, 0, fmt.Errorf("%w: a message of %d bytes, at most %d", ErrProtocol, len(b), limit)
	}
	var h []cbor.RawMessage
	if err := decMode.Unmarshal(b, &h); err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if len(h) < 2 || decMode.Unmarshal(h[0], &v) != nil || decMode.Unmarshal(h[1], &t) != nil {
		return 0, 0, fmt.Errorf("%w: not a pairing message", ErrProtocol)
	}
	if v != Version {
		return 0, 0, fmt.Errorf("%w: the other device speaks pairing version %d, this one %d: update the older one", ErrProtocol, v, Version)
	}
	return v, t, nil
}

// decode reads a message of type want (or a refusal, returned as its
// error) into m, bounded by limit.
func decode(b []byte, limit int, want uint, m any) error {
	_, t, err := header(b, limit)
	if err != nil {
		return err
	}
	if t == typeRefuse && want != typeRefuse {
		var r refuse
		if err := decMode.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%w: refusal: %v", ErrProtocol, err)
		}
		return r.err()
	}
	if t != want {
		return fmt.Errorf("%w: message type %d, want %d", ErrProtocol, t, want)
	}
	if err := decMode.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: message type %d: %v", ErrProtocol, t, err)
	}
	return nil
}

// checkLen checks that a byte field has its size.
func checkLen(name string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%w: %s of %d bytes, want %d", ErrProtocol, name, len(b), n)
	}
	return nil
}

func newRefuse(reason uint, text string) []byte {
	return encode(refuse{V: Version, T: typeRefuse, Reason: reason, Text: clip(text)})
}

// err is what a refusal means to the side that receives it.
func (r *refuse) err() error {
	text := clip(r.Text)
	switch r.Reason {
	case reasonWrongCode:
		return fmt.Errorf("%w: the other device's check of the code failed", ErrWrongCode)
	case reasonExpired:
		return fmt.Errorf("%w: make a new code on the other device", ErrExpired)
	case reasonUsed:
		return fmt.Errorf("%w: a device was already linked with it; make a new code", ErrCodeSpent)
	case reasonTries:
		return fmt.Errorf("%w: it was tried %d times without success; make a new code", ErrCodeSpent, MaxFailures)
	case reasonRefused:
		return fmt.Errorf("%w: %s", ErrRefused, text)
	case reasonProtocol:
		return fmt.Errorf("%w: the other device says: %s", ErrProtocol, text)
	}
	return fmt.Errorf("%w: refused for an unknown reason %d (%q)", ErrProtocol, r.Reason, text)
}

// clip bounds a refusal's text to MaxText bytes of valid UTF-8.
func clip(s string) string {
	if len(s) > MaxText {
		s = s[:MaxText]
	}
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// A sealer seals one direction's messages: XChaCha20-Poly1305 with a key
// of the exchange, nonce = 16 zero bytes ‖ counter (big endian), so a key
// never seals twice with one nonce.
type sealer struct{ key []byte }

func nonceFor(n uint64) []byte {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(nonce[chacha20poly1305.NonceSizeX-8:], n)
	return nonce
}

func (s sealer) seal(n uint64, plain, ad []byte) []byte {
	aead, err := chacha20poly1305.NewX(s.key)
	if err != nil {
		panic("pairing: " + err.Error()) // keys are always keySize
	}
	return aead.Seal(nil, nonceFor(n), plain, ad)
}

func (s sealer) open(n uint64, sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(s.key)
	if err != nil {
		panic("pairing: " + err.Error())
	}
	plain, err := aead.Open(nil, nonceFor(n), sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: a sealed message does not open", ErrProtocol)
	}
	return plain, nil
}

// Additional data of the sealed parts.
const (
	adRequest = "taskmessenger/pairing/v1 request"
	adChunk   = "taskmessenger/pairing/v1 chunk"
)

func chunkAD(index, total uint64) []byte {
	b := append([]byte(adChunk), make([]byte, 16)...)
	binary.BigEndian.PutUint64(b[len(adChunk):], index)
	binary.BigEndian.PutUint64(b[len(adChunk)+8:], total)
	return b
}

func sealRequest(s sealer, r Request) []byte {
	return s.seal(0, encode(request{Device: r.Device[:], Label: r.Label}), []byte(adRequest))
}

func openRequest(s sealer, sealed []byte) (Request, error) {
	if len(sealed) > maxRequest {
		return Request{}, fmt.Errorf("%w: a request of %d bytes, at most %d", ErrProtocol, len(sealed), maxRequest)
	}
	plain, err := s.open(0, sealed, []byte(adRequest))
	if err != nil {
		return Request{}, err
	}
	var r request
	if err := decMode.Unmarshal(plain, &r); err != nil {
		return Request{}, fmt.Errorf("%w: request: %v", ErrProtocol, err)
	}
	if err := checkLen("device key", r.Device, identity.IDSize); err != nil {
		return Request{}, err
	}
	return Request{Device: identity.ID(r.Device), Label: r.Label}, nil
}

// chunks is how many chunks carry a bundle of size bytes (one, empty, for
// an empty bundle).
func chunks(size uint64) uint64 { return max(1, (size+ChunkSize-1)/ChunkSize) }
