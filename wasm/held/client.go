package held

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Client messages: what a device tells a mirror on the same channel
// (issue #14). A device that is not its person's first presents its
// certificate ("device"), so the mirror serves it the books of its person;
// a device sends the revocations of its person it knows ("revoke"), so the
// mirror serves a revoked device nothing and takes no more of its pages.
// One JSON object per message, bounded: see docs/format.md.
const (
	// TypeDevice: {"v":1,"type":"device","cert":<device.Cert>}. The cert
	// names the port's peer.
	TypeDevice = "device"
	// TypeRevoke: {"v":1,"type":"revoke","revocation":<device.Revocation>,
	// "by":<the signer's cert, absent when the identity signed>,
	// "target":<the revoked device's cert>}.
	TypeRevoke = "revoke"

	// MaxClientMessage is the most bytes of a client message.
	MaxClientMessage = 4 << 10
	// MaxClientMessages is the most client messages a mirror takes on one
	// port: a device sends its certificate and its person's revocations
	// (at most device.MaxDevices), and each revocation it makes after.
	MaxClientMessages = 64
)

// ErrUnknownType: a client message of a type this version does not know
// (a mirror ignores it: a newer client may say more).
var ErrUnknownType = errors.New("held: unknown message type")

// A ClientMessage is a message from a device to a mirror.
type ClientMessage struct {
	Type       string
	Cert       *device.Cert       // TypeDevice
	Revocation *device.Revocation // TypeRevoke
	By         *device.Cert       // TypeRevoke: the signer's, nil if the identity signed
	Target     *device.Cert       // TypeRevoke: the revoked device's, if known
	Books      []identity.ID      // TypeRelease (release.go)
}

type clientJSON struct {
	V          int             `json:"v"`
	Type       string          `json:"type"`
	Cert       json.RawMessage `json:"cert,omitempty"`
	Revocation json.RawMessage `json:"revocation,omitempty"`
	By         json.RawMessage `json:"by,omitempty"`
	Target     json.RawMessage `json:"target,omitempty"`
}

// EncodeDevice is the message presenting a device's certificate.
func EncodeDevice(c *device.Cert) []byte {
	b, _ := json.Marshal(clientJSON{V: Version, Type: TypeDevice, Cert: c.Encode()})
	return b
}

// EncodeRevoke is the message of a revocation, with the signer's
// certificate (nil when the identity signed it) and the revoked device's
// (nil if not known).
func EncodeRevoke(r *device.Revocation, by, target *device.Cert) []byte {
	msg := clientJSON{V: Version, Type: TypeRevoke, Revocation: r.Encode()}
	if by != nil {
		msg.By = by.Encode()
	}
	if target != nil {
		msg.Target = target.Encode()
	}
	b, _ := json.Marshal(msg)
	return b
}

// DecodeClient parses a client message. It checks its form and bounds, not
// the signatures (ClientMessage.Verify). A type it does not know is
// ErrUnknownType.
func DecodeClient(b []byte) (*ClientMessage, error) {
	if len(b) > MaxClientMessage {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadMessage, len(b), MaxClientMessage)
	}
	var j clientJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if j.V != Version {
		return nil, fmt.Errorf("%w: version %d (this is %d)", ErrBadMessage, j.V, Version)
	}
	msg := &ClientMessage{Type: j.Type}
	var err error
	switch j.Type {
	case TypeDevice:
		msg.Cert, err = device.DecodeCert(j.Cert)
	case TypeRevoke:
		msg.Revocation, err = device.DecodeRevocation(j.Revocation)
		if err == nil && j.By != nil {
			msg.By, err = device.DecodeCert(j.By)
		}
		if err == nil && j.Target != nil {
			msg.Target, err = device.DecodeCert(j.Target)
		}
	case TypeRelease:
		msg.Books, err = decodeRelease(b)
	default:
		return nil, fmt.Errorf("%w: %.32q", ErrUnknownType, j.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadMessage, j.Type, err)
	}
	return msg, nil
}

// Verify checks a message from peer: a certificate must name peer and be
// signed by its person; a revocation must verify with its certificates
// (device.Revocation.Verify). A revocation by another device than the
// revoked one must carry the revoked device's certificate, verified too:
// without it nobody can tell whether that device holds the identity key,
// which only the identity may revoke.
func (c *ClientMessage) Verify(peer identity.ID) error {
	switch c.Type {
	case TypeDevice:
		if c.Cert.Device != peer {
			return fmt.Errorf("%w: the certificate names device %s, not the sender %s", device.ErrBadCert, c.Cert.Device.Short(), peer.Short())
		}
		return c.Cert.Verify()
	case TypeRevoke:
		r := c.Revocation
		if r.By != r.Person && r.By != r.Device && c.Target == nil {
			return fmt.Errorf("%w: device %s revoked by another device without its certificate", device.ErrBadRevocation, r.Device.Short())
		}
		if c.Target != nil {
			if err := c.Target.Verify(); err != nil {
				return fmt.Errorf("%w: the revoked device's certificate: %v", device.ErrBadRevocation, err)
			}
		}
		by := c.By
		if r.By == r.Person {
			by = nil
		}
		return r.Verify(by, c.Target)
	case TypeRelease:
		return nil // the mirror releases only the books peer authored
	}
	return fmt.Errorf("%w: %.32q", ErrUnknownType, c.Type)
}
