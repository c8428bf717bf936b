package pairing

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Sizes of a code.
const (
	// CodePrefix is the first group of a pairing code (its version).
	CodePrefix = "tml1"
	// HalfSize is the bytes of each half of a code (40 bits).
	HalfSize = 5
	// CodeSize is the bytes of a code: the rendezvous half, then the
	// secret half.
	CodeSize = 2 * HalfSize
	// MaxCodeInput bounds what ParseCode reads.
	MaxCodeInput = 256

	codeGroup = 4
	codeChars = CodeSize * 8 / 5 // 16: 80 bits, no check bits
)

const (
	zbase32Alphabet   = "ybndrfg8ejkmcpqxot1uwisza345h769"
	rendezvousContext = "taskmessenger/pairing/rendezvous/v1"
)

var zbase32 = base32.NewEncoding(zbase32Alphabet).WithPadding(base32.NoPadding)

// A Code is a pairing code: 40 bits that name the rendezvous and 40 bits
// of secret, the CPace password. It has no check bits (see the package
// doc). It is a secret while its offer lasts: do not log it.
type Code [CodeSize]byte

// NewCode returns a fresh random code from crypto/rand.
func NewCode() (Code, error) {
	var c Code
	if _, err := rand.Read(c[:]); err != nil {
		return Code{}, fmt.Errorf("pairing: new code: %w", err)
	}
	return c, nil
}

// String writes the code as people copy it: "tml1-xxxx-xxxx-xxxx-xxxx",
// in z-base-32.
func (c Code) String() string {
	raw := zbase32.EncodeToString(c[:])
	var b strings.Builder
	b.WriteString(CodePrefix)
	for i := 0; i < len(raw); i += codeGroup {
		b.WriteByte('-')
		b.WriteString(raw[i : i+codeGroup])
	}
	return b.String()
}

// Rendezvous returns the key the showing device goes online with, derived
// from the rendezvous half alone (HKDF-SHA256, salt rendezvousContext):
// the new device dials its ID. Anyone who reads the first half can derive
// it; the secret half never leaves the two devices.
func (c Code) Rendezvous() *identity.Key {
	seed, err := hkdf.Key(sha256.New, c[:HalfSize], []byte(rendezvousContext), "", identity.SeedSize)
	if err != nil {
		panic("pairing: hkdf: " + err.Error()) // only for lengths we never ask for
	}
	return identity.New(identity.Seed(seed))
}

// secret is the CPace password: the second half.
func (c Code) secret() []byte { return c[HalfSize:] }

// ParseCode reads a code written by Code.String, in any case, with or
// without its spaces, dashes and line breaks. Every error wraps ErrBadCode
// and says what is wrong in words.
func ParseCode(text string) (Code, error) {
	if len(text) > MaxCodeInput {
		return Code{}, fmt.Errorf("%w: %d characters, a code has %d", ErrBadCode, len(text), len(CodePrefix)+codeChars)
	}
	if !utf8.ValidString(text) {
		return Code{}, fmt.Errorf("%w: not text (invalid UTF-8)", ErrBadCode)
	}
	// s is the code's characters, pos their positions in text (from 1).
	var s []byte
	var pos []int
	n := 0
	for _, r := range text {
		n++
		switch r {
		case ' ', '-', '\t', '\n', '\r', '\u00a0', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
			continue
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		if len(s) >= len(CodePrefix) && (r >= utf8.RuneSelf || !strings.ContainsRune(zbase32Alphabet, r)) {
			return Code{}, fmt.Errorf("%w: %q at position %d is not a character of pairing codes (they have no 0, 2, l or v)", ErrBadCode, r, n)
		}
		if r >= utf8.RuneSelf {
			return Code{}, fmt.Errorf("%w: a pairing code starts with %q", ErrBadCode, CodePrefix)
		}
		s = append(s, byte(r))
		pos = append(pos, n)
		if len(s) == len(CodePrefix) {
			if err := checkPrefix(string(s)); err != nil {
				return Code{}, err
			}
		}
	}
	if len(s) < len(CodePrefix) {
		return Code{}, fmt.Errorf("%w: a pairing code starts with %q", ErrBadCode, CodePrefix)
	}
	body := s[len(CodePrefix):]
	if len(body) != codeChars {
		return Code{}, fmt.Errorf("%w: %d characters after %q, want %d (%d groups of %d): one is missing or extra",
			ErrBadCode, len(body), CodePrefix, codeChars, codeChars/codeGroup, codeGroup)
	}
	var c Code
	if m, err := zbase32.Decode(c[:], body); err != nil || m != CodeSize {
		return Code{}, fmt.Errorf("%w: %v", ErrBadCode, err) // unreachable: every character was checked
	}
	return c, nil
}

// checkPrefix says what a wrong first group is.
func checkPrefix(p string) error {
	switch {
	case p == CodePrefix:
		return nil
	case p == identity.RecoveryPrefix:
		return fmt.Errorf("%w: this is a recovery code, not a pairing code (a pairing code starts with %q)", ErrBadCode, CodePrefix)
	case strings.HasPrefix(p, "tml"):
		return fmt.Errorf("%w: a code of another version (it starts %q, this version reads %q)", ErrBadCode, p, CodePrefix)
	}
	return fmt.Errorf("%w: a pairing code starts with %q", ErrBadCode, CodePrefix)
}
