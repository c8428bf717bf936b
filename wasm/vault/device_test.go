package vault_test

import (
	"context"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	seed, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	return identity.New(seed)
}

// TestLegacyIsFirstDevice: a profile with a seed alone is its person's
// first device: its own id is the person, and it holds the identity.
func TestLegacyIsFirstDevice(t *testing.T) {
	ctx := context.Background()
	p, err := vault.Open(ctx, "ana", stores{}.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cert != nil || p.Identity != nil || p.Person() != p.ID || !p.Holder() {
		t.Fatalf("legacy profile: cert %v, identity %v, person %s, holder %v", p.Cert, p.Identity, p.Person().Short(), p.Holder())
	}
	if b, err := p.PendingLink(ctx); err != nil || b != nil {
		t.Fatalf("PendingLink: %q, %v", b, err)
	}
}

// TestLink: an empty profile becomes a device of another person; the
// certificate and the bundle survive a reopen, the bundle until DoneLink.
func TestLink(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	person := newKey(t)
	p, err := vault.Open(ctx, "phone", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := device.Sign(person, p.ID, "phone", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	bundle := []byte(`{"cert":{}}`)
	if err := vault.Link(ctx, p, vault.Device{Cert: cert, Bundle: bundle}); err != nil {
		t.Fatal(err)
	}
	if p.Person() != person.ID() || p.Holder() {
		t.Fatalf("linked: person %s holder %v", p.Person().Short(), p.Holder())
	}
	if err := vault.Link(ctx, p, vault.Device{Cert: cert}); !errors.Is(err, vault.ErrLinked) {
		t.Fatalf("second Link: %v, want ErrLinked", err)
	}
	again, err := vault.Open(ctx, "phone", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != p.ID || again.Cert == nil || again.Cert.Person != person.ID() || again.Cert.Label != "phone" || again.Identity != nil {
		t.Fatalf("reopened: id %s cert %+v identity %v", again.ID.Short(), again.Cert, again.Identity)
	}
	if b, err := again.PendingLink(ctx); err != nil || string(b) != string(bundle) {
		t.Fatalf("PendingLink after reopen: %q, %v", b, err)
	}
	if err := again.DoneLink(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := again.PendingLink(ctx); err != nil || b != nil {
		t.Fatalf("PendingLink after DoneLink: %q, %v", b, err)
	}
}

// TestLinkHolder: a device given the identity seed (one restored from the
// recovery code) holds the identity after a reopen.
func TestLinkHolder(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	person := newKey(t)
	p, err := vault.Open(ctx, "laptop", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := device.Sign(person, p.ID, "laptop", 1, true)
	seed := person.Seed()
	if err := vault.Link(ctx, p, vault.Device{Cert: cert}); !errors.Is(err, device.ErrBadCert) {
		t.Fatalf("a holder's cert without the seed: %v", err)
	}
	if err := vault.Link(ctx, p, vault.Device{Cert: cert, Identity: &seed}); err != nil {
		t.Fatal(err)
	}
	again, err := vault.Open(ctx, "laptop", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Holder() || again.Identity.ID() != person.ID() || again.Person() != person.ID() {
		t.Fatalf("reopened holder: %v %v", again.Holder(), again.Identity)
	}
}

// TestLinkRefuses: a certificate of another key, a forged one, another
// identity's seed, or a profile that is not empty: nothing is written.
func TestLinkRefuses(t *testing.T) {
	ctx := context.Background()
	person, other := newKey(t), newKey(t)
	all := stores{}
	p, err := vault.Open(ctx, "phone", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	ofOther, _ := device.Sign(person, other.ID(), "x", 1, false)
	forged, _ := device.Sign(person, p.ID, "x", 1, false)
	forged.Label = "y"
	holder, _ := device.Sign(person, p.ID, "x", 1, true)
	wrongSeed := other.Seed()
	first := device.First(p.ID, "x")
	for name, d := range map[string]vault.Device{
		"none":             {},
		"another device":   {Cert: ofOther},
		"forged":           {Cert: forged},
		"a first device's": {Cert: first},
		"another's seed":   {Cert: holder, Identity: &wrongSeed},
	} {
		if err := vault.Link(ctx, p, d); !errors.Is(err, device.ErrBadCert) {
			t.Errorf("%s: %v, want ErrBadCert", name, err)
		}
	}
	b, _ := p.DB.Author(ctx, "notes", nil)
	if _, err := b.Append(ctx, []byte(`"mine"`)); err != nil {
		t.Fatal(err)
	}
	good, _ := device.Sign(person, p.ID, "phone", 1, false)
	if err := vault.Link(ctx, p, vault.Device{Cert: good}); !errors.Is(err, vault.ErrNotEmptyLink) {
		t.Fatalf("link of a profile with books: %v", err)
	}
	again, err := vault.Open(ctx, "phone", all.open, nil)
	if err != nil || again.Cert != nil {
		t.Fatalf("a refused link was stored: %v, %v", again.Cert, err)
	}
}

// TestBadDeviceRecords: a profile whose stored certificate is not its
// own key's does not open.
func TestBadDeviceRecords(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	if _, err := vault.Open(ctx, "phone", all.open, nil); err != nil {
		t.Fatal(err)
	}
	person := newKey(t)
	cert, _ := device.Sign(person, newKey(t).ID(), "x", 1, false)
	var b store.Batch
	b.Put(store.TableMeta, []byte("cert"), cert.Encode())
	if err := all["phone"].Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(ctx, "phone", all.open, nil); !errors.Is(err, device.ErrBadCert) {
		t.Fatalf("open with another key's certificate: %v", err)
	}
}

// TestRestoreForgetsDevice: a restore of another identity into an empty
// linked profile makes it that identity's first device.
func TestRestoreForgetsDevice(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	p, err := vault.Open(ctx, "phone", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	person := newKey(t)
	cert, _ := device.Sign(person, p.ID, "phone", 1, false)
	if err := vault.Link(ctx, p, vault.Device{Cert: cert, Bundle: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	other := newKey(t)
	ex := &journal.Export{Format: journal.ExportFormat, Version: 1, Profile: other.ID()}
	if _, _, err := vault.Restore(ctx, p, other.Seed(), ex); err != nil {
		t.Fatal(err)
	}
	again, err := vault.Open(ctx, "phone", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != other.ID() || again.Cert != nil || again.Person() != other.ID() {
		t.Fatalf("restored: id %s cert %v", again.ID.Short(), again.Cert)
	}
	if b, _ := again.PendingLink(ctx); b != nil {
		t.Fatalf("the old link bundle survived a restore: %q", b)
	}
}
