package room

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// Linking a device (docs/devices.md, "Linking"): the identity certifies
// the new key, the device is announced in every task, and the new device
// opens with a LinkBundle.

// Link records a device certified by cert, announces it in every task and
// returns what the new device is given.
func (m *Messenger) Link(ctx context.Context, cert *device.Cert) (*LinkBundle, error) {
	if err := cert.Verify(); err != nil {
		return nil, err
	}
	if cert.Person != m.person {
		return nil, fmt.Errorf("room: a certificate of another person (%s)", cert.Person.Short())
	}
	if err := m.checkWritable(); err != nil {
		return nil, err
	}
	if err := m.learnCert(ctx, cert); err != nil {
		return nil, err
	}
	enc := cert.Encode()
	for _, id := range m.taskOrder() {
		t := m.task(id)
		if t == nil {
			continue
		}
		if _, err := m.writeMany(ctx, t, []draft{{TypeDevice, map[string]any{"id": cert.Device, "cert": json.RawMessage(enc)}, nil}}); err != nil {
			return nil, fmt.Errorf("room: announce the device in task %s: %w", id, err)
		}
		if err := m.addDevice(ctx, t, cert.Device); err != nil {
			return nil, err
		}
	}
	return m.bundle(cert), nil
}

// bundle is what a device certified by cert is given.
func (m *Messenger) bundle(cert *device.Cert) *LinkBundle {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := &LinkBundle{Cert: cert}
	for _, c := range m.certs {
		if c.Person == m.person && !c.IsFirst() {
			b.Devices = append(b.Devices, c)
		}
	}
	for _, r := range m.revoked {
		if r.Person == m.person {
			b.Revocations = append(b.Revocations, r)
		}
	}
	for _, id := range m.order {
		t := m.tasks[id]
		if t == nil || t.log == nil || !t.removedBy.IsZero() {
			continue
		}
		lt := m.linkTaskLocked(t)
		lt.Members = append(lt.Members, LinkMember{ID: m.self, Cert: m.certOfLocked(m.self)})
		for _, mb := range t.members {
			if mb.id != cert.Device {
				lt.Members = append(lt.Members, LinkMember{ID: mb.id, Cert: m.certOfLocked(mb.id), InKey: mb.inKey})
			}
		}
		b.Tasks = append(b.Tasks, *lt)
	}
	return b
}

// linkTaskLocked is t as a linked or recalled device is told it, without
// its members. Called with m.mu held.
func (m *Messenger) linkTaskLocked(t *task) *LinkTask {
	lt := &LinkTask{ID: t.id, Title: t.title, Parent: t.parent, Host: t.host, Creator: t.creatorLocked(), Clock: t.clock}
	for _, e := range slices.Sorted(maps.Keys(t.secrets)) {
		lt.Secrets = append(lt.Secrets, epochSecret{e, t.secrets[e]})
	}
	return lt
}

// certOfLocked is a device's certificate, nil for a first device.
func (m *Messenger) certOfLocked(id identity.ID) *device.Cert {
	if c := m.certs[id]; c != nil && !c.IsFirst() {
		return c
	}
	return nil
}

// takeLink records, at the first open of a linked device, the tasks its
// bundle gives: each task with its secrets, its members with their
// certificates and the keys of their books to this person.
func (m *Messenger) takeLink(ctx context.Context, b *LinkBundle) error {
	if b == nil || len(m.order) > 0 {
		return nil
	}
	if err := checkBundle(b, m.self, m.person); err != nil {
		return err
	}
	var recs []record
	for _, c := range b.Devices {
		recs = append(recs, record{Op: opDevice, Cert: c.Encode()})
	}
	for _, r := range b.Revocations {
		recs = append(recs, record{Op: opUnlink, Revocation: r.Encode()})
	}
	now := m.cfg.Now().UnixMilli()
	for _, lt := range b.Tasks {
		recs = append(recs, record{Op: opTask, Task: lt.ID, Title: lt.Title, Parent: lt.Parent, Host: lt.Host, Creator: lt.Creator, Date: now})
		for _, e := range lt.Secrets {
			recs = append(recs, record{Op: opSecret, Task: lt.ID, Epoch: e.Epoch, Secret: e.Secret})
		}
		for _, mb := range lt.Members {
			if mb.ID == m.self {
				continue
			}
			if mb.Cert != nil {
				recs = append(recs, record{Op: opDevice, Cert: mb.Cert.Encode()})
			}
			recs = append(recs, record{Op: opMember, Task: lt.ID, Peer: mb.ID})
			if !mb.InKey.IsZero() {
				recs = append(recs, record{Op: opPair, Task: lt.ID, Peer: mb.ID, Key: mb.InKey, From: 1})
			}
		}
	}
	pages, err := m.recordPages(recs)
	if err != nil {
		return err
	}
	if _, err := m.tasksLog.Append(ctx, pages...); err != nil {
		return fmt.Errorf("room: record the linked tasks: %w", err)
	}
	for _, r := range recs {
		m.apply(r)
	}
	for _, lt := range b.Tasks {
		m.tasks[lt.ID].raiseLocked(lt.Host, lt.Clock)
	}
	return nil
}

// checkBundle verifies a link bundle for device self of person.
func checkBundle(b *LinkBundle, self, person identity.ID) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("room: link bundle: "+format, a...)
	}
	switch {
	case b.Cert == nil || b.Cert.Device != self || b.Cert.Person != person:
		return bad("not this device's certificate")
	case len(b.Tasks) > maxLinkTasks || len(b.Devices) > maxLinkDevices || len(b.Revocations) > maxLinkDevices:
		return bad("too many tasks or devices")
	}
	for _, c := range b.Devices {
		if c == nil || c.Person != person || c.Verify() != nil {
			return bad("a device certificate that does not verify")
		}
	}
	for _, r := range b.Revocations {
		if r == nil || r.Person != person {
			return bad("a revocation of another person")
		}
	}
	for i := range b.Tasks {
		if err := checkLinkTask(&b.Tasks[i]); err != nil {
			return fmt.Errorf("room: link bundle: %w", err)
		}
	}
	return nil
}

// checkLinkTask bounds and verifies a task a linked or recalled device is
// given.
func checkLinkTask(lt *LinkTask) error {
	if _, err := checkTitle(lt.Title); err != nil || len(lt.Members) > MaxMembers+1 || len(lt.Secrets) > maxEpochs || lt.Clock > MaxClock {
		return fmt.Errorf("task %s out of bounds", lt.ID)
	}
	if lt.Parent != nil && *lt.Parent == lt.ID {
		return fmt.Errorf("task %s is its own parent", lt.ID)
	}
	for _, e := range lt.Secrets {
		if len(e.Secret) != seal.KeySize {
			return fmt.Errorf("task %s: a secret of %d bytes", lt.ID, len(e.Secret))
		}
	}
	for _, mb := range lt.Members {
		if mb.ID.Check() != nil || mb.Cert != nil && (mb.Cert.Device != mb.ID || mb.Cert.Verify() != nil) {
			return fmt.Errorf("task %s: a member whose certificate does not verify", lt.ID)
		}
	}
	return nil
}
