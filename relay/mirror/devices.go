//go:build !js

package mirror

import (
	"container/list"
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Devices (issue #14). A person writes from several devices, each with a
// key of its own certified by the person's identity (package device), and
// every device of the person reads the books named for the person. On
// channel port.ChannelHeld a device presents its certificate and the
// revocations of its person it knows (package held's client messages);
// the mirror takes them in the order they arrive with the port's other
// messages (heldReader), so a certificate sent first is known before the
// device's replication hello is.
//
// The mirror keeps the certificates in memory, the latest
// maxKnownDevices: the port's own certificate decides what that port is
// served (a device sends it on every port), and the others only whether
// a device may read the books its siblings wrote to other persons (until
// their author comes again, after a restart). Revocations are kept on
// disk, in a private book of the mirror's (revocationsBook), and never
// forgotten. A revoked device is served nothing, its pins and growths are
// refused (ErrRevoked), and its books are served to no one; their pages
// stay on disk (the journal deletes nothing).

// ErrRevoked refuses a pin or a growth of a revoked device.
var ErrRevoked = errors.New("mirror: device revoked")

const (
	// maxKnownDevices bounds the certificates kept in memory (~200 bytes
	// each).
	maxKnownDevices = 100_000
	// maxRevocations bounds the revocations the mirror keeps (a page of
	// ~250 bytes each, on disk and in memory).
	maxRevocations = 1 << 16
	// revocationsBook is the mirror's private book of the revocations it
	// took: page 0 its genesis, then one encoded device.Revocation a page.
	revocationsBook = "mirror-revocations"
)

// certCache keeps the latest certificates, by device. Guarded by
// Mirror.mu.
type certCache struct {
	max   int
	order *list.List // of *device.Cert, the latest used first
	by    map[identity.ID]*list.Element
}

func newCertCache(max int) *certCache {
	return &certCache{max: max, order: list.New(), by: make(map[identity.ID]*list.Element)}
}

func (c *certCache) put(cert *device.Cert) {
	if e, ok := c.by[cert.Device]; ok {
		e.Value = cert
		c.order.MoveToFront(e)
		return
	}
	c.by[cert.Device] = c.order.PushFront(cert)
	if c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.by, last.Value.(*device.Cert).Device)
	}
}

func (c *certCache) get(dev identity.ID) *device.Cert {
	if e, ok := c.by[dev]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*device.Cert)
	}
	return nil
}

// client is a port from a peer, as the devices' part sees it.
type client struct {
	peer  identity.ID
	close func() // closes the port
	taken int    // client messages taken (the reader's goroutine only)
	// fellow: the peer was a live mirror of the set when the port was
	// registered (set.go). Guarded by Mirror.mu.
	fellow bool

	person identity.ID // guarded by Mirror.mu: the peer's person, from its certificate; zero if none
}

// heldReader is the port under a mirror's mux: it hands the messages of
// channel port.ChannelHeld (a mux prefixes each message with its channel)
// to take, in order with the others, and the rest to the mux. An error of
// take closes the port.
type heldReader struct {
	port.Port
	take func([]byte) error
}

func (r *heldReader) Recv(ctx context.Context) ([]byte, error) {
	for {
		msg, err := r.Port.Recv(ctx)
		if err != nil || len(msg) == 0 || msg[0] != port.ChannelHeld {
			return msg, err
		}
		if err := r.take(msg[1:]); err != nil {
			r.Port.Close()
			return nil, err
		}
	}
}

// Done is the port's, if it tells when it closes (the mux waits on it).
func (r *heldReader) Done() <-chan struct{} {
	if d, ok := r.Port.(interface{ Done() <-chan struct{} }); ok {
		return d.Done()
	}
	return nil
}

// loadRevocations reads the revocations kept.
func (m *Mirror) loadRevocations(ctx context.Context) error {
	b, err := m.db.Author(ctx, revocationsBook, nil)
	if err != nil {
		return fmt.Errorf("mirror: the book of revocations: %w", err)
	}
	m.revBook = b
	if b.Len() < 2 {
		return nil
	}
	pages, err := b.GetRange(ctx, 1, b.Len())
	if err != nil {
		return fmt.Errorf("mirror: the book of revocations: %w", err)
	}
	for _, p := range pages {
		rv, err := device.DecodeRevocation(p)
		if err != nil {
			m.log.Warn("mirror: a revocation kept does not decode", "err", err)
			continue
		}
		m.revoked[rv.Device] = rv
	}
	return nil
}

// takeHeld takes a client message from cl's peer. An error closes the
// port: a message that does not decode or verify, or one too many. A
// message of a type this mirror does not know is ignored.
func (m *Mirror) takeHeld(cl *client, b []byte) error {
	cl.taken++
	if cl.taken > held.MaxClientMessages {
		return fmt.Errorf("mirror: more than %d messages from %s", held.MaxClientMessages, cl.peer.Short())
	}
	msg, err := held.DecodeClient(b)
	if errors.Is(err, held.ErrUnknownType) {
		m.log.Debug("mirror: a message ignored", "peer", cl.peer.Short(), "err", err)
		return nil
	}
	if err == nil {
		err = msg.Verify(cl.peer)
	}
	if err != nil {
		m.log.Info("mirror: a device's message refused: its port closed", "peer", cl.peer.Short(), "err", err)
		return err
	}
	if msg.Type == held.TypeDevice {
		m.mu.Lock()
		cl.person = msg.Cert.Person
		m.certs.put(msg.Cert)
		m.mu.Unlock()
		return nil
	}
	if msg.Type == held.TypeRelease {
		return m.release(cl, msg.Books)
	}
	return m.revoke(cl, msg)
}

// revoke keeps a verified revocation and ends the revoked device's ports.
// A mirror keeps the revocations of persons it serves: sent by a device of
// the person, or of a device, signer or person that pinned books here.
func (m *Mirror) revoke(cl *client, msg *held.ClientMessage) error {
	rv := msg.Revocation
	m.mu.Lock()
	for _, c := range []*device.Cert{msg.By, msg.Target} {
		if c != nil {
			m.certs.put(c)
		}
	}
	_, done := m.revoked[rv.Device]
	ours := cl.personLocked() == rv.Person || m.authorLocked(rv.Device) || m.authorLocked(rv.By) || m.authorLocked(rv.Person)
	full := len(m.revoked) >= maxRevocations
	m.mu.Unlock()
	switch {
	case done:
		return nil
	case !ours:
		m.log.Debug("mirror: a revocation of a person with nothing here ignored", "device", rv.Device.Short(), "from", cl.peer.Short())
		return nil
	case full:
		m.log.Warn("mirror: a revocation ignored: the mirror keeps no more", "device", rv.Device.Short(), "max", maxRevocations)
		return nil
	}
	m.revMu.Lock()
	defer m.revMu.Unlock()
	if _, err := m.revBook.Append(m.ctx, rv.Encode()); err != nil {
		return fmt.Errorf("mirror: keep a revocation: %w", err)
	}
	m.mu.Lock()
	m.revoked[rv.Device] = rv
	var ports []*client
	for p := range m.clients[rv.Device] {
		ports = append(ports, p)
	}
	m.mu.Unlock()
	m.log.Info("mirror: a device revoked: its books are served no more", "device", rv.Device.Short(), "person", rv.Person.Short(), "by", rv.By.Short())
	for _, p := range ports {
		p.close()
	}
	return nil
}

// personLocked is the person of cl's peer: its certificate's, or itself.
func (cl *client) personLocked() identity.ID {
	if cl.person.IsZero() {
		return cl.peer
	}
	return cl.person
}

// authorLocked reports whether id has books pinned here.
func (m *Mirror) authorLocked(id identity.ID) bool {
	u := m.usage[id]
	return u != nil && u.books > 0
}

// personOfLocked is the person of device id, as far as the mirror knows:
// its certificate's, or itself.
func (m *Mirror) personOfLocked(id identity.ID) identity.ID {
	if c := m.certs.get(id); c != nil {
		return c.Person
	}
	return id
}

// Revoked reports whether the mirror took a revocation of device id.
func (m *Mirror) Revoked(id identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked[id] != nil
}

// revokedError is the error refusing a revoked device's pages.
func (m *Mirror) revokedError(author, book identity.ID) error {
	m.mu.Lock()
	rv := m.revoked[author]
	m.mu.Unlock()
	if rv == nil {
		return nil
	}
	m.refused.Add(1)
	m.log.Info("mirror: a revoked device's pages refused", "device", author.Short(), "book", book.Short())
	return fmt.Errorf("%w: device %s was revoked by %s (person %s): this mirror takes and serves none of its books",
		ErrRevoked, author.Short(), rv.By.Short(), rv.Person.Short())
}

// serves reports whether book is served to the peer of cl: to its
// author, to the reader its name addresses, to a device of that reader
// (the books named for a person are read by each of its devices), and to
// a device of the author's person (a person's devices read what its other
// devices wrote). Nothing is served to a revoked device, nor any book of
// one.
func (m *Mirror) serves(cl *client, book identity.ID) bool {
	b, err := m.db.Get(m.ctx, book)
	if err != nil {
		return false
	}
	info := b.Info()
	peer := cl.peer
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked[peer] != nil || m.revoked[info.Author] != nil {
		return false
	}
	if info.Author == peer {
		return true
	}
	r, ok := journal.NameReader(info.Name)
	if !ok {
		return false
	}
	person := cl.personLocked()
	return r == peer || r == person || m.personOfLocked(info.Author) == person
}
