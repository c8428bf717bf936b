package backup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// cheap are parameters that keep the tests fast; the format is the same.
var cheap = Params{N: minScryptN, R: 8, P: 1}

func seed(b byte) identity.Seed {
	var s identity.Seed
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func sealed(t *testing.T, s identity.Seed, pass string) *Backup {
	t.Helper()
	seal, err := sealWith(s, pass, KDFScrypt, cheap)
	if err != nil {
		t.Fatal(err)
	}
	ex := journal.Export{Format: journal.ExportFormat, Version: 1, Profile: identity.New(s).ID(), Books: []journal.ExportBook{}}
	return &Backup{Export: ex, Seal: seal}
}

// roundTrip encodes b as JSON and decodes it.
func roundTrip(t *testing.T, b *Backup) *Backup {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode(%s): %v", data, err)
	}
	return out
}

func TestSealRoundTrip(t *testing.T) {
	for _, c := range []struct {
		kdf string
		p   Params
	}{{KDFScrypt, cheap}, {KDFArgon2id, Params{T: 1, M: 64, P: 1}}} {
		t.Run(c.kdf, func(t *testing.T) {
			s := seed(1)
			seal, err := sealWith(s, "correct horse", c.kdf, c.p)
			if err != nil {
				t.Fatal(err)
			}
			b := roundTrip(t, &Backup{Export: journal.Export{Format: journal.ExportFormat, Version: 1, Profile: identity.New(s).ID()}, Seal: seal})
			got, err := b.Unseal("correct horse")
			if err != nil || got != s {
				t.Fatalf("Unseal = %v, %v; want the seed", got, err)
			}
		})
	}
}

func TestNewDefault(t *testing.T) {
	s := seed(2)
	ex := &journal.Export{Format: journal.ExportFormat, Version: 1, Profile: identity.New(s).ID()}
	b, err := New(ex, s, "pass phrase")
	if err != nil {
		t.Fatal(err)
	}
	if b.Seal.KDF != DefaultKDF || b.Seal.Params != DefaultParams {
		t.Fatalf("seal %s %+v, want the defaults", b.Seal.KDF, b.Seal.Params)
	}
	if got, err := roundTrip(t, b).Unseal("pass phrase"); err != nil || got != s {
		t.Fatalf("Unseal = %v; want the seed", err)
	}
	if _, err := New(ex, seed(3), "pass phrase"); err == nil {
		t.Fatal("New with another profile's seed: no error")
	}
	if _, err := New(ex, s, ""); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("New with no passphrase = %v, want ErrNoPassphrase", err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	b := roundTrip(t, sealed(t, seed(1), "correct horse"))
	for _, p := range []string{"correct hors", "Correct horse", "correct horse "} {
		if _, err := b.Unseal(p); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("Unseal(%q) = %v, want ErrWrongPassphrase", p, err)
		}
	}
	if _, err := b.Unseal(""); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("Unseal(\"\") = %v, want ErrNoPassphrase", err)
	}
	if ErrWrongPassphrase.Error() != "wrong passphrase or damaged backup" {
		t.Fatalf("the page shows %q", ErrWrongPassphrase)
	}
}

func TestTampered(t *testing.T) {
	fields := map[string]func(s *Seal){
		"ciphertext": func(s *Seal) { s.Ciphertext[3] ^= 1 },
		"tag":        func(s *Seal) { s.Ciphertext[len(s.Ciphertext)-1] ^= 0x80 },
		"nonce":      func(s *Seal) { s.Nonce[0] ^= 1 },
		"salt":       func(s *Seal) { s.Salt[15] ^= 1 },
		"params":     func(s *Seal) { s.Params.R = 4 },
	}
	for name, change := range fields {
		t.Run(name, func(t *testing.T) {
			b := sealed(t, seed(1), "correct horse")
			change(b.Seal)
			if _, err := roundTrip(t, b).Unseal("correct horse"); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("Unseal = %v, want ErrWrongPassphrase", err)
			}
		})
	}
}

// TestOtherProfile: a seal moved into another profile's export (or the
// export's profile id changed) does not open.
func TestOtherProfile(t *testing.T) {
	b := sealed(t, seed(1), "correct horse")
	b.Profile = identity.New(seed(9)).ID()
	if _, err := roundTrip(t, b).Unseal("correct horse"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Unseal = %v, want ErrWrongPassphrase", err)
	}
}

func TestWrongVersion(t *testing.T) {
	b := sealed(t, seed(1), "correct horse")
	b.Seal.V = 2
	data, _ := json.Marshal(b)
	if _, err := Decode(data); !errors.Is(err, ErrBadSeal) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("Decode = %v, want ErrBadSeal naming version 2", err)
	}
	// A seal of version 2 with version 1's check skipped still fails: the
	// version is in the associated data.
	b.Seal.V = 1
	ad1 := AdditionalData(1, b.Profile)
	if string(ad1) == string(AdditionalData(2, b.Profile)) {
		t.Fatal("the version is not in the associated data")
	}
}

func TestBounds(t *testing.T) {
	for name, p := range map[string]struct {
		kdf string
		p   Params
	}{
		"scrypt n not a power of 2": {KDFScrypt, Params{N: 3000, R: 8, P: 1}},
		"scrypt n small":            {KDFScrypt, Params{N: 512, R: 8, P: 1}},
		"scrypt 128 MiB":            {KDFScrypt, Params{N: 1 << 17, R: 8, P: 1}},
		"scrypt huge n":             {KDFScrypt, Params{N: 1 << 60, R: 1, P: 1}},
		"scrypt p 5":                {KDFScrypt, Params{N: 1 << 10, R: 8, P: 5}},
		"scrypt r 0":                {KDFScrypt, Params{N: 1 << 10, R: 0, P: 1}},
		"scrypt with t":             {KDFScrypt, Params{N: 1 << 10, R: 8, P: 1, T: 1}},
		"argon2id 128 MiB":          {KDFArgon2id, Params{T: 1, M: 128 << 10, P: 1}},
		"argon2id t 0":              {KDFArgon2id, Params{T: 0, M: 64, P: 1}},
		"argon2id t 5":              {KDFArgon2id, Params{T: 5, M: 64, P: 1}},
		"argon2id p 0":              {KDFArgon2id, Params{T: 1, M: 64, P: 0}},
		"unknown kdf":               {"pbkdf2", Params{N: 1 << 10, R: 8, P: 1}},
	} {
		s := &Seal{V: Version, KDF: p.kdf, Params: p.p, Salt: make([]byte, SaltSize), Nonce: make([]byte, NonceSize), Ciphertext: make([]byte, CiphertextSize)}
		if err := s.Check(); !errors.Is(err, ErrBadSeal) {
			t.Errorf("%s: Check = %v, want ErrBadSeal", name, err)
		}
	}
	b := sealed(t, seed(1), "x")
	b.Seal.Ciphertext = b.Seal.Ciphertext[:CiphertextSize-1]
	if err := b.Seal.Check(); !errors.Is(err, ErrBadSeal) {
		t.Errorf("short ciphertext: Check = %v, want ErrBadSeal", err)
	}
	if _, err := sealWith(seed(1), strings.Repeat("x", maxPassphrase+1), KDFScrypt, cheap); err == nil {
		t.Error("a passphrase over the bound was accepted")
	}
}

func TestDecode(t *testing.T) {
	good, err := json.Marshal(sealed(t, seed(1), "correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"truncated":    string(good[:len(good)/2]),
		"truncated 1":  string(good[:len(good)-1]),
		"empty":        "",
		"not json":     "hello",
		"foreign json": `{"name":"x","version":1}`,
		"array":        `[1,2]`,
		"other format": strings.Replace(string(good), journal.ExportFormat, "other-export", 1),
		"no profile":   `{"format":"` + journal.ExportFormat + `","version":1,"books":[]}`,
		"version 2":    strings.Replace(string(good), `"version":1`, `"version":2`, 1),
	} {
		if _, err := Decode([]byte(data)); !errors.Is(err, ErrNotBackup) {
			t.Errorf("%s: Decode = %v, want ErrNotBackup", name, err)
		}
	}
	for name, data := range map[string]string{
		"seal not an object": strings.Replace(string(good), `"seal":{`, `"seal":["x"],"x":{`, 1),
		"seal big":           strings.Replace(string(good), `"seal":{`, `"seal":{"pad":"`+strings.Repeat("a", maxSealJSON)+`",`, 1),
	} {
		if _, err := Decode([]byte(data)); !errors.Is(err, ErrBadSeal) {
			t.Errorf("%s: Decode = %v, want ErrBadSeal", name, err)
		}
	}
	// Without a seal: the books only.
	plain := `{"format":"` + journal.ExportFormat + `","version":1,"profile":"` + identity.New(seed(1)).ID().String() + `","books":[]}`
	b, err := Decode([]byte(plain))
	if err != nil || b.Seal != nil {
		t.Fatalf("Decode(no seal) = %+v, %v", b, err)
	}
	if _, err := b.Unseal("x"); !errors.Is(err, ErrNoSeal) {
		t.Fatalf("Unseal of a backup without a seal = %v, want ErrNoSeal", err)
	}
}

// Of: the books of a DB, the seed sealed only when a passphrase is given.
func TestOf(t *testing.T) {
	ctx := context.Background()
	db, err := journal.Open(ctx, store.NewMemory(), seed(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Author(ctx, "notes", nil); err != nil {
		t.Fatal(err)
	}
	plain, err := Of(ctx, db, "")
	if err != nil || plain.Seal != nil || plain.Profile != db.ID() || len(plain.Books) == 0 {
		t.Fatalf("Of without a passphrase: %+v, %v", plain, err)
	}
	b, err := Of(ctx, db, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := roundTrip(t, b).Unseal("correct horse"); err != nil || s != seed(3) {
		t.Fatalf("Unseal = %v, %v; want the DB's seed", s, err)
	}
}
