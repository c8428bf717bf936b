package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// One person, many devices (issue #14; docs/devices.md). A member of a
// task is a person; the room keeps one member per device it knows, and
// m.certs says whose each device is (a device without a certificate is a
// first device: its own person). A device writes one book per other
// person, "${device}-${person}-${task}", read by every device of that
// person, and one to its own person when it has siblings; it reads each
// author device's book to its own person. So a device linked later finds
// every book it reads already written, held by its siblings, which serve
// them (replication version 2 holders).
//
// A device is taken as a member of a task on a verified certificate whose
// person is a member (or this profile's person), unless revoked: from its
// pairing join (wire "cert") or from its person's announcement, a "device"
// message {id, cert} in each task, written by the device that linked it.
// A "revoke-device" message {id, revocation} ends a device everywhere.

// Errors of devices.
var (
	// ErrNotHolder: linking a device needs the identity key, which only
	// the person's first device (or one restored from the recovery code)
	// holds.
	ErrNotHolder = errors.New("room: only a device holding the identity key links devices")
	// ErrDeviceRevoked: this device was revoked; it writes nothing more.
	ErrDeviceRevoked = errors.New("room: this device was revoked")
)

// Message types of devices.
const (
	TypeDevice       = "device"        // data {id, cert}: the author's person has this device
	TypeRevokeDevice = "revoke-device" // data {id, revocation}: the device is revoked
)

// EventDevice: a device of a person was added or revoked (Device says
// which; State "added" or "revoked"). Peer is the person.
const EventDevice EventType = "device"

// Record ops of devices (records.go).
const (
	opDevice = "device" // cert: a verified certificate
	opUnlink = "unlink" // revocation: a verified revocation
)

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
	ID      TaskID        `json:"id"`
	Title   string        `json:"title"`
	Parent  *TaskID       `json:"parent,omitempty"`
	Host    identity.ID   `json:"host"`
	Creator identity.ID   `json:"creator,omitzero"`
	Clock   uint64        `json:"clock"`
	Secrets []epochSecret `json:"secrets"` // epoch 0 included
	Members []LinkMember  `json:"members"`
}

// LinkMember is a member device of a LinkTask.
type LinkMember struct {
	ID   identity.ID  `json:"id"`
	Cert *device.Cert `json:"cert,omitempty"` // nil: a first device
	// InKey is the key of its book to the person, zero if not known yet.
	InKey identity.ID `json:"inKey,omitzero"`
}

// Bounds of a link bundle.
const (
	maxLinkTasks   = 4096
	maxLinkDevices = 4 * device.MaxDevices
)

// setDevice takes Config.Device.
func (m *Messenger) setDevice(s *Self) error {
	self := m.db.ID()
	if s == nil || s.Cert == nil {
		m.person, m.me, m.idKey = self, device.First(self, ""), m.db.Identity()
		return nil
	}
	c := s.Cert
	switch err := c.Verify(); {
	case err != nil:
		return fmt.Errorf("room: this device's certificate: %w", err)
	case c.Device != self:
		return fmt.Errorf("room: the certificate names device %s, not this one (%s)", c.Device.Short(), self.Short())
	case s.Identity != nil && s.Identity.ID() != c.Person:
		return errors.New("room: the identity key is not the certificate's")
	}
	m.person, m.me, m.idKey = c.Person, c, s.Identity
	if c.IsFirst() {
		m.idKey = m.db.Identity()
	}
	m.certs[self] = c
	m.snapCertsLocked()
	return nil
}

// Person is this profile's person: the identity its devices share.
func (m *Messenger) Person() identity.ID { return m.person }

// CanLink reports whether this device holds the identity key.
func (m *Messenger) CanLink() bool { return m.idKey != nil }

// PersonOf is the person of a device (itself if no certificate says
// otherwise).
func (m *Messenger) PersonOf(id identity.ID) identity.ID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.personLocked(id)
}

func (m *Messenger) personLocked(id identity.ID) identity.ID {
	if c := m.certs[id]; c != nil {
		return c.Person
	}
	return id
}

// labelLocked is a device's label, "" if none.
func (m *Messenger) labelLocked(id identity.ID) string {
	if c := m.certs[id]; c != nil {
		return c.Label
	}
	return ""
}

// SignDevice has the identity certify the device key dev (ErrNotHolder on
// a device without the identity key).
func (m *Messenger) SignDevice(dev identity.ID, label string) (*device.Cert, error) {
	if m.idKey == nil {
		return nil, ErrNotHolder
	}
	if err := dev.Check(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	_, revoked := m.revoked[dev]
	m.mu.Unlock()
	if revoked || dev == m.person {
		return nil, fmt.Errorf("room: device %s cannot be linked again", dev.Short())
	}
	return device.Sign(m.idKey, dev, label, m.cfg.Now().UnixMilli(), false)
}

// learnCert verifies and records a device's certificate, if new.
func (m *Messenger) learnCert(ctx context.Context, c *device.Cert) error {
	if c.IsFirst() {
		return nil
	}
	if err := c.Verify(); err != nil {
		return err
	}
	m.mu.Lock()
	known := m.certs[c.Device]
	m.mu.Unlock()
	switch {
	case known != nil && known.Person == c.Person:
		return nil
	case known != nil:
		return fmt.Errorf("%w: device %s is certified by %s already", device.ErrBadCert, c.Device.Short(), known.Person.Short())
	}
	if err := m.keepRecord(ctx, record{Op: opDevice, Cert: c.Encode()}); err != nil {
		return err
	}
	m.emit(Event{Type: EventDevice, Peer: c.Person, Device: c.Device, State: "added"})
	return nil
}

// applyDevice applies a device record. Called with m.mu held (or before
// the messenger runs).
func (m *Messenger) applyDevice(r record) {
	switch r.Op {
	case opDevice:
		if c, err := device.DecodeCert(r.Cert); err == nil && m.certs[c.Device] == nil {
			m.certs[c.Device] = c
			m.snapCertsLocked()
		}
	case opUnlink:
		if rv, err := device.DecodeRevocation(r.Revocation); err == nil && m.revoked[rv.Device] == nil {
			m.revoked[rv.Device] = rv
		}
	}
}

// deviceOK says why a device certified by c may not be a member of t:
// its person must be a member of t (or this profile's person), it must not
// be revoked, and its person has at most device.MaxDevices in t. Called
// with m.mu held.
func (m *Messenger) deviceOKLocked(t *task, c *device.Cert) error {
	if m.revoked[c.Device] != nil {
		return fmt.Errorf("room: device %s was revoked", c.Device.Short())
	}
	n, member := 0, c.Person == m.person
	for id := range t.members {
		if m.personLocked(id) == c.Person {
			n++
			member = true
		}
	}
	switch {
	case !member:
		return fmt.Errorf("%w: %s is not a member of task %s", ErrNotInvited, c.Person.Short(), t.id)
	case n >= device.MaxDevices:
		return fmt.Errorf("%w: %s has %d devices in task %s already", ErrTooManyMembers, c.Person.Short(), n, t.id)
	}
	return nil
}

// takeDevice admits the peer of a pairing join as a device of a member
// person, on its certificate. It returns nil if the peer is a member
// (then or already).
func (m *Messenger) takeDevice(ctx context.Context, t *task, peer identity.ID, enc []byte) error {
	if enc == nil {
		return fmt.Errorf("%w: this member does not know you, and you bring no invite", ErrNotInvited)
	}
	c, err := device.DecodeCert(enc)
	if err != nil {
		return err
	}
	if c.Device != peer {
		return fmt.Errorf("%w: the certificate names another device", device.ErrBadCert)
	}
	if err := m.learnCert(ctx, c); err != nil {
		return err
	}
	return m.addDevice(ctx, t, peer)
}

// addDevice admits a device whose certificate is known as a member of t
// and starts pairing with it.
func (m *Messenger) addDevice(ctx context.Context, t *task, id identity.ID) error {
	m.mu.Lock()
	c := m.certs[id]
	_, known := t.members[id]
	var err error
	if c == nil {
		err = fmt.Errorf("%w: device %s has no certificate", device.ErrBadCert, id.Short())
	} else if !known {
		err = m.deviceOKLocked(t, c)
	}
	m.mu.Unlock()
	if err != nil || known || id == m.self {
		return err
	}
	r := record{Op: opMember, Task: t.id, Peer: id}
	if err := m.keepRecord(ctx, r); err != nil {
		return err
	}
	m.trusted(id)
	m.emit(Event{Type: EventMember, Task: t.id, Peer: id, State: "added"})
	m.mu.Lock()
	conn := m.conns[id]
	m.mu.Unlock()
	if conn != nil {
		m.goSend(func(ctx context.Context) { _ = m.send(ctx, conn, m.joinFor(t.id, id, nil)) })
	}
	m.dial(id)
	return nil
}

// onDevice takes a "device" message: the author's person has a new
// device, which becomes a member of the task.
func (m *Messenger) onDevice(ctx context.Context, t *task, msg Message) {
	var d struct {
		ID   identity.ID     `json:"id"`
		Cert json.RawMessage `json:"cert"`
	}
	if json.Unmarshal(msg.Data, &d) != nil {
		return
	}
	c, err := device.DecodeCert(d.Cert)
	// A person's device announces another, or itself (a device restored
	// from the recovery code: recall.go).
	if err != nil || c.Device != d.ID || c.Person != m.PersonOf(msg.Head.By) && c.Device != msg.Head.By {
		m.log.Info("room: a device announcement not taken", "by", msg.Head.By.Short(), "err", err)
		return
	}
	if err := m.learnCert(ctx, c); err != nil {
		m.log.Info("room: a device announcement not taken", "by", msg.Head.By.Short(), "err", err)
		return
	}
	if err := m.addDevice(ctx, t, c.Device); err != nil {
		m.fail(err)
	}
}

// Devices lists this person's devices, this one first.
func (m *Messenger) Devices() []DeviceInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	info := func(c *device.Cert) DeviceInfo {
		d := DeviceInfo{ID: c.Device, Label: c.Label, Created: c.Created, Self: c.Device == m.self, Holder: c.Holder || c.IsFirst(),
			Online: c.Device == m.self || m.conns[c.Device] != nil}
		if r := m.revoked[c.Device]; r != nil {
			d.Revoked, d.RevokedBy = true, r.By
		}
		return d
	}
	out := []DeviceInfo{info(m.me)}
	if m.person != m.self {
		if _, ok := m.certs[m.person]; !ok {
			out = append(out, info(device.First(m.person, "")))
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(m.certs), compareIDs) {
		if c := m.certs[id]; c.Person == m.person && id != m.self {
			out = append(out, info(c))
		}
	}
	return out
}

// taskOrder is the tasks' ids, in their order.
func (m *Messenger) taskOrder() []TaskID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.order)
}

// outBookLocked is this profile's book to a member's person in t, if one
// of that person's devices has it already. Called with m.mu held.
func (m *Messenger) outBookLocked(t *task, person identity.ID) *journal.Book {
	for _, mb := range t.members {
		if mb.out != nil && m.personLocked(mb.id) == person {
			return mb.out
		}
	}
	return nil
}

func compareIDs(a, b identity.ID) int { return bytes.Compare(a[:], b[:]) }

// ownCert is this device's certificate for the wire: nil for a first
// device.
func (m *Messenger) ownCert() json.RawMessage {
	if m.me.IsFirst() {
		return nil
	}
	return m.me.Encode()
}

// answerCert learns the certificate a pairing answer carries: it must
// name the port's peer.
func (m *Messenger) answerCert(peer identity.ID, enc json.RawMessage) error {
	if enc == nil {
		return nil
	}
	c, err := device.DecodeCert(enc)
	if err != nil {
		return err
	}
	if c.Device != peer {
		return fmt.Errorf("%w: the certificate names another device", device.ErrBadCert)
	}
	return m.learnCert(m.ctx, c)
}

// deviceSyncLocked sets up the replication of a port to peer for devices:
// the books to its person are its too, and a sibling (a device of this
// profile's person) serves and is followed through for the books of
// other members to the person. Called with m.mu held.
func (m *Messenger) deviceSyncLocked(cfg *replication.Config, peer identity.ID) {
	cfg.Reader = m.personLocked(peer)
	if cfg.Reader != m.person || peer == m.self {
		// A member serves a person's devices the books the person's
		// devices wrote to it (their history, for a recalled device), and
		// this profile follows its own person's such books through it;
		// and the books of members that left to the members that joined
		// after (departed.go).
		cfg.Serve = func(book, to identity.ID) bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			ref, ok := m.replica[book]
			return ok && ref.peer != to && m.personLocked(ref.peer) == m.personLocked(to) && m.revoked[to] == nil ||
				m.servesDepartedLocked(book, to)
		}
		cfg.FollowVia = func(book, holder identity.ID) bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.history[book]
		}
		return
	}
	cfg.Serve = func(book, to identity.ID) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ours := m.replica[book]
		return ours && m.personLocked(to) == m.person && m.revoked[to] == nil
	}
	cfg.FollowVia = func(book, holder identity.ID) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ours := m.replica[book]
		return ours && m.personLocked(holder) == m.person && m.revoked[holder] == nil
	}
}

// DeviceOf is the person of a device and the device's label. It takes no
// lock (subscribers call it).
func (m *Messenger) DeviceOf(id identity.ID) (person identity.ID, label string) {
	if snap := m.certSnap.Load(); snap != nil {
		if c := (*snap)[id]; c != nil {
			return c.Person, c.Label
		}
	}
	return id, ""
}

// snapCertsLocked publishes m.certs for DeviceOf. Called with m.mu held
// (or before the messenger runs).
func (m *Messenger) snapCertsLocked() {
	snap := maps.Clone(m.certs)
	m.certSnap.Store(&snap)
}

// historyIn reports whether a member's book this profile reads is a
// sibling's history (its book to another person, taken at a recall),
// which the sibling's own book to this person replaces once paired.
func (m *Messenger) historyIn(mb *member) bool {
	if mb.in == nil {
		return false
	}
	name := mb.in.Info().Name
	r, ok := journal.NameReader(name)
	return ok && r != m.person
}
