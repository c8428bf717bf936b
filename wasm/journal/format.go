package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Bounds on what a book holds. They bound every decoder too.
const (
	// MaxPageSize is the largest page, in bytes.
	MaxPageSize = 256 << 10
	// MaxNameSize is the longest book name, in bytes.
	MaxNameSize = 512
	// MaxGenesisMeta is the largest application data in a genesis page.
	MaxGenesisMeta = 4 << 10
	// MaxLength is the most pages a book can have.
	MaxLength = 1 << 48
	// MaxProofHashes bounds the hashes of one proof (two paths in a 2^63 tree).
	MaxProofHashes = 2 * 64
)

// Hash is a SHA-256 tree hash (RFC 6962 leaf and node hashes, as tlog computes them).
type Hash = tlog.Hash

var encMode, decMode = Codec(4096)

// Codec returns the deterministic CBOR encoder every format of the project
// uses, and a decoder for untrusted input with DecOptions(maxArray).
func Codec(maxArray int) (cbor.EncMode, cbor.DecMode) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("journal: cbor encoder: " + err.Error())
	}
	dec, err := DecOptions(maxArray).DecMode()
	if err != nil {
		panic("journal: cbor decoder: " + err.Error())
	}
	return enc, dec
}

// DecOptions are the CBOR decoding limits for untrusted input used by the
// journal and the protocols on top of it: no indefinite lengths, no tags,
// no duplicate or unknown map keys, shallow nesting, at most maxArray
// elements per array.
func DecOptions(maxArray int) cbor.DecOptions {
	return cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   10,
		MaxArrayElements:  maxArray,
		MaxMapPairs:       64,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}
}

// Marshal encodes v in the deterministic CBOR used by every journal and sync format.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes CBOR from an untrusted source with the journal's limits.
func Unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// A Head is a book's signed state: its length and the Merkle root of its
// pages, signed by the book key. It is the seed's "latest length", made
// unforgeable.
type Head struct {
	Key    identity.ID
	Length uint64
	Root   Hash
	Sig    []byte
}

const headContext = "taskmessenger/head/v1\n"

// signedBytes is what the book key signs: a context string, the key, the
// length (8 bytes, big endian) and the root.
func (h *Head) signedBytes() []byte {
	b := make([]byte, 0, len(headContext)+identity.IDSize+8+tlog.HashSize)
	b = append(b, headContext...)
	b = append(b, h.Key[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Length)
	return append(b, h.Root[:]...)
}

// Verify checks the head's signature against its key.
func (h *Head) Verify() error {
	if !h.Key.Verify(h.signedBytes(), h.Sig) {
		return verifyErr(h.Key, h.Length, ErrBadSignature, "head")
	}
	return nil
}

// IsZero reports whether h is the head of a book with nothing known.
func (h *Head) IsZero() bool { return h.Length == 0 && len(h.Sig) == 0 }

// signHead signs the head of length, with a precomputed random nonce
// (identity.Key.SignRandom) unless deterministic: a standard ed25519
// signature whose bytes differ from one signing to the next, so heads are
// compared by length and root, never by signature.
func signHead(k *identity.Key, length uint64, root Hash, deterministic bool) Head {
	h := Head{Key: k.ID(), Length: length, Root: root}
	if deterministic {
		h.Sig = k.Sign(h.signedBytes())
		return h
	}
	h.Sig = k.SignRandom(h.signedBytes())
	return h
}

// wireHead is a Head as it is encoded: a CBOR array [key, length, root, sig].
type wireHead struct {
	_      struct{} `cbor:",toarray"`
	Key    []byte
	Length uint64
	Root   []byte
	Sig    []byte
}

// wire returns h as it is encoded. The structures that hold heads
// (Upgrade, Fork) encode this form in place, the same bytes as a Head's
// own encoding, rather than through Head's methods (each a nested encoding
// or parse of its own).
func (h *Head) wire() wireHead {
	return wireHead{Key: h.Key[:], Length: h.Length, Root: h.Root[:], Sig: h.Sig}
}

// head checks the sizes of a decoded head (not its signature) and returns it.
func (w *wireHead) head() (Head, error) {
	if w.Length > MaxLength {
		return Head{}, fmt.Errorf("head: %w: length %d", ErrTooLarge, w.Length)
	}
	if len(w.Key) != identity.IDSize || len(w.Root) != tlog.HashSize || len(w.Sig) != identity.SignatureSize {
		return Head{}, fmt.Errorf("head: %w: key %d, root %d, signature %d bytes", ErrMalformed, len(w.Key), len(w.Root), len(w.Sig))
	}
	h := Head{Length: w.Length, Sig: w.Sig}
	copy(h.Key[:], w.Key)
	copy(h.Root[:], w.Root)
	return h, nil
}

// MarshalCBOR implements cbor.Marshaler (wireHead's encoding, written by
// hand: appendHead).
func (h Head) MarshalCBOR() ([]byte, error) { return appendHead(make([]byte, 0, 144), &h), nil }

// UnmarshalCBOR implements cbor.Unmarshaler. It checks sizes, not the signature.
func (h *Head) UnmarshalCBOR(b []byte) error { return unmarshalWire(h, b, readHead, decodeHead) }

// decodeHead decodes a head with the general decoder.
func decodeHead(b []byte) (Head, error) {
	var w wireHead
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Head{}, fmt.Errorf("head: %w: %v", ErrMalformed, err)
	}
	return w.head()
}

// DecodeHead decodes and verifies a head, checking its key too.
func DecodeHead(b []byte) (Head, error) {
	var h Head
	if err := Unmarshal(b, &h); err != nil {
		return Head{}, err
	}
	if err := h.Key.Check(); err != nil {
		// No signature can hold under a key that is no one's.
		return Head{}, verifyErr(h.Key, h.Length, ErrBadSignature, "head's key: %v", err)
	}
	return h, h.Verify()
}

// A Genesis is page 0 of every book. It binds the book key to the author's
// identity and to the book's name, signed by the author's identity key, so
// a reader that knows only the book key learns, verifiably, who writes it.
type Genesis struct {
	Author identity.ID // the author's peer id
	Key    identity.ID // the book key
	Name   string
	Meta   []byte // application data (the room protocol's first page); nil (CBOR null) if none
	Sig    []byte // the author's signature
}

const genesisContext = "taskmessenger/genesis/v1\n"

type wireGenesis struct {
	_       struct{} `cbor:",toarray"`
	Version uint
	Author  []byte
	Key     []byte
	Name    string
	Meta    []byte
	Sig     []byte `cbor:",omitempty"`
}

func (g *Genesis) wire() wireGenesis {
	return wireGenesis{Version: 1, Author: g.Author[:], Key: g.Key[:], Name: g.Name, Meta: g.Meta}
}

func (g *Genesis) signedBytes() []byte {
	b, err := encMode.Marshal(g.wire())
	if err != nil {
		panic("journal: encoding genesis: " + err.Error())
	}
	return append([]byte(genesisContext), b...)
}

// Encode returns the page bytes.
func (g *Genesis) Encode() []byte {
	w := g.wire()
	w.Sig = g.Sig
	b, err := encMode.Marshal(w)
	if err != nil {
		panic("journal: encoding genesis: " + err.Error())
	}
	return b
}

func newGenesis(author, book *identity.Key, name string, meta []byte) *Genesis {
	if len(meta) == 0 {
		meta = nil // no meta is encoded as null, never as an empty byte string
	}
	g := &Genesis{Author: author.ID(), Key: book.ID(), Name: name, Meta: meta}
	g.Sig = author.Sign(g.signedBytes())
	return g
}

// DecodeGenesis decodes page 0 and checks that it is signed by the author it
// names and that the name is well formed. The caller checks Key.
func DecodeGenesis(page []byte) (*Genesis, error) {
	var w wireGenesis
	if err := decMode.Unmarshal(page, &w); err != nil {
		return nil, fmt.Errorf("%w: %w: %v", ErrBadGenesis, ErrMalformed, err)
	}
	if w.Version != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrBadGenesis, w.Version)
	}
	if len(w.Author) != identity.IDSize || len(w.Key) != identity.IDSize || len(w.Sig) != identity.SignatureSize {
		return nil, fmt.Errorf("%w: %w: field sizes", ErrBadGenesis, ErrMalformed)
	}
	if w.Meta != nil && len(w.Meta) == 0 {
		return nil, fmt.Errorf("%w: %w: empty meta as a byte string (no meta is null)", ErrBadGenesis, ErrMalformed)
	}
	if len(w.Meta) > MaxGenesisMeta {
		return nil, fmt.Errorf("%w: %w: meta of %d bytes", ErrBadGenesis, ErrTooLarge, len(w.Meta))
	}
	g := &Genesis{Name: w.Name, Meta: w.Meta, Sig: w.Sig}
	copy(g.Author[:], w.Author)
	copy(g.Key[:], w.Key)
	if err := CheckName(g.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadGenesis, err)
	}
	if err := g.Author.Check(); err != nil {
		return nil, fmt.Errorf("%w: author: %w", ErrBadGenesis, err)
	}
	if err := g.Key.Check(); err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrBadGenesis, err)
	}
	if !g.Author.Verify(g.signedBytes(), g.Sig) {
		return nil, fmt.Errorf("%w: %w by author %s", ErrBadGenesis, ErrBadSignature, g.Author.Short())
	}
	if a, ok := NameAuthor(g.Name); ok && a != g.Author {
		return nil, fmt.Errorf("%w: name %q names author %s, signed by %s", ErrBadGenesis, g.Name, a.Short(), g.Author.Short())
	}
	if !bytes.Equal(page, g.Encode()) {
		return nil, fmt.Errorf("%w: %w: not in canonical form", ErrBadGenesis, ErrMalformed)
	}
	return g, nil
}

// CheckName validates a book name: 1 to MaxNameSize bytes of UTF-8 text
// without control characters.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > MaxNameSize:
		return fmt.Errorf("%w: %w: %d bytes, at most %d", ErrBadName, ErrTooLarge, len(name), MaxNameSize)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character %U", ErrBadName, r)
		}
	}
	return nil
}

// NameAuthor returns the author id of a name that follows the convention
// "${author}-${reader}-${task}" (or any name starting with an id and '-').
func NameAuthor(name string) (identity.ID, bool) {
	if len(name) <= identity.TextSize || name[identity.TextSize] != '-' {
		return identity.ID{}, false
	}
	id, err := identity.ParseID(name[:identity.TextSize])
	return id, err == nil
}

// NameReader returns the reader id of a name "${author}-${reader}-…".
func NameReader(name string) (identity.ID, bool) {
	if _, ok := NameAuthor(name); !ok {
		return identity.ID{}, false
	}
	rest := name[identity.TextSize+1:]
	if len(rest) < identity.TextSize || (len(rest) > identity.TextSize && rest[identity.TextSize] != '-') {
		return identity.ID{}, false
	}
	id, err := identity.ParseID(rest[:identity.TextSize])
	return id, err == nil
}
