package bookverify

import (
	"errors"
	"math/big"
)

// Ed25519 keys as docs/format.md requires them: a point on the curve
// (edwards25519, RFC 8032) that is not of small order. crypto/ed25519
// verifies signatures for any encoding it can decode; for a small-order key
// anyone can make signatures that verify, so such keys are refused. This is
// plain math/big arithmetic: slow, and fine for a verifier.

var (
	fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// curveD is -121665/121666 mod p.
	curveD = func() *big.Int {
		n := new(big.Int).Neg(big.NewInt(121665))
		inv := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
		return n.Mul(n, inv).Mod(n, fieldP)
	}()
)

var (
	errNotPoint   = errors.New("not a curve point")
	errSmallOrder = errors.New("small-order key")
)

// CheckKey returns an error unless key encodes a curve point of more than
// small order. The sign of x does not matter: P and -P have the same order.
func CheckKey(key [32]byte) error {
	le := key
	le[31] &= 0x7f
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		le[i], le[j] = le[j], le[i]
	}
	y := new(big.Int).SetBytes(le[:])
	y.Mod(y, fieldP) // non-canonical y (>= p) decodes as y mod p, as crypto/ed25519 does
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, big.NewInt(1))
	x2 := u.Mul(u, new(big.Int).ModInverse(v.Mod(v, fieldP), fieldP))
	x2.Mod(x2, fieldP)
	x := new(big.Int)
	if x2.Sign() != 0 && x.ModSqrt(x2, fieldP) == nil {
		return errNotPoint
	}
	px, py := x, y
	for range 3 { // [8]P
		px, py = double(px, py)
	}
	if px.Sign() == 0 && py.Cmp(big.NewInt(1)) == 0 {
		return errSmallOrder
	}
	return nil
}

// double returns 2(x, y) on -x² + y² = 1 + d x² y² (the addition law is
// complete on this curve).
func double(x, y *big.Int) (*big.Int, *big.Int) {
	xy := new(big.Int).Mul(x, y)
	dxy2 := new(big.Int).Mul(xy, xy)
	dxy2.Mul(dxy2, curveD).Mod(dxy2, fieldP)
	// x3 = 2xy / (1 + d x²y²), y3 = (y² + x²) / (1 - d x²y²)
	x3 := new(big.Int).Lsh(xy, 1)
	x3.Mul(x3, inverse(new(big.Int).Add(big.NewInt(1), dxy2)))
	y3 := new(big.Int).Add(new(big.Int).Mul(y, y), new(big.Int).Mul(x, x))
	y3.Mul(y3, inverse(new(big.Int).Sub(big.NewInt(1), dxy2)))
	return x3.Mod(x3, fieldP), y3.Mod(y3, fieldP)
}

func inverse(a *big.Int) *big.Int {
	return new(big.Int).ModInverse(a.Mod(a, fieldP), fieldP)
}
