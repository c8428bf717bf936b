package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// fuzzTextSeeds adds to f valid text forms produced by the real code and a
// few corrupt ones around them.
func fuzzTextSeeds(f *testing.F) {
	seed := identity.Seed{1, 2, 3}
	k := identity.New(seed)
	valid := []string{
		identity.ID{}.String(),
		identity.Seed{}.String(),
		seed.String(),
		k.ID().String(),
		k.Derive("book", "x").ID().String(),
		k.Derive("book", "x").Seed().String(),
	}
	var ff identity.ID
	for i := range ff {
		ff[i] = 0xff
	}
	valid = append(valid, ff.String())
	const half = identity.TextSize / 2
	for _, s := range valid {
		f.Add(s)
		f.Add(s[:len(s)-1])                  // too short
		f.Add(s + "y")                       // too long
		f.Add(strings.ToUpper(s))            // wrong case
		f.Add(s[:len(s)-1] + "o")            // non-canonical last character (low bits set)
		f.Add(s[:10] + "0" + s[11:])         // '0' is not in the alphabet
		f.Add(s[:10] + "\n" + s[11:])        // newlines are skipped by encoding/base32
		f.Add(s[:len(s)-2] + "==")           // padding
		f.Add(s[:20] + "\xff" + s[21:])      // not UTF-8
		f.Add(s[:len(s)-4] + "\u00e9\u00e9") // multi-byte characters, same byte length
		f.Add(s[:half] + valid[0][half:])    // spliced from two valid strings
	}
	f.Add("")
	f.Add(strings.Repeat("y", 100))
	f.Add(strings.Repeat("9", identity.TextSize))
}

func FuzzParseID(f *testing.F) {
	fuzzTextSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		id, err := identity.ParseID(s)
		var viaText identity.ID
		textErr := viaText.UnmarshalText([]byte(s))
		if (err == nil) != (textErr == nil) || viaText != id {
			t.Fatalf("ParseID(%q) = %v, %v but UnmarshalText gives %v, %v", s, id, err, viaText, textErr)
		}
		if err != nil {
			if !errors.Is(err, identity.ErrBadID) {
				t.Fatalf("ParseID(%q): error %v does not wrap ErrBadID", s, err)
			}
			if id != (identity.ID{}) {
				t.Fatalf("ParseID(%q) failed but returned non-zero id %x", s, id[:])
			}
			return
		}
		if got := id.String(); got != s {
			t.Fatalf("ParseID(%q) = %x, whose String() is %q", s, id[:], got)
		}
		again, err := identity.ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("ParseID(String()) of %x = %x, %v", id[:], again[:], err)
		}
		if txt, err := id.MarshalText(); err != nil || string(txt) != s {
			t.Fatalf("MarshalText of %x = %q, %v; want %q", id[:], txt, err, s)
		}
		if fromBytes, err := identity.IDFromBytes(id.Bytes()); err != nil || fromBytes != id {
			t.Fatalf("IDFromBytes(Bytes()) of %x = %x, %v", id[:], fromBytes[:], err)
		}
		if id.Short() != s[:8] {
			t.Fatalf("Short() = %q, want %q", id.Short(), s[:8])
		}
	})
}

func FuzzParseSeed(f *testing.F) {
	fuzzTextSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		seed, err := identity.ParseSeed(s)
		if err != nil {
			if !errors.Is(err, identity.ErrBadSeed) {
				t.Fatalf("ParseSeed(%q): error %v does not wrap ErrBadSeed", s, err)
			}
			if seed != (identity.Seed{}) {
				t.Fatalf("ParseSeed(%q) failed but returned a non-zero seed", s)
			}
			// A seed and an id share the text form.
			if _, err := identity.ParseID(s); err == nil {
				t.Fatalf("ParseSeed(%q) fails but ParseID accepts it", s)
			}
			return
		}
		if got := seed.String(); got != s {
			t.Fatalf("ParseSeed(%q) gives a seed whose String() is %q", s, got)
		}
		again, err := identity.ParseSeed(seed.String())
		if err != nil || again != seed {
			t.Fatalf("ParseSeed(String()) = %v, want the same seed", err)
		}
		// The same text parses as an id with the same bytes, unless those
		// bytes are not a usable public key.
		id, err := identity.ParseID(s)
		if err != nil && !errors.Is(err, identity.ErrBadID) || err == nil && [identity.IDSize]byte(id) != [identity.SeedSize]byte(seed) {
			t.Fatalf("ParseID(%q) = %v, want the seed's bytes or ErrBadID", s, err)
		}
		// The key derived from a parsed seed keeps that seed.
		if k := identity.New(seed); k.Seed() != seed {
			t.Fatalf("New(seed).Seed() differs from seed")
		}
	})
}

func TestSmallOrderKeysRefused(t *testing.T) {
	var weak identity.ID
	weak[0] = 1 // the identity point
	// Verify decodes the key and keeps it (a cache Check shares): kept,
	// it is refused all the same, every time.
	weak.Verify([]byte("m"), make([]byte, identity.SignatureSize))
	if err := weak.Check(); !errors.Is(err, identity.ErrBadID) || !errors.Is(weak.Check(), identity.ErrBadID) {
		t.Fatalf("Check of the identity point: %v, want ErrBadID", err)
	}
	if _, err := identity.ParseID(weak.String()); !errors.Is(err, identity.ErrBadID) {
		t.Fatalf("ParseID of the identity point: %v, want ErrBadID", err)
	}
	if _, err := identity.IDFromBytes(weak[:]); !errors.Is(err, identity.ErrBadID) {
		t.Fatalf("IDFromBytes of the identity point: %v, want ErrBadID", err)
	}
	k := identity.New(identity.Seed{7})
	for range 2 { // decoded, then kept
		if err := k.ID().Check(); err != nil {
			t.Fatalf("a real key fails Check: %v", err)
		}
	}
	var off identity.ID
	off[0] = 2 // not a curve point
	for range 2 {
		if err := off.Check(); !errors.Is(err, identity.ErrBadID) {
			t.Fatalf("Check of a non-point: %v, want ErrBadID", err)
		}
	}
}
