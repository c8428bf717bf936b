// Package x25519 is RFC 7748's X25519 Diffie-Hellman computed with
// filippo.io/edwards25519's group, which the module links anyway, instead
// of crypto/ecdh, which links the NIST curves and P-256's precomputed
// table with it (116 KB of the browser module's gzip).
//
// Keys and shared secrets are X25519's, byte for byte (tests compare it
// with crypto/ecdh), with one difference: a peer's public key must be a
// point of the curve. X25519 also takes points of its twist; no key made
// by X25519 is one, so only a forged key is refused, with ErrPoint. As
// with crypto/ecdh, a shared secret of all zeros (a point of small order)
// is refused too.
package x25519

import (
	"crypto/subtle"
	"errors"
	"io"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Size is the size of a private key, a public key and a shared secret.
const Size = 32

// ErrPoint says a peer's public key is not a point of Curve25519 or is
// one of small order.
var ErrPoint = errors.New("x25519: public key is not a usable point of Curve25519")

// PrivateKey is a clamped X25519 scalar and its public key.
type PrivateKey struct {
	s   edwards25519.Scalar // the clamped scalar k, mod the group's order
	pub [Size]byte
}

// GenerateKey reads a private key from rand.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	var b [Size]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, err
	}
	return NewPrivateKey(b[:])
}

// NewPrivateKey is the private key of the 32 bytes b (clamped as RFC 7748
// says).
func NewPrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != Size {
		return nil, errors.New("x25519: private key must be 32 bytes")
	}
	k := &PrivateKey{}
	if _, err := k.s.SetBytesWithClamping(b); err != nil {
		return nil, err
	}
	// The base point is in the prime-order group, where k and k mod ℓ
	// multiply alike.
	p := new(edwards25519.Point).ScalarBaseMult(&k.s)
	copy(k.pub[:], p.BytesMontgomery())
	return k, nil
}

// PublicKey is k's public key, a Montgomery u-coordinate.
func (k *PrivateKey) PublicKey() []byte {
	return append([]byte(nil), k.pub[:]...)
}

// inverseOf8 is 8⁻¹ mod ℓ.
var inverseOf8 = sync.OnceValue(func() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 8
	eight, err := new(edwards25519.Scalar).SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	return new(edwards25519.Scalar).Invert(eight)
})

// ECDH is X25519(k, peer): the shared secret of k and the peer's public
// key.
func (k *PrivateKey) ECDH(peer []byte) ([]byte, error) {
	if len(peer) != Size {
		return nil, errors.New("x25519: public key must be 32 bytes")
	}
	p, err := edwardsPoint(peer)
	if err != nil {
		return nil, err
	}
	// The clamped k is a multiple of 8, so k·P = (k/8)·(8·P), and 8·P is
	// in the prime-order group, where k/8 can be taken mod ℓ: k·8⁻¹.
	// (k mod ℓ times P would not clear P's small-order part.)
	q := new(edwards25519.Point).MultByCofactor(p)
	m := new(edwards25519.Scalar).Multiply(&k.s, inverseOf8())
	shared := new(edwards25519.Point).ScalarMult(m, q).BytesMontgomery()
	if subtle.ConstantTimeCompare(shared, make([]byte, Size)) == 1 {
		return nil, ErrPoint
	}
	return shared, nil
}

// edwardsPoint is a point of edwards25519 whose Montgomery u-coordinate is
// u (32 bytes, little-endian; its top bit ignored and values ≥ p reduced,
// as RFC 7748 says): y = (u − 1) / (u + 1), x the root of the curve's
// equation, if there is one.
func edwardsPoint(u []byte) (*edwards25519.Point, error) {
	fu, err := new(field.Element).SetBytes(u)
	if err != nil {
		return nil, err
	}
	one := new(field.Element).One()
	num := new(field.Element).Subtract(fu, one)
	den := new(field.Element).Add(fu, one)
	y := new(field.Element).Multiply(num, den.Invert(den))
	p, err := new(edwards25519.Point).SetBytes(y.Bytes())
	if err != nil {
		return nil, ErrPoint
	}
	return p, nil
}
