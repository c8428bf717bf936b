// Package device is one person on several devices: a person is an
// identity key (the profile's first seed, its recovery code), and each
// device (a browser profile) writes with a key of its own, certified by the
// identity. Two devices never share a writer, so they never fork.
//
// A Cert is the identity's signature naming a device; the first device of
// a person needs none (its key is the identity's: Device == Person). A
// Revocation ends a device: signed by the identity key, or by another
// device of the person (with its Cert), which may revoke any device but
// one that holds the identity key. Revocations are never undone, so two
// devices that revoke each other at once are both revoked, in whatever
// order they are seen: the outcome does not depend on the order.
//
// Both encode as JSON objects of at most MaxEncoded bytes; decoders take
// untrusted input and verify nothing: call Verify.
package device

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Bounds.
const (
	// MaxLabel is the longest device label, in bytes.
	MaxLabel = 64
	// MaxEncoded bounds an encoded Cert or Revocation.
	MaxEncoded = 1024
	// MaxDevices is the most devices a person has in a task (revoked ones
	// included).
	MaxDevices = 16
)

// Errors.
var (
	// ErrBadCert: a certificate that does not verify or is out of bounds.
	ErrBadCert = errors.New("device: bad certificate")
	// ErrBadRevocation: a revocation that does not verify, or that its
	// signer may not make.
	ErrBadRevocation = errors.New("device: bad revocation")
)

const (
	certContext   = "taskmessenger/device/cert/v1\n"
	revokeContext = "taskmessenger/device/revoke/v1\n"
)

// A Cert says that the identity Person certifies the device key Device.
type Cert struct {
	Person identity.ID `json:"person"`
	Device identity.ID `json:"device"`
	// Label names the device for people ("laptop — Chromium").
	Label string `json:"label"`
	// Created is when the identity signed it (Unix ms; shown, not trusted).
	Created int64 `json:"created"`
	// Holder: the device holds the identity key (a device restored from
	// the recovery code). Only the identity key revokes a holder.
	Holder bool   `json:"holder,omitempty"`
	Sig    []byte `json:"sig"`
}

// Sign makes person's certificate of the device key dev.
func Sign(person *identity.Key, dev identity.ID, label string, created int64, holder bool) (*Cert, error) {
	label, err := CheckLabel(label)
	if err != nil {
		return nil, err
	}
	c := &Cert{Person: person.ID(), Device: dev, Label: label, Created: created, Holder: holder}
	c.Sig = person.Sign(c.signed())
	return c, nil
}

// First is the certificate a person's first device has without a
// signature: its key is the identity's.
func First(person identity.ID, label string) *Cert {
	return &Cert{Person: person, Device: person, Label: label, Holder: true}
}

// IsFirst reports whether c is a first device's (its key the identity's).
func (c *Cert) IsFirst() bool { return c.Device == c.Person }

func (c *Cert) signed() []byte {
	b := make([]byte, 0, len(certContext)+2*identity.IDSize+16+len(c.Label))
	b = append(b, certContext...)
	b = append(b, c.Person[:]...)
	b = append(b, c.Device[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Created))
	if c.Holder {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return append(b, c.Label...)
}

// Verify checks the certificate: a first device's needs no signature;
// any other must be signed by Person and name another key.
func (c *Cert) Verify() error {
	if _, err := CheckLabel(c.Label); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCert, err)
	}
	if err := c.Device.Check(); err != nil {
		return fmt.Errorf("%w: device key: %v", ErrBadCert, err)
	}
	if c.IsFirst() {
		return nil
	}
	if err := c.Person.Check(); err != nil {
		return fmt.Errorf("%w: identity key: %v", ErrBadCert, err)
	}
	if !c.Person.Verify(c.signed(), c.Sig) {
		return fmt.Errorf("%w: device %s: not signed by %s", ErrBadCert, c.Device.Short(), c.Person.Short())
	}
	return nil
}

// Encode is the JSON form.
func (c *Cert) Encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// DecodeCert reads the JSON form (bounded; not verified).
func DecodeCert(b []byte) (*Cert, error) {
	var c Cert
	if err := decode(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCert, err)
	}
	return &c, nil
}

// A Revocation ends device Device of Person, signed by By: the identity
// (By == Person) or another certified device of the person.
type Revocation struct {
	Person  identity.ID `json:"person"`
	Device  identity.ID `json:"device"`
	By      identity.ID `json:"by"`
	Created int64       `json:"created"`
	Sig     []byte      `json:"sig"`
}

// Revoke makes signer's revocation of dev. signer is the identity key
// (byCert nil) or a device key and its certificate.
func Revoke(signer *identity.Key, byCert *Cert, person, dev identity.ID, created int64) (*Revocation, error) {
	r := &Revocation{Person: person, Device: dev, By: signer.ID(), Created: created}
	if byCert == nil && signer.ID() != person {
		return nil, fmt.Errorf("%w: a device revokes with its certificate", ErrBadRevocation)
	}
	if byCert != nil && (byCert.Device != signer.ID() || byCert.Person != person) {
		return nil, fmt.Errorf("%w: certificate of another device", ErrBadRevocation)
	}
	r.Sig = signer.Sign(r.signed())
	return r, nil
}

func (r *Revocation) signed() []byte {
	b := make([]byte, 0, len(revokeContext)+3*identity.IDSize+8)
	b = append(b, revokeContext...)
	b = append(b, r.Person[:]...)
	b = append(b, r.Device[:]...)
	b = append(b, r.By[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(r.Created))
}

// Verify checks the revocation of the device certified by target (nil
// when it is not known), signed by the device certified by by (nil when
// By is the identity). A device may revoke itself and any device of its
// person but one holding the identity key.
func (r *Revocation) Verify(by, target *Cert) error {
	if target != nil && (target.Device != r.Device || target.Person != r.Person) {
		return fmt.Errorf("%w: certificate of another device", ErrBadRevocation)
	}
	switch {
	case r.By == r.Person:
		if err := r.Person.Check(); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRevocation, err)
		}
	case by == nil || by.Device != r.By || by.Person != r.Person:
		return fmt.Errorf("%w: signer %s is not a device of %s", ErrBadRevocation, r.By.Short(), r.Person.Short())
	default:
		if err := by.Verify(); err != nil {
			return fmt.Errorf("%w: signer: %v", ErrBadRevocation, err)
		}
		if r.By != r.Device && (r.Device == r.Person || target != nil && target.Holder) {
			return fmt.Errorf("%w: only the identity key revokes a device that holds it", ErrBadRevocation)
		}
	}
	if !r.By.Verify(r.signed(), r.Sig) {
		return fmt.Errorf("%w: not signed by %s", ErrBadRevocation, r.By.Short())
	}
	return nil
}

// Encode is the JSON form.
func (r *Revocation) Encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// DecodeRevocation reads the JSON form (bounded; not verified).
func DecodeRevocation(b []byte) (*Revocation, error) {
	var r Revocation
	if err := decode(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRevocation, err)
	}
	return &r, nil
}

func decode(b []byte, v any) error {
	if len(b) > MaxEncoded {
		return fmt.Errorf("%d bytes, at most %d", len(b), MaxEncoded)
	}
	return json.Unmarshal(b, v)
}

// CheckLabel trims a label and checks it: at most MaxLabel bytes of
// UTF-8, no control characters.
func CheckLabel(label string) (string, error) {
	label = strings.TrimSpace(label)
	switch {
	case len(label) > MaxLabel:
		return "", fmt.Errorf("device: label of %d bytes, at most %d", len(label), MaxLabel)
	case !utf8.ValidString(label):
		return "", errors.New("device: label is not UTF-8")
	case strings.IndexFunc(label, unicode.IsControl) >= 0:
		return "", errors.New("device: label has a control character")
	}
	return label, nil
}
