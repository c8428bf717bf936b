//go:build !js

package mirrorset

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Subjects of the set.
const (
	SubjectAnnounce = "tm.mirror.announce"
	SubjectLeave    = "tm.mirror.leave"
)

// Bounds and versions of the wire.
const (
	// Version of the message.
	Version = 1
	// MaxMessage is the most bytes a message may have (one is ~250).
	MaxMessage = 512
	// MaxMirrors bounds the live set a watcher keeps.
	MaxMirrors = 4096
	// Context prefixes the signed bytes.
	Context = "taskmessenger/mirrorset/v1\n"
)

// ErrBadMessage: a message out of bounds, of another version, naming no
// valid id, or not signed by the id it names.
var ErrBadMessage = errors.New("mirrorset: bad message")

// Kind is what a message says.
type Kind string

// The kinds of message, one per subject.
const (
	KindAnnounce Kind = "announce"
	KindLeave    Kind = "leave"
)

// A Message is a mirror's announcement or leave.
type Message struct {
	Kind Kind
	ID   identity.ID
	At   int64 // Unix ms, the mirror's clock
	Sig  []byte
}

type wire struct {
	V   int    `json:"v"`
	ID  string `json:"id"`
	At  int64  `json:"at"`
	Sig string `json:"sig"`
}

// signed is what the mirror signs.
func (m *Message) signed() []byte {
	b := make([]byte, 0, len(Context)+len(m.Kind)+1+identity.IDSize+8)
	b = append(b, Context...)
	b = append(b, m.Kind...)
	b = append(b, '\n')
	b = append(b, m.ID[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(m.At))
}

// Sign signs the message with the mirror's key (ID is set to its id).
func (m *Message) Sign(key *identity.Key) {
	m.ID = key.ID()
	m.Sig = key.Sign(m.signed())
}

// Encode returns the message's JSON.
func (m *Message) Encode() []byte {
	b, _ := json.Marshal(wire{V: Version, ID: hex.EncodeToString(m.ID[:]), At: m.At, Sig: hex.EncodeToString(m.Sig)})
	return b
}

// Decode parses and verifies a message of kind k (its subject's).
func Decode(k Kind, b []byte) (*Message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadMessage, len(b), MaxMessage)
	}
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if w.V != Version {
		return nil, fmt.Errorf("%w: version %d (this is %d)", ErrBadMessage, w.V, Version)
	}
	m := &Message{Kind: k, At: w.At}
	id, err := hex.DecodeString(w.ID)
	if err == nil {
		m.ID, err = identity.IDFromBytes(id)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: id: %v", ErrBadMessage, err)
	}
	if m.At <= 0 {
		return nil, fmt.Errorf("%w: at %d", ErrBadMessage, m.At)
	}
	if m.Sig, err = hex.DecodeString(w.Sig); err != nil || len(m.Sig) != identity.SignatureSize {
		return nil, fmt.Errorf("%w: a signature of %d hex digits", ErrBadMessage, len(w.Sig))
	}
	if !m.ID.Verify(m.signed(), m.Sig) {
		return nil, fmt.Errorf("%w: %s of %s not signed by it", ErrBadMessage, k, m.ID.Short())
	}
	return m, nil
}
