package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// sameAsStdlib fails t unless ID.Verify and crypto/ed25519.Verify agree,
// and the check of the equation agrees both ways: with the key's table of
// multiples (a hot key) and without.
func sameAsStdlib(t testing.TB, id ID, msg, sig []byte) bool {
	t.Helper()
	want := len(sig) == ed25519.SignatureSize && ed25519.Verify(id[:], msg, sig)
	if got := id.Verify(msg, sig); got != want {
		t.Fatalf("ID.Verify(key %x, msg %x, sig %x) = %v, crypto/ed25519 says %v", id, msg, sig, got, want)
	}
	key, ok := decodeKey(id)
	if !ok || len(sig) != SignatureSize || sig[63]&224 != 0 {
		return want
	}
	for _, table := range []*multiples{nil, newMultiples(key.minusA, keyWindow)} {
		if got := verifyWith(id, key, table, msg, sig); got != want {
			t.Fatalf("verifyWith(key %x, table %v, msg %x, sig %x) = %v, crypto/ed25519 says %v", id, table != nil, msg, sig, got, want)
		}
	}
	return want
}

// TestMultiples: a table's multiples are the curve's, for every window
// width, random scalars and the edges (0, 1, l-1, digits that carry).
func TestMultiples(t *testing.T) {
	k := randomKey(t)
	p, err := new(edwards25519.Point).SetBytes(k.id[:])
	if err != nil {
		t.Fatal(err)
	}
	lMinus1 := make([]byte, 32)
	copy(lMinus1, reverse(new(big.Int).Sub(groupOrder(), big.NewInt(1)).FillBytes(make([]byte, 32))))
	scalars := [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...), lMinus1,
		bytes.Repeat([]byte{0x88}, 31), bytes.Repeat([]byte{0x77}, 31), bytes.Repeat([]byte{0xff}, 31)}
	for range 30 {
		var wide [64]byte
		rand.Read(wide[:])
		x, _ := new(edwards25519.Scalar).SetUniformBytes(wide[:])
		scalars = append(scalars, x.Bytes())
	}
	times := func(table *multiples, x *edwards25519.Scalar) *edwards25519.Point {
		var acc extended
		acc.setIdentity()
		table.addMul(&acc, x)
		got, err := new(edwards25519.Point).SetExtendedCoordinates(&acc.X, &acc.Y, &acc.Z, &acc.T)
		if err != nil {
			t.Fatalf("w=%d: %x·P is off the curve: %v", table.w, x.Bytes(), err)
		}
		enc, ok := acc.bytes()
		if !ok || !bytes.Equal(enc[:], got.Bytes()) {
			t.Fatalf("w=%d: %x·P encodes as %x, want %x", table.w, x.Bytes(), enc, got.Bytes())
		}
		return got
	}
	for w := uint(2); w <= 8; w++ {
		table := newMultiples(p, w)
		base := newMultiples(edwards25519.NewGeneratorPoint(), w)
		for _, b := range scalars {
			b = append(b, make([]byte, 32-len(b))...)
			x, err := new(edwards25519.Scalar).SetCanonicalBytes(b)
			if err != nil {
				t.Fatalf("scalar %x: %v", b, err)
			}
			if times(table, x).Equal(new(edwards25519.Point).ScalarMult(x, p)) != 1 {
				t.Fatalf("w=%d: %x·P from the table is not the curve's", w, b)
			}
			if times(base, x).Equal(new(edwards25519.Point).ScalarBaseMult(x)) != 1 {
				t.Fatalf("w=%d: %x·B from the base point's table is not the curve's", w, b)
			}
		}
	}
}

// resetHot forgets every hot key (tests of the policy start afresh).
func resetHot() {
	hot.Lock()
	defer hot.Unlock()
	hot.tick = 0
	hot.uses = make(map[ID]int)
	hot.tables = make(map[ID]*hotEntry)
}

// hasTable reports whether id has a table.
func hasTable(id ID) bool {
	hot.Lock()
	defer hot.Unlock()
	return hot.tables[id] != nil
}

// TestHotKey: a key gets its table at its tableAfter-th verification, and
// verifies the same after.
func TestHotKey(t *testing.T) {
	resetHot()
	k := randomKey(t)
	msg := []byte("a head")
	sig := k.SignRandom(msg)
	for i := 1; i <= tableAfter+2; i++ {
		if !k.ID().Verify(msg, sig) {
			t.Fatalf("verification %d refused", i)
		}
		if has := hasTable(k.ID()); has != (i >= tableAfter) {
			t.Fatalf("after verification %d, a table: %v", i, has)
		}
	}
	bad := bytes.Clone(sig)
	bad[5] ^= 1
	if k.ID().Verify(msg, bad) {
		t.Fatal("a corrupted signature verifies with the key's table")
	}
}

// TestHotKeysTakeTurns: keys verified in turn get tables only while they
// fit (maxTables); a table gives its place only once unused for
// hotWindow verifications; a key verified less than tableAfter times in a
// window gets none.
func TestHotKeysTakeTurns(t *testing.T) {
	resetHot()
	msg := []byte("a head")
	type signed struct {
		id  ID
		sig []byte
	}
	keys := make([]signed, maxTables+4)
	for i := range keys {
		k := randomKey(t)
		keys[i] = signed{k.ID(), k.SignRandom(msg)}
	}
	verify := func(ks []signed) {
		for _, k := range ks {
			if !k.id.Verify(msg, k.sig) {
				t.Fatal("a valid signature refused")
			}
		}
	}
	for range tableAfter {
		verify(keys) // 20 keys in turn: well within a window
	}
	tabled := 0
	for _, k := range keys {
		if hasTable(k.id) {
			tabled++
		}
	}
	if tabled != maxTables {
		t.Fatalf("%d keys have a table, want %d", tabled, maxTables)
	}
	// The first maxTables stay hot; the last few verify on without one.
	for range 2 * hotWindow / len(keys) {
		verify(keys)
	}
	for i, k := range keys {
		if hasTable(k.id) != (i < maxTables) {
			t.Fatalf("key %d: a table %v after many turns", i, hasTable(k.id))
		}
	}
	// Once the first go quiet for a window, the others take their place.
	late := keys[maxTables:]
	for range hotWindow/len(late) + tableAfter {
		verify(late)
	}
	for _, k := range late {
		if !hasTable(k.id) {
			t.Fatal("a key verified often has no table while others went quiet")
		}
	}
	// A key verified once a window never gets one.
	resetHot()
	rare := keys[0]
	for range tableAfter + 1 {
		verify([]signed{rare})
		for range hotWindow / len(keys[1:]) {
			verify(keys[1:])
		}
	}
	if hasTable(rare.id) {
		t.Fatal("a key verified once a window got a table")
	}
}

// groupOrder is l, the order of the base point.
func groupOrder() *big.Int {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	return l
}

// plusL adds the group order l to the scalar half of sig: a non-canonical S.
func plusL(sig []byte) []byte {
	le := func(b []byte) *big.Int { return new(big.Int).SetBytes(reverse(b)) }
	s := new(big.Int).Add(le(sig[32:]), groupOrder())
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
	key, _ := decodeKey(k.id)
	b.Run("cached-key", func(b *testing.B) {
		for b.Loop() {
			verifyWith(k.id, key, nil, msg, sig)
		}
	})
	table := newMultiples(key.minusA, keyWindow)
	baseMultiples()
	b.Run("hot-key", func(b *testing.B) {
		for b.Loop() {
			verifyWith(k.id, key, table, msg, sig)
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			newMultiples(key.minusA, keyWindow)
		}
	})
	b.Run("base-table", func(b *testing.B) {
		for b.Loop() {
			newMultiples(edwards25519.NewGeneratorPoint(), baseWindow)
		}
	})
}
