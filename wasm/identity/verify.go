package identity

import (
	"bytes"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// keyCacheMax bounds the decoded keys kept by Verify and Check.
const keyCacheMax = 1024

// A decodedKey is a key A decoded once: -A, and whether A is of small
// order (ID.Check refuses those).
type decodedKey struct {
	minusA *edwards25519.Point // immutable
	small  bool
}

// keyCache holds recently decoded keys: decoding a key (a square root in
// the field) is a tenth of a verification, and a replica verifies many
// heads, and checks many messages, of one book key.
var keyCache = struct {
	sync.Mutex
	m map[ID]decodedKey // guarded by the mutex
}{m: make(map[ID]decodedKey)}

// decodeKey returns the key id decoded, or false if id is not a curve
// point.
func decodeKey(id ID) (decodedKey, bool) {
	keyCache.Lock()
	k, ok := keyCache.m[id]
	keyCache.Unlock()
	if ok {
		return k, true
	}
	a, err := new(edwards25519.Point).SetBytes(id[:])
	if err != nil {
		return decodedKey{}, false
	}
	k.small = new(edwards25519.Point).MultByCofactor(a).Equal(edwards25519.NewIdentityPoint()) == 1
	k.minusA = a.Negate(a)
	keyCache.Lock()
	if len(keyCache.m) >= keyCacheMax {
		for k := range keyCache.m { // evict any one
			delete(keyCache.m, k)
			break
		}
	}
	keyCache.m[id] = k
	keyCache.Unlock()
	return k, true
}

// verify is crypto/ed25519.Verify (RFC 8032, cofactorless, canonical S
// only) with the key decoded once per key (minusKey): it accepts exactly
// the signatures the standard library accepts (verify_test.go checks).
func verify(id ID, msg, sig []byte) bool {
	if len(sig) != SignatureSize || sig[63]&224 != 0 {
		return false
	}
	key, ok := decodeKey(id)
	if !ok {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(id[:])
	h.Write(msg)
	var d [sha512.Size]byte
	h.Sum(d[:0])
	k, err := new(edwards25519.Scalar).SetUniformBytes(d[:])
	if err != nil {
		return false
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	// [S]B = R + [k]A, so R = [k](-A) + [S]B.
	r := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, key.minusA, s)
	return bytes.Equal(sig[:32], r.Bytes())
}
