// Package vault keeps named profiles: a profile ("ana", "bob", …) is a
// store of its own holding a seed, generated once with crypto/rand (the
// browser's crypto.getRandomValues under js/wasm), and the profile's DB.
// Opening a profile again gives the same id and the same books; two
// profiles never share a store.
//
// A profile is one device of a person (docs/devices.md). Its seed is the
// device's key and the DB's. A profile with no certificate is the person's
// first device: its key is the identity's (every profile made before
// devices is one). Link makes an empty profile another device: it stores
// the identity's certificate of its key ("cert"), the identity seed on a
// device that holds it ("identity"), and the link bundle until the room
// recorded it ("link").
package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// ErrBadName means a profile name that is empty, too long or not
// lowercase letters, digits, '-' and '_'.
var ErrBadName = errors.New("vault: bad profile name")

// An Opener opens (creating if needed) the store of a named profile.
type Opener func(ctx context.Context, name string) (store.Store, error)

// A Profile is an open profile.
type Profile struct {
	Name  string
	ID    identity.ID // the device's key: the DB's
	Store store.Store
	DB    *journal.DB
	// Cert is the device's certificate; nil on a person's first device
	// (every profile made before devices), whose key is the identity's.
	Cert *device.Cert
	// Identity is the identity key on a device that holds it and is not
	// the first; nil otherwise.
	Identity *identity.Key
}

var seedKey = []byte("seed")

// CheckName validates a profile name.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w %q: 1 to 64 characters", ErrBadName, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%w %q: only a-z, 0-9, '-' and '_'", ErrBadName, name)
		}
	}
	return nil
}

// Open opens the profile called name, creating its seed the first time.
func Open(ctx context.Context, name string, open Opener, opts *journal.Options) (p *Profile, err error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	st, err := open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("vault: profile %q: %w", name, err)
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	// The seed and the device's records in one request: a start waits
	// for each request in turn.
	vs, err := st.Get(ctx, store.TableMeta, seedKey, certKey, identityKey)
	if err != nil {
		return nil, fmt.Errorf("vault: profile %q: %w", name, err)
	}
	seed, err := loadSeed(ctx, st, vs[0])
	if err != nil {
		return nil, fmt.Errorf("vault: profile %q: %w", name, err)
	}
	cert, idKey, err := loadDevice(identity.New(seed).ID(), vs[1], vs[2])
	if err != nil {
		return nil, fmt.Errorf("vault: profile %q: %w", name, err)
	}
	db, err := journal.Open(ctx, st, seed, opts)
	if err != nil {
		return nil, fmt.Errorf("vault: profile %q: %w", name, err)
	}
	return &Profile{Name: name, ID: db.ID(), Store: st, DB: db, Cert: cert, Identity: idKey}, nil
}

// loadSeed returns the stored seed v, or makes and stores one if v is nil.
func loadSeed(ctx context.Context, st store.Store, v []byte) (identity.Seed, error) {
	if v != nil {
		if len(v) != identity.SeedSize {
			return identity.Seed{}, fmt.Errorf("stored seed of %d bytes", len(v))
		}
		return identity.Seed(v), nil
	}
	seed, err := identity.NewSeed()
	if err != nil {
		return identity.Seed{}, err
	}
	var b store.Batch
	b.Put(store.TableMeta, seedKey, seed[:])
	return seed, st.Write(ctx, &b)
}

// Close closes the profile's store.
func (p *Profile) Close() error { return p.Store.Close() }
