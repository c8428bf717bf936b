package held_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// devices returns a person, and two devices it certified (keys, certs).
func devices(t testing.TB) (person *identity.Key, keys [2]*identity.Key, certs [2]*device.Cert) {
	person = identity.New(identity.Seed{1})
	for i := range keys {
		keys[i] = identity.New(identity.Seed{byte(2 + i)})
		c, err := device.Sign(person, keys[i].ID(), "device", 1700000000000, false)
		if err != nil {
			t.Fatal(err)
		}
		certs[i] = c
	}
	return person, keys, certs
}

// TestClientDevice: a device's certificate verifies from that device only.
func TestClientDevice(t *testing.T) {
	_, keys, certs := devices(t)
	msg, err := held.DecodeClient(held.EncodeDevice(certs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Type != held.TypeDevice || msg.Cert.Device != keys[0].ID() || !bytes.Equal(msg.Cert.Sig, certs[0].Sig) {
		t.Fatalf("decoded %+v", msg)
	}
	if err := msg.Verify(keys[0].ID()); err != nil {
		t.Fatal(err)
	}
	if err := msg.Verify(keys[1].ID()); !errors.Is(err, device.ErrBadCert) {
		t.Fatalf("another device's certificate taken: %v", err)
	}
	msg.Cert.Label = "forged"
	if err := msg.Verify(keys[0].ID()); !errors.Is(err, device.ErrBadCert) {
		t.Fatalf("a changed certificate taken: %v", err)
	}
}

// TestClientRevoke: a revocation verifies with its signer's certificate;
// by another device, only with the revoked device's certificate.
func TestClientRevoke(t *testing.T) {
	person, keys, certs := devices(t)
	byID, err := device.Revoke(person, nil, person.ID(), keys[0].ID(), 5)
	if err != nil {
		t.Fatal(err)
	}
	byDev, err := device.Revoke(keys[1], certs[1], person.ID(), keys[0].ID(), 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		enc     []byte
		wantErr bool
	}{
		{"by the identity", held.EncodeRevoke(byID, nil, nil), false},
		{"by a device, with the target", held.EncodeRevoke(byDev, certs[1], certs[0]), false},
		{"by a device, no target", held.EncodeRevoke(byDev, certs[1], nil), true},
		{"by a device, no signer's certificate", held.EncodeRevoke(byDev, nil, certs[0]), true},
		{"by a device, another target", held.EncodeRevoke(byDev, certs[1], certs[1]), true},
	} {
		msg, err := held.DecodeClient(c.enc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = msg.Verify(keys[1].ID())
		if (err != nil) != c.wantErr || err != nil && !errors.Is(err, device.ErrBadRevocation) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestClientBad: out of bounds, of another version, or of an unknown type.
func TestClientBad(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{`{"v":1,"type":"hello"}`, held.ErrUnknownType},
		{`{"v":2,"type":"device","cert":{}}`, held.ErrBadMessage},
		{`{"v":1,"type":"device"}`, held.ErrBadMessage},
		{`{"v":1,"type":"revoke","revocation":"x"}`, held.ErrBadMessage},
		{`[]`, held.ErrBadMessage},
		{`{"v":1,"type":"device","cert":{"label":"` + string(bytes.Repeat([]byte("a"), held.MaxClientMessage)) + `"}}`, held.ErrBadMessage},
	} {
		if _, err := held.DecodeClient([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%.60s: %v, want %v", c.in, err, c.want)
		}
	}
}

// FuzzDecodeClient: any input decodes or fails cleanly; what decodes
// verifies or fails cleanly too.
func FuzzDecodeClient(f *testing.F) {
	person, keys, certs := devices(f)
	rv, _ := device.Revoke(person, nil, person.ID(), keys[0].ID(), 5)
	f.Add(held.EncodeDevice(certs[0]))
	f.Add(held.EncodeRevoke(rv, certs[1], certs[0]))
	f.Add([]byte(`{"v":1,"type":"revoke","revocation":{}}`))
	f.Add(held.EncodeRelease([]identity.ID{keys[0].ID()})[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := held.DecodeClient(b)
		if err != nil {
			return
		}
		_ = msg.Verify(keys[0].ID())
	})
}
