package identity

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// TestSizesAsStdlib: the sizes are crypto/ed25519's (not imported by the
// package: see SeedSize).
func TestSizesAsStdlib(t *testing.T) {
	if SeedSize != ed25519.SeedSize || IDSize != ed25519.PublicKeySize || SignatureSize != ed25519.SignatureSize {
		t.Fatalf("sizes %d, %d, %d; crypto/ed25519's %d, %d, %d", SeedSize, IDSize, SignatureSize, ed25519.SeedSize, ed25519.PublicKeySize, ed25519.SignatureSize)
	}
}

// TestNewSameAsStdlib: New's key pair is crypto/ed25519's for the seed,
// on random and edge seeds, and its signatures verify.
func TestNewSameAsStdlib(t *testing.T) {
	seeds := []Seed{{}, {1}}
	var ff Seed
	for i := range ff {
		ff[i] = 0xff
	}
	seeds = append(seeds, ff)
	for range 200 {
		s, err := NewSeed()
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, s)
	}
	for _, s := range seeds {
		k := New(s)
		want := ed25519.NewKeyFromSeed(s[:])
		if !bytes.Equal(k.id[:], want.Public().(ed25519.PublicKey)) {
			t.Fatalf("seed %x: public key %x, crypto/ed25519 %x", s, k.id, want.Public())
		}
		for _, msg := range [][]byte{nil, []byte("taskmessenger"), bytes.Repeat([]byte{0xa5}, 1000)} {
			if sig := k.Sign(msg); !bytes.Equal(sig, ed25519.Sign(want, msg)) || !k.ID().Verify(msg, sig) {
				t.Fatalf("seed %x, message of %d bytes: signature differs from crypto/ed25519's or does not verify", s, len(msg))
			}
		}
	}
}

// TestDeriveSeed: DeriveSeed is the seed Derive's key pair is made from,
// and a child differs by purpose and by name.
func TestDeriveSeed(t *testing.T) {
	k := New(Seed{3})
	seen := map[Seed]bool{}
	for _, c := range [][2]string{{"book", "a"}, {"book", "b"}, {"private-pages", "v1"}, {"pages", "a"}, {"book", ""}} {
		s := k.DeriveSeed(c[0], c[1])
		if d := k.Derive(c[0], c[1]); d.Seed() != s || d.ID() != New(s).ID() {
			t.Errorf("DeriveSeed(%q, %q) is not Derive's seed", c[0], c[1])
		}
		if seen[s] {
			t.Errorf("DeriveSeed(%q, %q) repeats another child's seed", c[0], c[1])
		}
		seen[s] = true
	}
}
