package identity

import (
	"bytes"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// keyCacheMax bounds the decoded keys kept by Verify.
const keyCacheMax = 1024

// keyCache holds -A for recently verified keys A: decoding a key (a square
// root in the field) is a tenth of a verification, and a replica verifies
// many heads of one book key.
var keyCache = struct {
	sync.Mutex
	m map[ID]*edwards25519.Point // guarded by the mutex; the points are immutable
}{m: make(map[ID]*edwards25519.Point)}

// minusKey returns -A for the key id, or false if id is not a curve point.
func minusKey(id ID) (*edwards25519.Point, bool) {
	keyCache.Lock()
	p, ok := keyCache.m[id]
	keyCache.Unlock()
	if ok {
		return p, true
	}
	a, err := new(edwards25519.Point).SetBytes(id[:])
	if err != nil {
		return nil, false
	}
	p = a.Negate(a)
	keyCache.Lock()
	if len(keyCache.m) >= keyCacheMax {
		for k := range keyCache.m { // evict any one
			delete(keyCache.m, k)
			break
		}
	}
	keyCache.m[id] = p
	keyCache.Unlock()
	return p, true
}

// verify is crypto/ed25519.Verify (RFC 8032, cofactorless, canonical S
// only) with the key decoded once per key (minusKey): it accepts exactly
// the signatures the standard library accepts (verify_test.go checks).
func verify(id ID, msg, sig []byte) bool {
	if len(sig) != SignatureSize || sig[63]&224 != 0 {
		return false
	}
	minusA, ok := minusKey(id)
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
	r := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, s)
	return bytes.Equal(sig[:32], r.Bytes())
}
