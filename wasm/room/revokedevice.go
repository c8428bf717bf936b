package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Revoking a device (docs/devices.md, "Revoking"): a signed revocation,
// told to every peer online and written into every task; every member
// ends the device there and the task's minter makes the next secret.

// RevokeDevice revokes a device of this person (docs/devices.md): with
// the identity key on a device that holds it, else with this device's
// own key and certificate. The device's later messages are refused by
// every member, and each task's creator makes the next secret.
func (m *Messenger) RevokeDevice(ctx context.Context, dev identity.ID) error {
	m.mu.Lock()
	target, done := m.certs[dev], m.revoked[dev] != nil
	m.mu.Unlock()
	if dev == m.person {
		target = device.First(dev, "")
	}
	switch {
	case target == nil || target.Person != m.person:
		return fmt.Errorf("room: %s is not a device of yours", dev.Short())
	case done:
		return nil
	}
	// From the check to the record, this device's last words wait: a
	// revocation it makes is in them, or it was revoked first and makes
	// none (sayLastWords).
	m.revoking.Lock()
	if err := m.checkWritable(); err != nil {
		m.revoking.Unlock()
		return err
	}
	var rv *device.Revocation
	var err error
	var by *device.Cert
	if m.idKey != nil {
		rv, err = device.Revoke(m.idKey, nil, m.person, dev, m.cfg.Now().UnixMilli())
	} else {
		by = m.me
		rv, err = device.Revoke(m.db.Identity(), m.me, m.person, dev, m.cfg.Now().UnixMilli())
	}
	if err == nil {
		err = rv.Verify(by, target)
	}
	if err == nil {
		err = m.recordRevocation(ctx, rv)
	}
	m.revoking.Unlock()
	if err != nil {
		return err
	}
	return m.takeRevocation(ctx, rv, true)
}

// recordRevocation keeps a verified revocation and tells the mirrors.
func (m *Messenger) recordRevocation(ctx context.Context, rv *device.Revocation) error {
	if err := m.keepRecord(ctx, record{Op: opUnlink, Revocation: rv.Encode()}); err != nil {
		return err
	}
	m.tellMirrors(rv)
	return nil
}

// takeRevocation records a verified revocation and ends the device in
// every task; announce: this profile made it, and writes it into each.
func (m *Messenger) takeRevocation(ctx context.Context, rv *device.Revocation, announce bool) error {
	m.mu.Lock()
	done := m.revoked[rv.Device] != nil
	m.mu.Unlock()
	if done && !announce {
		return nil
	}
	// A holder echoes a revocation it learns into its own books: they are
	// never cut (only the identity revokes a holder), so every member
	// learns it, whichever revoked device it stopped reading first.
	announce = announce || m.idKey != nil && rv.Person == m.person && m.checkWritable() == nil
	if !done {
		if err := m.recordRevocation(ctx, rv); err != nil {
			return err
		}
	}
	enc := rv.Encode()
	if rv.Device == m.self {
		m.sayLastWords(m.liveConns(), enc)
	} else {
		m.tellRevocation(enc, rv.Device) // before the next secret: members take it from the new minter
	}
	for _, id := range m.taskOrder() {
		t := m.task(id)
		if t == nil {
			continue
		}
		if announce {
			data := map[string]any{"id": rv.Device, "revocation": json.RawMessage(enc)}
			if _, err := m.writeMany(ctx, t, []draft{{TypeRevokeDevice, data, nil}}); err != nil && !errors.Is(err, ErrDeviceRevoked) {
				return fmt.Errorf("room: announce the revocation in task %s: %w", id, err)
			}
		}
		if err := m.endDevice(ctx, t, rv); err != nil {
			return err
		}
	}
	m.closePorts(rv.Device, enc)
	m.emit(Event{Type: EventDevice, Peer: rv.Person, Device: rv.Device, State: "revoked"})
	return nil
}

// wireRevokeDevice tells a peer online of a revocation at once.
const wireRevokeDevice = "revoke-device"

// tellRevocation sends a revocation to every peer on a port now but the
// revoked device (closePorts tells it, then closes its ports).
func (m *Messenger) tellRevocation(enc []byte, revoked identity.ID) {
	for _, c := range m.liveConns() {
		if c.peer != revoked {
			m.goSend(func(ctx context.Context) { _ = m.send(ctx, c, wire{Type: wireRevokeDevice, Revocation: enc}) })
		}
	}
}

// liveConns is the current port to each peer.
func (m *Messenger) liveConns() []*conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	conns := make([]*conn, 0, len(m.conns))
	for _, c := range m.conns {
		conns = append(conns, c)
	}
	return conns
}

// sayLastWords is what this device, told it is revoked, says on each of
// conns before its peers close them: the revocations it made, then its
// own revocation (enc), which tells the peer it may close the port. A
// revocation it made may have reached no one yet (two devices revoking
// each other at once): it still stands on its signature.
func (m *Messenger) sayLastWords(conns []*conn, enc []byte) {
	m.revoking.Lock() // a RevokeDevice past its check records first
	m.mu.Lock()
	var made [][]byte
	for _, rv := range m.revoked {
		if rv.By == m.self && rv.Device != m.self {
			made = append(made, rv.Encode())
		}
	}
	m.mu.Unlock()
	m.revoking.Unlock()
	for _, c := range conns {
		m.goSend(func(ctx context.Context) {
			for _, b := range append(made, enc) {
				if m.send(ctx, c, wire{Type: wireRevokeDevice, Revocation: b}) != nil {
					return
				}
			}
		})
	}
}

// isRevoked says whether dev was revoked.
func (m *Messenger) isRevoked(dev identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked[dev] != nil
}

// onRevokeWire takes a revocation a peer tells: it stands on its
// signature and the certificates known here, whoever brings it.
func (m *Messenger) onRevokeWire(c *conn, w wire) {
	rv, err := device.DecodeRevocation(w.Revocation)
	if err == nil {
		err = m.verifyRevocation(rv, identity.ID{})
	}
	if err != nil {
		m.log.Info("room: a revocation not taken", "from", c.peer.Short(), "err", err)
		return
	}
	switch {
	case !m.isRevoked(rv.Device):
		if err := m.takeRevocation(m.ctx, rv, false); err != nil {
			m.fail(err)
		}
	case rv.Device == m.self:
		m.sayLastWords([]*conn{c}, w.Revocation) // another peer told it first
	}
	if rv.Device == c.peer {
		c.saidOnce.Do(func() { close(c.said) }) // its last words: closePorts may close
	}
}

// endDevice removes a revoked device from t (its messages held stay), and
// makes the next secret if this profile makes t's secrets.
func (m *Messenger) endDevice(ctx context.Context, t *task, rv *device.Revocation) error {
	m.mu.Lock()
	_, member := t.members[rv.Device]
	m.mu.Unlock()
	if !member || rv.Device == m.self {
		return nil
	}
	r := record{Op: opRemove, Task: t.id, Peer: rv.Device, By: rv.By, Mid: m.heldOf(t, rv.Device)}
	if err := m.keepRecord(ctx, r); err != nil {
		return err
	}
	m.mu.Lock()
	mints := m.minterLocked(t) == m.self
	m.mu.Unlock()
	if mints {
		if err := m.rotate(ctx, t); err != nil {
			return err
		}
	}
	m.afterRemoval(t, rv.Device)
	return nil
}

// onRevokeDevice takes a "revoke-device" message of a device of the same
// person as the revoked one.
func (m *Messenger) onRevokeDevice(ctx context.Context, msg Message) {
	var d struct {
		ID         identity.ID     `json:"id"`
		Revocation json.RawMessage `json:"revocation"`
	}
	if json.Unmarshal(msg.Data, &d) != nil {
		return
	}
	rv, err := device.DecodeRevocation(d.Revocation)
	if err == nil && rv.Device != d.ID {
		err = fmt.Errorf("%w: names another device", device.ErrBadRevocation)
	}
	if err == nil {
		err = m.verifyRevocation(rv, msg.Head.By)
	}
	if err != nil {
		m.log.Info("room: a revocation not taken", "by", msg.Head.By.Short(), "err", err)
		return
	}
	if err := m.takeRevocation(ctx, rv, false); err != nil {
		m.fail(err)
	}
}

// verifyRevocation checks a revocation written by author, a device of the
// same person, against the certificates known here.
func (m *Messenger) verifyRevocation(rv *device.Revocation, author identity.ID) error {
	m.mu.Lock()
	by, target, authorPerson := m.certs[rv.By], m.certs[rv.Device], m.personLocked(author)
	m.mu.Unlock()
	if !author.IsZero() && authorPerson != rv.Person {
		return fmt.Errorf("%w: written by %s, not a device of %s", device.ErrBadRevocation, author.Short(), rv.Person.Short())
	}
	if rv.By == rv.Person {
		by = nil
	}
	return rv.Verify(by, target)
}

// minterLocked is who makes t's secrets: its creator, or if that device
// was revoked, the least of its person's devices not revoked that this
// profile knows in t (itself included). Called with m.mu held.
func (m *Messenger) minterLocked(t *task) identity.ID {
	c := t.creatorLocked()
	if m.revoked[c] == nil {
		return c
	}
	person := m.personLocked(c)
	var best identity.ID
	consider := func(id identity.ID) {
		if m.personLocked(id) == person && m.revoked[id] == nil && (best.IsZero() || compareIDs(id, best) < 0) {
			best = id
		}
	}
	consider(m.self)
	for id := range t.members {
		consider(id)
	}
	return best
}

// checkWritable refuses writes of a revoked device.
func (m *Messenger) checkWritable() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked[m.self] != nil {
		return ErrDeviceRevoked
	}
	return nil
}

// lastWordsWait bounds how long closePorts waits for a revoked device's
// last words.
const lastWordsWait = 5 * time.Second

// closePorts tells a revoked device its revocation, then closes every
// port to it: its replication sessions would go on serving it its
// person's books. Before closing it waits, at most lastWordsWait, for the
// device's last words (sayLastWords), read meanwhile as revocations only:
// a revocation it made at once may be known nowhere else. A port it opens
// again is a stranger's, whose joins are refused.
func (m *Messenger) closePorts(dev identity.ID, enc []byte) {
	if dev == m.self {
		return
	}
	m.mu.Lock()
	var conns []*conn
	for _, c := range m.served {
		if c.peer == dev {
			conns = append(conns, c)
		}
	}
	m.mu.Unlock()
	for _, c := range conns {
		m.goSend(func(ctx context.Context) {
			if m.send(ctx, c, wire{Type: wireRevokeDevice, Revocation: enc}) == nil {
				wait := time.NewTimer(lastWordsWait)
				select {
				case <-c.said:
				case <-c.mux.Done():
				case <-wait.C:
				case <-ctx.Done():
				}
				wait.Stop()
			}
			c.mux.Close()
		})
	}
}
