// Package held is a mirror's signed word that it holds a book (issue #13's
// "on a mirror" receipts): a Statement says "book K held, from its first
// page, up to length L, whose tree hash is R, at time T", signed with the
// mirror's identity key. A mirror (relay/mirror) sends its statements to
// the book's author on the mirror's port (channel port.ChannelHeld); the
// author checks the signature against the mirror's id and the root
// against its own book's tree hash at L, so a statement can neither be
// forged nor claim pages the author did not write.
//
// The signed bytes are domain-separated (Context) and name the mirror, so
// a statement is never mistaken for a signature of anything else, nor
// passed off as another mirror's. The wire is one JSON message per batch
// of statements (Encode, Decode), bounded: see docs/format.md.
//
// The other way, on the same channel, a device presents its certificate
// to the mirror and tells it the revocations of its person (client.go:
// EncodeDevice, EncodeRevoke, DecodeClient), so the mirror serves a
// person's books to each of its devices and nothing to a revoked one.
package held

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Context prefixes the bytes a mirror signs.
const Context = "taskmessenger/held/v1\n"

// Version is the version of the wire message.
const Version = 1

// Bounds of a message (untrusted input).
const (
	// MaxMessage is the most bytes a message may have.
	MaxMessage = 128 << 10
	// MaxStatements is the most statements a message may hold.
	MaxStatements = 256
)

// Errors of the package.
var (
	// ErrBadMessage: a message that is not a batch of statements of this
	// version, within the bounds.
	ErrBadMessage = errors.New("held: bad message")
	// ErrBadSignature: a statement not signed by the mirror it is from.
	ErrBadSignature = errors.New("held: bad signature")
)

// A Statement is a mirror's word that it holds pages [0, Length) of Book,
// whose tree hash is Root, as of Time (Unix ms, the mirror's clock).
type Statement struct {
	Book   identity.ID
	Length uint64
	Root   journal.Hash
	Time   int64
	Sig    []byte
}

// statementJSON is a Statement on the wire: the root as base64 bytes.
type statementJSON struct {
	Book   identity.ID `json:"book"`
	Length uint64      `json:"length"`
	Root   []byte      `json:"root"`
	Time   int64       `json:"time"`
	Sig    []byte      `json:"sig"`
}

// SignedBytes is what the mirror signs: Context, the mirror's id, the
// book's key, the length (8 bytes, big endian), the root and the time (8
// bytes, big endian).
func (s *Statement) SignedBytes(mirror identity.ID) []byte {
	b := make([]byte, 0, len(Context)+2*identity.IDSize+8+len(s.Root)+8)
	b = append(b, Context...)
	b = append(b, mirror[:]...)
	b = append(b, s.Book[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Length)
	b = append(b, s.Root[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(s.Time))
}

// Sign signs s with the mirror's key, setting s.Sig.
func (s *Statement) Sign(mirror *identity.Key) {
	s.Sig = mirror.Sign(s.SignedBytes(mirror.ID()))
}

// Verify checks that s is signed by mirror.
func (s *Statement) Verify(mirror identity.ID) error {
	if !mirror.Verify(s.SignedBytes(mirror), s.Sig) {
		return fmt.Errorf("%w: book %s length %d from mirror %s", ErrBadSignature, s.Book.Short(), s.Length, mirror.Short())
	}
	return nil
}

// message is the wire message: {"v":1,"held":[statement, …]}.
type message struct {
	V    int             `json:"v"`
	Held []statementJSON `json:"held"`
}

// Encode returns the message of ss (at most MaxStatements).
func Encode(ss []Statement) ([]byte, error) {
	if len(ss) == 0 || len(ss) > MaxStatements {
		return nil, fmt.Errorf("%w: %d statements (1 to %d)", ErrBadMessage, len(ss), MaxStatements)
	}
	msg := message{V: Version, Held: make([]statementJSON, len(ss))}
	for i, s := range ss {
		msg.Held[i] = statementJSON{Book: s.Book, Length: s.Length, Root: s.Root[:], Time: s.Time, Sig: s.Sig}
	}
	return json.Marshal(msg)
}

// Decode parses a message. It checks its form and bounds, not the
// signatures (Statement.Verify).
func Decode(b []byte) ([]Statement, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadMessage, len(b), MaxMessage)
	}
	var msg message
	if err := json.Unmarshal(b, &msg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if msg.V != Version {
		return nil, fmt.Errorf("%w: version %d (this is %d)", ErrBadMessage, msg.V, Version)
	}
	if len(msg.Held) == 0 || len(msg.Held) > MaxStatements {
		return nil, fmt.Errorf("%w: %d statements (1 to %d)", ErrBadMessage, len(msg.Held), MaxStatements)
	}
	ss := make([]Statement, len(msg.Held))
	for i, j := range msg.Held {
		switch {
		case len(j.Root) != len(ss[i].Root):
			return nil, fmt.Errorf("%w: statement %d: a root of %d bytes", ErrBadMessage, i, len(j.Root))
		case len(j.Sig) != identity.SignatureSize:
			return nil, fmt.Errorf("%w: statement %d: a signature of %d bytes", ErrBadMessage, i, len(j.Sig))
		case j.Length == 0:
			return nil, fmt.Errorf("%w: statement %d: length 0", ErrBadMessage, i)
		}
		ss[i] = Statement{Book: j.Book, Length: j.Length, Time: j.Time, Sig: j.Sig}
		copy(ss[i].Root[:], j.Root)
	}
	return ss, nil
}
