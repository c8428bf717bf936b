package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// sameAsStdlib fails t unless ID.Verify and crypto/ed25519.Verify agree.
func sameAsStdlib(t testing.TB, id ID, msg, sig []byte) bool {
	t.Helper()
	want := len(sig) == ed25519.SignatureSize && ed25519.Verify(id[:], msg, sig)
	if got := id.Verify(msg, sig); got != want {
		t.Fatalf("ID.Verify(key %x, msg %x, sig %x) = %v, crypto/ed25519 says %v", id, msg, sig, got, want)
	}
	return want
}

// plusL adds the group order l to the scalar half of sig: a non-canonical S.
func plusL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) *big.Int { return new(big.Int).SetBytes(reverse(b)) }
	s := new(big.Int).Add(le(sig[32:]), l)
	out := bytes.Clone(sig)
	copy(out[32:], reverse(s.FillBytes(make([]byte, 32))))
	return out
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

// TestVerifyMatchesStdlib: on valid signatures (deterministic and
// presigned), every single-byte corruption, non-canonical scalars,
// small-order and off-curve keys, ID.Verify answers as crypto/ed25519.
func TestVerifyMatchesStdlib(t *testing.T) {
	identityPoint := ID{1}
	for range 6 {
		k := randomKey(t)
		msg := make([]byte, len(k.id)%7*50)
		rand.Read(msg)
		for _, sig := range [][]byte{k.Sign(msg), k.SignRandom(msg)} {
			if !sameAsStdlib(t, k.ID(), msg, sig) {
				t.Fatal("a valid signature is refused")
			}
			for i := range sig {
				bad := bytes.Clone(sig)
				bad[i] ^= 1 << (i % 8)
				sameAsStdlib(t, k.ID(), msg, bad)
			}
			sameAsStdlib(t, k.ID(), append(bytes.Clone(msg), 0), sig)
			if sameAsStdlib(t, k.ID(), msg, plusL(sig)) {
				t.Fatal("a non-canonical S verifies")
			}
			sameAsStdlib(t, k.ID(), msg, sig[:63])
			sameAsStdlib(t, k.ID(), msg, make([]byte, 64))
			var other ID
			rand.Read(other[:])
			sameAsStdlib(t, other, msg, sig) // often not a curve point
			// With the identity as key, R = S·B verifies for any S.
			var s [32]byte
			rand.Read(s[:31])
			forged := append(baseTimes(t, s[:]), s[:]...)
			sameAsStdlib(t, identityPoint, msg, forged)
		}
	}
}

// baseTimes returns the encoding of s·B (s little-endian, below l).
func baseTimes(t testing.TB, s []byte) []byte {
	sc, err := new(edwards25519.Scalar).SetCanonicalBytes(s)
	if err != nil {
		t.Fatal(err)
	}
	return new(edwards25519.Point).ScalarBaseMult(sc).Bytes()
}

func FuzzVerify(f *testing.F) {
	k := New(Seed{9})
	msg := []byte("taskmessenger/head/v1\n")
	f.Add(k.id[:], msg, k.Sign(msg))
	f.Add(k.id[:], msg, k.SignRandom(msg))
	f.Add(k.id[:], msg, plusL(k.Sign(msg)))
	f.Add(make([]byte, 32), msg, make([]byte, 64))
	f.Fuzz(func(t *testing.T, key, msg, sig []byte) {
		if len(key) != IDSize {
			return
		}
		sameAsStdlib(t, ID(key), msg, sig)
	})
}

func BenchmarkVerify(b *testing.B) {
	k := randomKey(b)
	msg := make([]byte, 94) // a head's signed bytes
	sig := k.Sign(msg)
	b.Run("ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(k.id[:], msg, sig)
		}
	})
	b.Run("cached-key", func(b *testing.B) {
		for b.Loop() {
			k.id.Verify(msg, sig)
		}
	})
}
