package x25519

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC7748 is RFC 7748's section 6.1: Alice's and Bob's keys and
// their shared secret.
func TestRFC7748(t *testing.T) {
	alice, err := NewPrivateKey(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := NewPrivateKey(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := alice.PublicKey(), unhex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"); !bytes.Equal(got, want) {
		t.Errorf("Alice's public key %x, want %x", got, want)
	}
	if got, want := bob.PublicKey(), unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"); !bytes.Equal(got, want) {
		t.Errorf("Bob's public key %x, want %x", got, want)
	}
	want := unhex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	for _, s := range []struct {
		k    *PrivateKey
		peer []byte
	}{{alice, bob.PublicKey()}, {bob, alice.PublicKey()}} {
		got, err := s.k.ECDH(s.peer)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("shared secret %x, %v; want %x", got, err, want)
		}
	}
}

// p is the field's order, 2²⁵⁵ − 19.
var p = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// onCurve says whether u (X25519's decoding: top bit ignored, reduced mod
// p) has a point on Curve25519, v² = u³ + 486662u² + u, rather than on
// its twist.
func onCurve(u []byte) bool {
	le := bytes.Clone(u)
	le[31] &= 0x7f
	for i, j := 0, len(le)-1; i < j; i, j = i+1, j-1 {
		le[i], le[j] = le[j], le[i]
	}
	x := new(big.Int).SetBytes(le)
	x.Mod(x, p)
	rhs := new(big.Int).Mul(x, x)
	rhs.Mul(rhs, x)
	rhs.Add(rhs, new(big.Int).Mul(big.NewInt(486662), new(big.Int).Mul(x, x)))
	rhs.Add(rhs, x)
	rhs.Mod(rhs, p)
	if rhs.Sign() == 0 {
		return true
	}
	e := new(big.Int).Rsh(new(big.Int).Sub(p, big.NewInt(1)), 1)
	return new(big.Int).Exp(rhs, e, p).Cmp(big.NewInt(1)) == 0
}

// check compares ECDH(k, u) with crypto/ecdh's: the same secret for a
// point of the curve, ErrPoint for one of the twist, both refusing a
// secret of all zeros.
func check(t *testing.T, k []byte, u []byte) {
	t.Helper()
	ours, err := NewPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	std, err := ecdh.X25519().NewPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours.PublicKey(), std.PublicKey().Bytes()) {
		t.Fatalf("public key of %x: %x, crypto/ecdh %x", k, ours.PublicKey(), std.PublicKey().Bytes())
	}
	pub, err := ecdh.X25519().NewPublicKey(u)
	if err != nil {
		t.Fatal(err)
	}
	want, stdErr := std.ECDH(pub)
	got, err := ours.ECDH(u)
	switch {
	case !onCurve(u):
		if !errors.Is(err, ErrPoint) {
			t.Fatalf("X25519(%x, %x) off the curve: %x, %v; want ErrPoint", k, u, got, err)
		}
	case stdErr != nil:
		if !errors.Is(err, ErrPoint) {
			t.Fatalf("X25519(%x, %x): %x, %v; crypto/ecdh refused it (%v)", k, u, got, err, stdErr)
		}
	case err != nil || !bytes.Equal(got, want):
		t.Fatalf("X25519(%x, %x) = %x, %v; crypto/ecdh %x", k, u, got, err, want)
	}
}

// TestAgainstECDH: random keys, random peers' keys, random bytes as keys
// (half of them on the twist), and the edges: non-canonical u, the top bit
// set, points of small order.
func TestAgainstECDH(t *testing.T) {
	rnd := func() []byte {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	curve, twist := 0, 0
	for i := 0; i < 300; i++ {
		peer, err := NewPrivateKey(rnd())
		if err != nil {
			t.Fatal(err)
		}
		check(t, rnd(), peer.PublicKey())
		u := rnd()
		if onCurve(u) {
			curve++
		} else {
			twist++
		}
		check(t, rnd(), u)
	}
	if curve == 0 || twist == 0 {
		t.Fatalf("%d random keys on the curve, %d on the twist", curve, twist)
	}
	le := func(n *big.Int) []byte {
		b := make([]byte, 32)
		n.FillBytes(b)
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	var edges [][]byte
	for _, n := range []int64{0, 1, 2, 3, 4, 9, 18} {
		edges = append(edges, le(big.NewInt(n)), le(new(big.Int).Add(p, big.NewInt(n))))
	}
	edges = append(edges,
		le(new(big.Int).Sub(p, big.NewInt(1))), // −1
		le(new(big.Int).Sub(p, big.NewInt(2))),
		// The two other points of small order (RFC 7748's list, as
		// libsodium's blocklist has them).
		unhex(t, "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
		unhex(t, "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
	)
	for _, e := range edges[:len(edges):len(edges)] {
		top := bytes.Clone(e)
		top[31] |= 0x80
		edges = append(edges, top)
	}
	for _, u := range edges {
		check(t, rnd(), u)
	}
	// The base point, with its top bit set.
	nine := le(big.NewInt(9))
	nine[31] |= 0x80
	check(t, rnd(), nine)
}

// TestKeySize refuses keys that are not 32 bytes.
func TestKeySize(t *testing.T) {
	if _, err := NewPrivateKey(make([]byte, 31)); err == nil {
		t.Error("a 31-byte private key was taken")
	}
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := k.ECDH(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte public key was taken", n)
		}
	}
}

// FuzzECDH compares any scalar and u with crypto/ecdh.
func FuzzECDH(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 32))
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i < 4; i++ {
		k, u := make([]byte, 32), make([]byte, 32)
		for j := range k {
			k[j], u[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		f.Add(k, u)
	}
	f.Fuzz(func(t *testing.T, k, u []byte) {
		if len(k) != 32 || len(u) != 32 {
			return
		}
		check(t, k, u)
	})
}

func BenchmarkECDH(b *testing.B) {
	k, _ := GenerateKey(rand.Reader)
	peer, _ := GenerateKey(rand.Reader)
	u := peer.PublicKey()
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.ECDH(u); err != nil {
				b.Fatal(err)
			}
		}
	})
	std, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pub, _ := ecdh.X25519().NewPublicKey(u)
	b.Run("crypto/ecdh", func(b *testing.B) {
		for b.Loop() {
			if _, err := std.ECDH(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
}
