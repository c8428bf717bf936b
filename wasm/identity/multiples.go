package identity

import (
	"encoding/binary"
	"math/big"
	"slices"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Multiples of a point, for verification: a table of affine points and
// additions in extended coordinates (Hisil, Wong, Carter and Dawson,
// "Twisted Edwards Curves Revisited", 2008) on the field arithmetic of
// filippo.io/edwards25519. None of it runs in constant time: a
// verification's inputs (key, message, signature) are public. Signing
// never uses it.

// An affine point (x, y) in the form a mixed addition takes: y+x, y−x and
// 2d·x·y. Adding it costs 7 multiplications, where adding an extended
// point (edwards25519.Point.Add) costs 9.
type affine struct{ ypx, ymx, xy2d field.Element }

// An extended point: x = X/Z, y = Y/Z, x·y = T/Z.
type extended struct{ X, Y, Z, T field.Element }

// setIdentity sets p to the neutral point (0, 1).
func (p *extended) setIdentity() {
	p.X.Zero()
	p.Y.One()
	p.Z.One()
	p.T.Zero()
}

// add sets p to p + q, or p − q if minus.
func (p *extended) add(q *affine, minus bool) {
	var ypx, ymx, a, b, c, d, e, f, g, h field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	if minus { // −q is (−x, y): y+x and y−x swap, 2d·x·y changes sign
		a.Multiply(&ymx, &q.ypx)
		b.Multiply(&ypx, &q.ymx)
	} else {
		a.Multiply(&ymx, &q.ymx)
		b.Multiply(&ypx, &q.ypx)
	}
	c.Multiply(&p.T, &q.xy2d)
	d.Add(&p.Z, &p.Z)
	e.Subtract(&b, &a)
	h.Add(&b, &a)
	if minus {
		f.Add(&d, &c)
		g.Subtract(&d, &c)
	} else {
		f.Subtract(&d, &c)
		g.Add(&d, &c)
	}
	p.X.Multiply(&e, &f)
	p.Y.Multiply(&g, &h)
	p.T.Multiply(&e, &h)
	p.Z.Multiply(&f, &g)
}

// fieldOrder is 2^255 − 19.
var fieldOrder = sync.OnceValue(func() *big.Int {
	p := new(big.Int).Lsh(big.NewInt(1), 255)
	return p.Sub(p, big.NewInt(19))
})

// bytes returns p's encoding (RFC 8032: y, and x's sign in the top bit),
// or false if Z is 0 (never, for a point of the curve). The inversion of
// Z is math/big's: a fifth of the field's constant-time one.
func (p *extended) bytes() ([32]byte, bool) {
	var out [32]byte
	zb := p.Z.Bytes() // little-endian; math/big reads big-endian
	slices.Reverse(zb)
	z := new(big.Int).SetBytes(zb)
	if z.ModInverse(z, fieldOrder()) == nil {
		return out, false
	}
	z.FillBytes(out[:])
	slices.Reverse(out[:])
	var zinv, x, y field.Element
	if _, err := zinv.SetBytes(out[:]); err != nil {
		return out, false
	}
	x.Multiply(&p.X, &zinv)
	y.Multiply(&p.Y, &zinv)
	copy(out[:], y.Bytes())
	out[31] |= byte(x.IsNegative()) << 7
	return out, true
}

// multiples holds j·2^(w·i)·P for j = 1..2^(w−1), for every digit i of a
// scalar written in signed digits of base 2^w (each −2^(w−1)..2^(w−1)):
// the scalar's multiple of P is one addition per nonzero digit. A wider
// window means fewer additions and a bigger table, longer to build: w = 5
// takes 51 additions and 98 KB, w = 6 43 and 165 KB (w = 4, the table
// this replaced, 64 and 82 KB in extended points).
type multiples struct {
	w    uint
	half int      // 2^(w−1), the entries of a row
	pts  []affine // row i at [i·half, (i+1)·half)
}

// digitsOf returns the count of base 2^w digits a scalar takes: scalars
// are below 2^253, and the signed form may carry one bit further.
func digitsOf(w uint) int { return int((254 + w - 1) / w) }

func newMultiples(p *edwards25519.Point, w uint) *multiples {
	t := &multiples{w: w, half: 1 << (w - 1)}
	n := digitsOf(w) * t.half
	ext := make([]edwards25519.Point, n)
	row := new(edwards25519.Point).Set(p) // 2^(w·i)·P
	for i := 0; i < n; i += t.half {
		ext[i].Set(row)
		for j := 1; j < t.half; j++ {
			ext[i+j].Add(&ext[i+j-1], row)
		}
		row.Add(&ext[i+t.half-1], &ext[i+t.half-1]) // 2·2^(w−1) = 2^w
	}
	// To affine with one inversion (Montgomery's trick): prefix[i] is the
	// product of the first i+1 Zs.
	coords := make([]extended, n)
	prefix := make([]field.Element, n)
	for i := range ext {
		X, Y, Z, T := ext[i].ExtendedCoordinates()
		coords[i] = extended{X: *X, Y: *Y, Z: *Z, T: *T}
		if i == 0 {
			prefix[i].Set(Z)
		} else {
			prefix[i].Multiply(&prefix[i-1], Z)
		}
	}
	var inv, zinv, x, y field.Element
	inv.Invert(&prefix[n-1]) // 1/(Z0·…·Zn−1)
	d2 := doubleD()
	t.pts = make([]affine, n)
	for i := n - 1; i >= 0; i-- {
		if i > 0 {
			zinv.Multiply(&inv, &prefix[i-1])
			inv.Multiply(&inv, &coords[i].Z)
		} else {
			zinv.Set(&inv)
		}
		x.Multiply(&coords[i].X, &zinv)
		y.Multiply(&coords[i].Y, &zinv)
		a := &t.pts[i]
		a.ypx.Add(&y, &x)
		a.ymx.Subtract(&y, &x)
		a.xy2d.Multiply(&x, &y)
		a.xy2d.Multiply(&a.xy2d, d2)
	}
	return t
}

// doubleD returns 2d, with d = −121665/121666 the curve's constant.
var doubleD = sync.OnceValue(func() *field.Element {
	var one, num, den field.Element
	one.One()
	num.Mult32(&one, 2*121665)
	num.Negate(&num)
	den.Mult32(&one, 121666)
	den.Invert(&den)
	return num.Multiply(&num, &den)
})

// addMul adds x·P to acc.
func (t *multiples) addMul(acc *extended, x *edwards25519.Scalar) {
	var b [36]byte // x's 32 bytes, little-endian, and room to read 4 at a time
	copy(b[:], x.Bytes())
	mask := uint32(1)<<t.w - 1
	carry := int32(0)
	for i := range digitsOf(t.w) {
		pos := uint(i) * t.w
		di := int32(binary.LittleEndian.Uint32(b[pos/8:])>>(pos%8)&mask) + carry
		carry = 0
		if di > int32(t.half) {
			di -= 1 << t.w
			carry = 1
		}
		row := t.pts[i*t.half:]
		switch {
		case di > 0:
			acc.add(&row[di-1], false)
		case di < 0:
			acc.add(&row[-di-1], true)
		}
	}
	if carry != 0 { // x < 2^253 leaves room in the last digit
		panic("identity: a scalar above 2^253")
	}
}

// Windows of the tables: a hot key's table is built once per key, the
// base point's once per process (0.5 ms natively, 3.4 ms in a browser).
// Wider windows saved under a microsecond a verification natively
// (BenchmarkVerify, w from 4 to 8) and cost twice the building.
const (
	keyWindow  = 5
	baseWindow = 6
)

// baseMultiples is the base point's table, built on first use.
var baseMultiples = sync.OnceValue(func() *multiples {
	return newMultiples(edwards25519.NewGeneratorPoint(), baseWindow)
})
