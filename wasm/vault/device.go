package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// Meta records of a device (docs/devices.md). A profile without "cert" is
// a person's first device: its seed is the identity's.
var (
	// identityKey holds the identity seed on a device that holds it and
	// is not the first (one restored from the recovery code).
	identityKey = []byte("identity")
	// certKey holds the device's certificate (device.Cert.Encode).
	certKey = []byte("cert")
	// linkKey holds the link bundle (room.LinkBundle's JSON) from the
	// moment the device was linked until the room recorded it.
	linkKey = []byte("link")
)

// MaxBundle bounds a stored link bundle, in bytes.
const MaxBundle = 16 << 20

// Errors of devices.
var (
	// ErrLinked: the profile is a device already; it is not linked again.
	ErrLinked = errors.New("vault: this profile is a linked device already")
	// ErrNotEmptyLink: only an empty profile (see Empty) is linked.
	ErrNotEmptyLink = errors.New("vault: this profile has books or tasks of its own: only an empty profile is linked as a new device (open another profile name, or reset this one first)")
)

// A Device is what makes a profile a device of a person other than its
// first (Link).
type Device struct {
	// Cert is the identity's certificate of the profile's key.
	Cert *device.Cert
	// Identity is the identity seed on a device that holds it (Cert.Holder),
	// nil on others.
	Identity *identity.Seed
	// Bundle is what the linking device gave (room.LinkBundle's JSON); kept
	// until the room recorded it (DoneLink), so that a crash between
	// pairing and the first open loses nothing.
	Bundle []byte
}

// Person is the identity the profile's device belongs to: its own id on
// a first device.
func (p *Profile) Person() identity.ID {
	if p.Cert == nil {
		return p.ID
	}
	return p.Cert.Person
}

// Holder reports whether the profile holds the identity key: a first
// device, or one whose identity seed is stored.
func (p *Profile) Holder() bool { return p.Cert == nil || p.Identity != nil }

// Link makes the empty profile p a device certified by d.Cert, which must
// verify and name p's key, with d.Identity (if any) the seed of
// d.Cert.Person. It writes all of d in one store write, or nothing.
func Link(ctx context.Context, p *Profile, d Device) error {
	if p.Cert != nil {
		return ErrLinked
	}
	if err := checkDevice(p.ID, d.Cert, d.Identity); err != nil {
		return fmt.Errorf("vault: link: %w", err)
	}
	if len(d.Bundle) > MaxBundle {
		return fmt.Errorf("vault: link: a bundle of %d bytes, at most %d", len(d.Bundle), MaxBundle)
	}
	if empty, err := Empty(ctx, p.DB); err != nil {
		return fmt.Errorf("vault: link: %w", err)
	} else if !empty {
		return ErrNotEmptyLink
	}
	seed := p.DB.Identity().Seed()
	var b store.Batch
	b.Expect(store.TableMeta, seedKey, seed[:])
	b.Expect(store.TableMeta, certKey, nil)
	b.Put(store.TableMeta, certKey, d.Cert.Encode())
	if d.Identity != nil {
		b.Put(store.TableMeta, identityKey, bytes.Clone(d.Identity[:]))
	}
	if d.Bundle != nil {
		b.Put(store.TableMeta, linkKey, bytes.Clone(d.Bundle))
	}
	if err := p.Store.Write(ctx, &b); err != nil {
		return fmt.Errorf("vault: link: %w", err)
	}
	p.Cert = d.Cert
	if d.Identity != nil {
		p.Identity = identity.New(*d.Identity)
	}
	return nil
}

// PendingLink is the link bundle the room has not recorded yet, nil if
// there is none.
func (p *Profile) PendingLink(ctx context.Context) ([]byte, error) {
	v, err := store.GetOne(ctx, p.Store, store.TableMeta, linkKey)
	if err != nil {
		return nil, fmt.Errorf("vault: link bundle: %w", err)
	}
	if len(v) > MaxBundle {
		return nil, fmt.Errorf("vault: stored link bundle of %d bytes, at most %d", len(v), MaxBundle)
	}
	return v, nil
}

// DoneLink forgets the link bundle once the room recorded it.
func (p *Profile) DoneLink(ctx context.Context) error {
	var b store.Batch
	b.Delete(store.TableMeta, linkKey)
	if err := p.Store.Write(ctx, &b); err != nil {
		return fmt.Errorf("vault: link bundle: %w", err)
	}
	return nil
}

// loadDevice checks a profile's stored device records, its certificate
// and identity seed (certKey, identityKey; nil if absent): none on a first
// device.
func loadDevice(self identity.ID, certV, seedV []byte) (*device.Cert, *identity.Key, error) {
	if certV == nil {
		if seedV != nil {
			return nil, nil, errors.New("stored identity seed without a certificate")
		}
		return nil, nil, nil
	}
	cert, err := device.DecodeCert(certV)
	if err != nil {
		return nil, nil, fmt.Errorf("stored certificate: %w", err)
	}
	var seed *identity.Seed
	if seedV != nil {
		if len(seedV) != identity.SeedSize {
			return nil, nil, fmt.Errorf("stored identity seed of %d bytes", len(seedV))
		}
		s := identity.Seed(seedV)
		seed = &s
	}
	if err := checkDevice(self, cert, seed); err != nil {
		return nil, nil, fmt.Errorf("stored certificate: %w", err)
	}
	if seed == nil {
		return cert, nil, nil
	}
	return cert, identity.New(*seed), nil
}

// checkDevice checks that cert certifies self, another key than the
// identity's, and that seed (if any) is the identity's.
func checkDevice(self identity.ID, cert *device.Cert, seed *identity.Seed) error {
	switch {
	case cert == nil:
		return fmt.Errorf("%w: none", device.ErrBadCert)
	case cert.Device != self:
		return fmt.Errorf("%w: it names device %s, this profile is %s", device.ErrBadCert, cert.Device.Short(), self.Short())
	case cert.IsFirst():
		return fmt.Errorf("%w: a first device has none", device.ErrBadCert)
	case seed != nil && identity.New(*seed).ID() != cert.Person:
		return fmt.Errorf("%w: the identity seed is not %s's", device.ErrBadCert, cert.Person.Short())
	case seed != nil && !cert.Holder:
		return fmt.Errorf("%w: the identity seed on a device that is not a holder", device.ErrBadCert)
	case seed == nil && cert.Holder:
		return fmt.Errorf("%w: a holder's certificate without the identity seed", device.ErrBadCert)
	}
	return cert.Verify()
}
