package identity

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// A recovery code is a seed written for a person to copy on paper and
// type back: "tmr1-" then the seed and a 3-byte checksum in z-base-32 (56
// characters), in groups of 4:
//
//	tmr1-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx
//
// The checksum is the first 3 bytes of SHA-256("taskmessenger/recovery/v1\n"
// ‖ seed): a mistyped character is caught (but for one code in 16 million).
// ParseRecoveryCode ignores case, spaces, dashes and line breaks. The code
// is the whole identity: whoever reads it can be this profile.
const (
	// RecoveryPrefix is the first group of a recovery code (its version).
	RecoveryPrefix = "tmr1"
	recoveryGroup  = 4
	recoveryCheck  = 3
	// recoveryChars is the length of the code without prefix and dashes.
	recoveryChars = (SeedSize + recoveryCheck) * 8 / 5
	// MaxRecoveryCodeInput bounds what ParseRecoveryCode reads.
	MaxRecoveryCodeInput = 1024
)

// ErrBadRecoveryCode means a recovery code that could not be read.
var ErrBadRecoveryCode = errors.New("identity: bad recovery code")

// RecoveryCode writes seed as a recovery code.
func RecoveryCode(seed Seed) string {
	sum := recoverySum(seed)
	raw := zbase32.EncodeToString(append(seed[:], sum[:recoveryCheck]...))
	var b strings.Builder
	b.WriteString(RecoveryPrefix)
	for i := 0; i < len(raw); i += recoveryGroup {
		b.WriteByte('-')
		b.WriteString(raw[i:min(i+recoveryGroup, len(raw))])
	}
	return b.String()
}

// ParseRecoveryCode reads a code written by RecoveryCode, in any case, with
// or without its spaces, dashes and line breaks. Every error wraps
// ErrBadRecoveryCode and says what is wrong in words: a character that is
// not in the code's alphabet (and in which group), a missing or extra
// character, or a typo that only the checksum reveals.
func ParseRecoveryCode(text string) (Seed, error) {
	if len(text) > MaxRecoveryCodeInput {
		return Seed{}, fmt.Errorf("%w: %d characters, a code has %d", ErrBadRecoveryCode, len(text), len(RecoveryPrefix)+recoveryChars)
	}
	s := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t', '\n', '\r', '\u00a0', '\u2010', '\u2011', '\u2013':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, text)
	if !strings.HasPrefix(s, RecoveryPrefix) {
		if strings.HasPrefix(s, "tmr") {
			return Seed{}, fmt.Errorf("%w: a code of another version (it starts %q, this version reads %q)", ErrBadRecoveryCode, clip(s[:min(len(s), 4)]), RecoveryPrefix)
		}
		return Seed{}, fmt.Errorf("%w: a recovery code starts with %q", ErrBadRecoveryCode, RecoveryPrefix)
	}
	s = s[len(RecoveryPrefix):]
	for i, r := range s {
		if r >= 0x80 || !strings.ContainsRune(zbase32Alphabet, r) {
			return Seed{}, fmt.Errorf("%w: %q in group %d is not a character of recovery codes (they have no 0, 2, l or v)", ErrBadRecoveryCode, r, i/recoveryGroup+1)
		}
	}
	if len(s) != recoveryChars {
		return Seed{}, fmt.Errorf("%w: %d characters after %q, want %d (%d groups of %d): one is missing or extra",
			ErrBadRecoveryCode, len(s), RecoveryPrefix, recoveryChars, recoveryChars/recoveryGroup, recoveryGroup)
	}
	var raw [SeedSize + recoveryCheck]byte
	if n, err := zbase32.Decode(raw[:], []byte(s)); err != nil || n != len(raw) {
		return Seed{}, fmt.Errorf("%w: %v", ErrBadRecoveryCode, err)
	}
	var seed Seed
	copy(seed[:], raw[:SeedSize])
	if sum := recoverySum(seed); string(sum[:recoveryCheck]) != string(raw[SeedSize:]) {
		return Seed{}, fmt.Errorf("%w: the code has a typo (its checksum does not match): check every group", ErrBadRecoveryCode)
	}
	return seed, nil
}

const zbase32Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

func recoverySum(seed Seed) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("taskmessenger/recovery/v1\n"), seed[:]...))
}
