package room

import (
	"context"
	"errors"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Errors of devices.
var (
	// ErrNotHolder: linking a device needs the identity key, which only
	// the person's first device (or one restored from the recovery code)
	// holds.
	ErrNotHolder = errors.New("room: only a device holding the identity key links devices")
	// ErrDeviceRevoked: this device was revoked; it writes nothing more.
	ErrDeviceRevoked = errors.New("room: this device was revoked")
)

// EventDevice: a device of a person was added or revoked (Device says
// which; State "added" or "revoked"). Peer is the person.
const EventDevice EventType = "device"

// A Self is this profile's device: its certificate and, on a device that
// holds it, the identity key. Config.Device nil is a first device: its key
// is the identity's.
type Self struct {
	Cert     *device.Cert
	Identity *identity.Key // nil unless the device holds it
}

// DeviceInfo is one device of this profile's person.
type DeviceInfo struct {
	ID        identity.ID `json:"id"`
	Label     string      `json:"label"`
	Created   int64       `json:"created"`
	Self      bool        `json:"self"`
	Holder    bool        `json:"holder"`
	Online    bool        `json:"online"`
	Revoked   bool        `json:"revoked,omitempty"`
	RevokedBy identity.ID `json:"revokedBy,omitzero"`
}

// A LinkBundle is what a linked device is given: its certificate, and the
// person's devices, revocations and tasks (docs/devices.md). It is JSON.
type LinkBundle struct {
	Cert        *device.Cert         `json:"cert"`
	Devices     []*device.Cert       `json:"devices"`
	Revocations []*device.Revocation `json:"revocations,omitempty"`
	Tasks       []LinkTask           `json:"tasks"`
}

// LinkTask is one task of a LinkBundle.
type LinkTask struct {
	ID      TaskID            `json:"id"`
	Title   string            `json:"title"`
	Parent  *TaskID           `json:"parent,omitempty"`
	Host    identity.ID       `json:"host"`
	Creator identity.ID       `json:"creator,omitzero"`
	Clock   uint64            `json:"clock"`
	Epoch   uint32            `json:"epoch"`
	Secrets map[uint32][]byte `json:"secrets"`
	Members []LinkMember      `json:"members"`
}

// LinkMember is a member device of a LinkTask.
type LinkMember struct {
	ID   identity.ID  `json:"id"`
	Cert *device.Cert `json:"cert,omitempty"` // nil: a first device
	// InKey is the key of its book to the person, zero if not known yet.
	InKey identity.ID `json:"inKey,omitzero"`
}

// Person is this profile's person: the identity its devices share.
func (m *Messenger) Person() identity.ID { return m.self }

// CanLink reports whether this device holds the identity key.
func (m *Messenger) CanLink() bool { return true }

// SignDevice has the identity certify the device key dev (ErrNotHolder on
// a device without the identity key).
func (m *Messenger) SignDevice(dev identity.ID, label string) (*device.Cert, error) {
	return nil, errors.ErrUnsupported
}

// Link records a device certified by cert, announces it in every task and
// returns what the new device is given.
func (m *Messenger) Link(ctx context.Context, cert *device.Cert) (*LinkBundle, error) {
	return nil, errors.ErrUnsupported
}

// Devices lists this person's devices, this one first.
func (m *Messenger) Devices() []DeviceInfo { return nil }

// RevokeDevice revokes a device of this person (docs/devices.md).
func (m *Messenger) RevokeDevice(ctx context.Context, dev identity.ID) error {
	return errors.ErrUnsupported
}
