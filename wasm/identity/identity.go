// Package identity turns a 32-byte seed into an ed25519 key pair and names
// peers by their public key.
//
// A peer id is the public key in z-base-32 (52 lowercase characters, no
// padding). It is the one text form of a key used everywhere: in book names,
// invite codes, the relay and the devtools API. A seed has the same text form,
// so it can be copied between tabs, but it is a secret and is never logged.
//
// # Signatures
//
// Key.Sign is RFC 8032 ed25519, deterministic (byte for byte
// crypto/ed25519.Sign's). Keys, signatures and verification all compute
// with filippo.io/edwards25519, so that a browser builds one base point
// table, not two (see New). Key.SignRandom makes
// standard ed25519 signatures with random nonces precomputed off the
// caller's path (the journal signs its heads with it: about 1 µs on the
// append path instead of 20). ID.Verify accepts exactly what
// crypto/ed25519.Verify accepts, decoding each key once; a key verified
// often (a book's, at its reader) gets a table of its multiples, which
// halves a verification (verify.go).
//
// An ed25519 signature of M by the key (a, A = a·B) is R ‖ S with
// R = r·B and S = r + SHA-512(R ‖ A ‖ M)·a mod l. RFC 8032 derives the
// nonce r from the key and M, so r·B, three quarters of the cost, can only
// be computed once M is known. A verifier checks S·B = R + k·A and never
// learns how r was chosen: any r that is secret, uniform and used once gives
// a signature that every standard verifier accepts and that is as hard to
// forge. Key.SignRandom therefore takes its (r, R) from a small pool that a
// goroutine fills ahead of time (on another core natively; while the caller
// waits on IndexedDB in the browser), leaving one SHA-512 and one scalar
// multiply-add on the caller's path.
//
// The rules that keep this sound:
//
//   - r is SHA-512("taskmessenger/nonce/v1\n" ‖ prefix ‖ counter ‖ 64 bytes
//     from crypto/rand) reduced mod l, where prefix is the secret half of
//     SHA-512(seed) (the RFC's nonce key) and counter counts the key's
//     nonces. The randomness makes r uniform; hashing it with the secret
//     prefix and a counter is a hedge: if crypto/rand were predictable, r
//     would still be secret, and within one Key it would still never repeat.
//   - Each pair is taken from the pool under its lock by one signature only,
//     then erased; pairs live only in memory (never persisted, never
//     exported), and a key's pool holds at most 16 of them (nonceCap).
//
// The trade against RFC 8032: a deterministic nonce cannot be repeated by a
// bad random generator, and two signatures by one key with the same r but
// different messages reveal the key. Here the hedge covers a predictable
// generator within one process; two processes with the same seed (two tabs,
// a restored backup) rely on crypto/rand alone to draw different nonces, as
// ECDSA and Schnorr signatures with random nonces do. A signature also differs from one signing of the same
// message to the next, so nothing may compare heads by their signature
// bytes (the journal compares length and root).
package identity

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"filippo.io/edwards25519"
)

// Sizes of the binary forms: crypto/ed25519's SeedSize, PublicKeySize and
// SignatureSize (TestSizesAsStdlib). Not taken from it: importing it links
// its FIPS self-test, and with it a second copy of the curve (80 KB of
// code in the browser's module) that nothing else calls.
const (
	SeedSize      = 32
	IDSize        = 32
	SignatureSize = 64
	// TextSize is the length of an ID or Seed in text form.
	TextSize = 52
)

// Errors returned by the parsers.
var (
	// ErrBadID means a peer id or key in text form could not be parsed.
	ErrBadID = errors.New("identity: bad peer id")
	// ErrBadSeed means a seed in text form could not be parsed.
	ErrBadSeed = errors.New("identity: bad seed")
)

// zbase32 is the human-oriented base-32 alphabet (no padding, lowercase).
var zbase32 = base32.NewEncoding(zbase32Alphabet).WithPadding(base32.NoPadding)

// A Seed is the 32-byte secret from which a peer's keys are derived.
type Seed [SeedSize]byte

// NewSeed returns a fresh random seed from crypto/rand.
func NewSeed() (Seed, error) {
	var s Seed
	_, err := rand.Read(s[:])
	return s, err
}

// String returns the seed in z-base-32. It is a secret: do not log it.
func (s Seed) String() string { return zbase32.EncodeToString(s[:]) }

// ParseSeed parses the text form written by Seed.String.
func ParseSeed(text string) (Seed, error) {
	var s Seed
	if err := decode(s[:], text); err != nil {
		return Seed{}, fmt.Errorf("%w: %v", ErrBadSeed, err)
	}
	return s, nil
}

// An ID is an ed25519 public key: a peer's id or a book's key.
type ID [IDSize]byte

// String returns the id in z-base-32.
func (id ID) String() string { return zbase32.EncodeToString(id[:]) }

// Short returns the first 8 characters of the id, for logs and labels.
func (id ID) Short() string { return id.String()[:8] }

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Verify reports whether sig is id's signature of msg: what
// crypto/ed25519.Verify accepts, with the key decoded once for many
// signatures (verify.go).
func (id ID) Verify(msg, sig []byte) bool { return verify(id, msg, sig) }

// ParseID parses the text form written by ID.String. It rejects any other
// length, any character outside the alphabet, non-canonical encodings and
// keys that are not valid (see ID.Check).
func ParseID(text string) (ID, error) {
	var id ID
	if err := decode(id[:], text); err != nil {
		return ID{}, fmt.Errorf("%w %q: %v", ErrBadID, clip(text), err)
	}
	if err := id.Check(); err != nil {
		return ID{}, fmt.Errorf("%q: %w", clip(text), err)
	}
	return id, nil
}

// DecodeID parses the text form like ParseID but does not check the key
// (ID.Check decodes a curve point: costly where many ids are read). For
// ids only compared with known ones or shown, never for a key that will
// verify a signature.
func DecodeID(text string) (ID, error) {
	var id ID
	if err := decode(id[:], text); err != nil {
		return ID{}, fmt.Errorf("%w %q: %v", ErrBadID, clip(text), err)
	}
	return id, nil
}

// IDFromBytes converts a 32-byte slice to an ID, checking it (ID.Check).
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != IDSize {
		return ID{}, fmt.Errorf("%w: want %d bytes, got %d", ErrBadID, IDSize, len(b))
	}
	copy(id[:], b)
	return id, id.Check()
}

// Check returns ErrBadID unless id is a usable public key: a point on the
// curve that is not of small order. For a small-order key anyone can make
// signatures that verify, so such keys are refused wherever a key enters:
// parsing, a replica's book key, a genesis author.
func (id ID) Check() error {
	k, ok := decodeKey(id)
	if !ok {
		return fmt.Errorf("%w: not a curve point", ErrBadID)
	}
	if k.small {
		return fmt.Errorf("%w: small-order key", ErrBadID)
	}
	return nil
}

func decode(dst []byte, text string) error {
	if len(text) != TextSize {
		return fmt.Errorf("want %d characters, got %d", TextSize, len(text))
	}
	var src [TextSize]byte // on the stack, unlike []byte(text)
	copy(src[:], text)
	n, err := zbase32.Decode(dst, src[:])
	if err != nil {
		var bad base32.CorruptInputError
		if errors.As(err, &bad) && int(bad) < len(text) {
			return fmt.Errorf("invalid character %q at position %d", text[bad], int(bad))
		}
		return err
	}
	// Canonical: the bits of the last character past the data are zero
	// (the decoder ignores them), as encoding writes them.
	if pad := 5*TextSize - 8*len(dst); n != len(dst) || pad < 0 || strings.IndexByte(zbase32Alphabet, text[TextSize-1])&(1<<pad-1) != 0 {
		return errors.New("not a canonical encoding")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// A Key is a signing key pair. The zero value is not usable: use New.
type Key struct {
	seed Seed
	id   ID
	pre  *presigner // the secret scalar and nonce key; SignRandom's nonce pool
}

// New derives the key pair of seed (RFC 8032: the public key is
// SHA-512(seed)'s first half, clamped, times the base point). Keys compute
// with filippo.io/edwards25519 (New, Sign, SignRandom, Verify), not with
// crypto/ed25519, which holds a second copy of the curve: each copy builds
// its base point table on first use (13-14 ms in a browser, on the way to
// a profile's first page). TestNewSameAsStdlib checks keys and signatures
// equal crypto/ed25519's.
func New(seed Seed) *Key {
	p := newPresigner(&seed)
	return &Key{seed: seed, id: p.id, pre: p}
}

// ID returns the public key.
func (k *Key) ID() ID { return k.id }

// Seed returns the secret seed.
func (k *Key) Seed() Seed { return k.seed }

// Sign signs msg (RFC 8032: the same message, the same signature), byte
// for byte as crypto/ed25519.Sign (see New).
func (k *Key) Sign(msg []byte) []byte {
	p := k.pre
	h := sha512.New()
	h.Write(p.prefix[:])
	h.Write(msg)
	var d [sha512.Size]byte
	h.Sum(d[:0])
	var n nonce
	if _, err := n.r.SetUniformBytes(d[:]); err != nil {
		panic("identity: reducing 64 bytes: " + err.Error())
	}
	clear(d[:])
	copy(n.R[:], new(edwards25519.Point).ScalarBaseMult(&n.r).Bytes())
	return p.signWith(n, msg)
}

// Derive returns the key pair for a named child of k, deterministically:
// the same seed, purpose and name always give the same child. Books use it
// (purpose "book") so that a profile can be rebuilt from its seed alone.
func (k *Key) Derive(purpose, name string) *Key { return New(k.DeriveSeed(purpose, name)) }

// DeriveSeed returns the seed of Derive(purpose, name) without its key
// pair (whose public key costs a scalar multiplication): for a child used
// as a secret only.
func (k *Key) DeriveSeed(purpose, name string) Seed {
	child, err := hkdf.Key(sha256.New, k.seed[:], []byte("taskmessenger/"+purpose+"/v1"), name, SeedSize)
	if err != nil {
		panic("identity: hkdf: " + err.Error()) // only for lengths we never ask for
	}
	return Seed(child)
}

// Bytes returns a copy of the id as a slice.
func (id ID) Bytes() []byte { return append([]byte(nil), id[:]...) }
