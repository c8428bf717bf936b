package device

import (
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	s, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	return identity.New(s)
}

func TestCertSignVerify(t *testing.T) {
	person, dev := newKey(t), newKey(t)
	c, err := Sign(person, dev.ID(), "  laptop — Chromium ", 1700000000000, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Label != "laptop — Chromium" {
		t.Errorf("label %q not trimmed", c.Label)
	}
	if err := c.Verify(); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeCert(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(); err != nil {
		t.Fatalf("decoded: %v", err)
	}
	if err := First(person.ID(), "phone").Verify(); err != nil {
		t.Fatalf("first device: %v", err)
	}
}

func TestCertTampered(t *testing.T) {
	person, dev, other := newKey(t), newKey(t), newKey(t)
	for name, change := range map[string]func(c *Cert){
		"person":  func(c *Cert) { c.Person = other.ID() },
		"device":  func(c *Cert) { c.Device = other.ID() },
		"label":   func(c *Cert) { c.Label = "desktop" },
		"created": func(c *Cert) { c.Created++ },
		"holder":  func(c *Cert) { c.Holder = true },
		"sig":     func(c *Cert) { c.Sig[0] ^= 1 },
		"no sig":  func(c *Cert) { c.Sig = nil },
		"bad label": func(c *Cert) {
			c.Label = "a\x00b"
		},
	} {
		c, err := Sign(person, dev.ID(), "laptop", 1, false)
		if err != nil {
			t.Fatal(err)
		}
		change(c)
		if err := c.Verify(); !errors.Is(err, ErrBadCert) {
			t.Errorf("%s changed: %v, want ErrBadCert", name, err)
		}
	}
	// A certificate signed by a device, not the identity.
	c, _ := Sign(other, dev.ID(), "laptop", 1, false)
	c.Person = person.ID()
	if err := c.Verify(); !errors.Is(err, ErrBadCert) {
		t.Errorf("signed by another key: %v", err)
	}
}

func TestCheckLabel(t *testing.T) {
	for _, bad := range []string{strings.Repeat("x", MaxLabel+1), "\xff", "tab\there", "new\nline"} {
		if _, err := CheckLabel(bad); err == nil {
			t.Errorf("label %q accepted", bad)
		}
	}
	if got, err := CheckLabel(" " + strings.Repeat("é", MaxLabel/2) + " "); err != nil || len(got) != MaxLabel {
		t.Errorf("a label of %d bytes: %q, %v", MaxLabel, got, err)
	}
}

// persona is a person with its first device, a linked device, a holder
// (restored from the recovery code) and a second linked device.
type persona struct {
	id                              *identity.Key
	first                           *Cert
	linked, other, holder           *identity.Key
	linkedCert, otherCert, holdCert *Cert
}

func newPersona(t *testing.T) *persona {
	t.Helper()
	p := &persona{id: newKey(t), linked: newKey(t), other: newKey(t), holder: newKey(t)}
	p.first = First(p.id.ID(), "first")
	var err error
	if p.linkedCert, err = Sign(p.id, p.linked.ID(), "linked", 1, false); err != nil {
		t.Fatal(err)
	}
	if p.otherCert, err = Sign(p.id, p.other.ID(), "other", 1, false); err != nil {
		t.Fatal(err)
	}
	if p.holdCert, err = Sign(p.id, p.holder.ID(), "holder", 1, true); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRevocationRules: the identity revokes any device; a device revokes
// itself and any device but a holder or the first device.
func TestRevocationRules(t *testing.T) {
	p := newPersona(t)
	person := p.id.ID()
	for _, tc := range []struct {
		name   string
		signer *identity.Key
		by     *Cert // the signer's certificate (nil: the identity)
		target *Cert
		ok     bool
	}{
		{"identity revokes a linked device", p.id, nil, p.linkedCert, true},
		{"identity revokes a holder", p.id, nil, p.holdCert, true},
		{"identity revokes the first device", p.id, nil, p.first, true},
		{"identity revokes an unknown device", p.id, nil, nil, true},
		{"device revokes a sibling", p.linked, p.linkedCert, p.otherCert, true},
		{"device revokes itself", p.linked, p.linkedCert, p.linkedCert, true},
		{"holder revokes itself", p.holder, p.holdCert, p.holdCert, true},
		{"holder revokes a sibling", p.holder, p.holdCert, p.linkedCert, true},
		{"device revokes a holder", p.linked, p.linkedCert, p.holdCert, false},
		{"device revokes the first device", p.linked, p.linkedCert, p.first, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := person
			if tc.target != nil {
				dev = tc.target.Device
			}
			r, err := Revoke(tc.signer, tc.by, person, dev, 2)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeRevocation(r.Encode())
			if err != nil {
				t.Fatal(err)
			}
			err = back.Verify(tc.by, tc.target)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadRevocation) {
				t.Fatalf("accepted (%v), want ErrBadRevocation", err)
			}
		})
	}
}

func TestRevocationTampered(t *testing.T) {
	p := newPersona(t)
	stranger := newKey(t)
	strangerCert, _ := Sign(stranger, stranger.ID(), "x", 1, false)
	for name, check := range map[string]func() error{
		"signature": func() error {
			r, _ := Revoke(p.linked, p.linkedCert, p.id.ID(), p.other.ID(), 2)
			r.Sig[5] ^= 1
			return r.Verify(p.linkedCert, p.otherCert)
		},
		"created": func() error {
			r, _ := Revoke(p.id, nil, p.id.ID(), p.other.ID(), 2)
			r.Created = 3
			return r.Verify(nil, p.otherCert)
		},
		"target of another device": func() error {
			r, _ := Revoke(p.id, nil, p.id.ID(), p.other.ID(), 2)
			return r.Verify(nil, p.linkedCert)
		},
		"signer without certificate": func() error {
			r, _ := Revoke(p.linked, p.linkedCert, p.id.ID(), p.other.ID(), 2)
			return r.Verify(nil, p.otherCert)
		},
		"signer of another person": func() error {
			r := &Revocation{Person: p.id.ID(), Device: p.other.ID(), By: stranger.ID(), Created: 2}
			r.Sig = stranger.Sign(r.signed())
			return r.Verify(strangerCert, p.otherCert)
		},
		"signer's certificate forged": func() error {
			forged := *p.linkedCert
			forged.Label = "forged"
			r, _ := Revoke(p.linked, p.linkedCert, p.id.ID(), p.other.ID(), 2)
			return r.Verify(&forged, p.otherCert)
		},
		"by swapped": func() error {
			r, _ := Revoke(p.linked, p.linkedCert, p.id.ID(), p.other.ID(), 2)
			r.By = p.other.ID()
			return r.Verify(p.otherCert, p.otherCert)
		},
	} {
		if err := check(); !errors.Is(err, ErrBadRevocation) {
			t.Errorf("%s: %v, want ErrBadRevocation", name, err)
		}
	}
	// Revoke refuses to make what Verify would refuse to read.
	if _, err := Revoke(p.linked, nil, p.id.ID(), p.other.ID(), 2); err == nil {
		t.Error("a device revoked without its certificate")
	}
	if _, err := Revoke(p.linked, p.otherCert, p.id.ID(), p.other.ID(), 2); err == nil {
		t.Error("a device revoked with another's certificate")
	}
}

func TestDecodeBounds(t *testing.T) {
	big := []byte(`{"label":"` + strings.Repeat("x", MaxEncoded) + `"}`)
	if _, err := DecodeCert(big); !errors.Is(err, ErrBadCert) {
		t.Errorf("oversized certificate: %v", err)
	}
	if _, err := DecodeRevocation(big); !errors.Is(err, ErrBadRevocation) {
		t.Errorf("oversized revocation: %v", err)
	}
	if _, err := DecodeCert([]byte(`{"person":"not a key"}`)); !errors.Is(err, ErrBadCert) {
		t.Errorf("bad key: %v", err)
	}
}

func FuzzDecodeCert(f *testing.F) {
	person, dev := identity.New(identity.Seed{1}), identity.New(identity.Seed{2})
	c, _ := Sign(person, dev.ID(), "laptop", 1, true)
	f.Add(c.Encode())
	f.Add(First(person.ID(), "first").Encode())
	f.Add([]byte(`{"person":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCert(b)
		if err != nil {
			if !errors.Is(err, ErrBadCert) {
				t.Fatalf("error %v does not wrap ErrBadCert", err)
			}
			return
		}
		if c.Verify() != nil {
			return
		}
		back, err := DecodeCert(c.Encode())
		if err != nil || back.Verify() != nil {
			t.Fatalf("a verified certificate does not survive encoding: %v", err)
		}
	})
}

func FuzzDecodeRevocation(f *testing.F) {
	person, dev := identity.New(identity.Seed{1}), identity.New(identity.Seed{2})
	r, _ := Revoke(person, nil, person.ID(), dev.ID(), 1)
	f.Add(r.Encode())
	f.Add([]byte(`{"by":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRevocation(b)
		if err != nil {
			if !errors.Is(err, ErrBadRevocation) {
				t.Fatalf("error %v does not wrap ErrBadRevocation", err)
			}
			return
		}
		if err := r.Verify(nil, nil); err == nil && r.By != r.Person {
			t.Fatalf("a device-signed revocation verified without its signer's certificate")
		}
	})
}
