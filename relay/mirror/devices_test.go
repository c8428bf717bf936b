//go:build !js

package mirror

import (
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// ended waits for a session's end and returns its error.
func ended(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

// TestDevices: Bob's phone, a device certified by Bob's identity, reads
// through the mirror the books to Bob and what Bob's first device wrote,
// once it presented its certificate; a certificate not its own closes
// its port. Bob revokes the phone: its port closes, its next pages are
// refused saying why, nothing is served to it and its books to no one,
// and the mirror remembers it when started again.
func TestDevices(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	st := store.NewMemory()
	m := startMirror(t, url, st, Quota{})
	ana, bob, phone := newPeer(t, url, 1), newPeer(t, url, 2), newPeer(t, url, 7)
	bobKey := identity.New(identity.Seed{2})
	cert, err := device.Sign(bobKey, phone.db.ID(), "phone", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	toBob := authored(t, ana, bob.db.ID(), "t", 3)
	bobToAna := authored(t, bob, ana.db.ID(), "t", 2)
	phoneToBob := authored(t, phone, bob.db.ID(), "t", 2)
	phone.first = [][]byte{held.EncodeDevice(cert)}
	for _, pin := range []struct {
		p *peer
		b *journal.Book
	}{{ana, toBob}, {bob, bobToAna}, {phone, phoneToBob}} {
		stop := pin.p.session(t, m.ID(), replication.Config{}, pin.b)
		eventually(t, "the book pinned", func() bool {
			c := mirrored(t, m, pin.b.Key())
			return c != nil && holds(c, pin.b.Len())()
		})
		stop()
	}
	if servesTo(m, toBob.Key(), phone.db.ID()) {
		t.Fatal("a book to Bob served to a device that presented no certificate")
	}

	// The phone reads, through the mirror, Ana's book to Bob and Bob's to Ana.
	reps := []*journal.Book{}
	for _, b := range []*journal.Book{toBob, bobToAna} {
		rep, err := phone.db.ReaderFrom(testCtx(t), b.Key(), b.Info().Author)
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	via := replication.Config{FollowVia: func(_, holder identity.ID) bool { return holder == m.ID() }}
	stop := phone.session(t, m.ID(), via)
	eventually(t, "the phone has both books from the mirror", func() bool {
		return holds(reps[0], toBob.Len())() && holds(reps[1], bobToAna.Len())()
	})
	stop()

	// A certificate of another device closes the port.
	other, err := device.Sign(bobKey, identity.New(identity.Seed{8}).ID(), "other", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	phone.first = [][]byte{held.EncodeDevice(other)}
	_, errc := phone.run(t, m.ID(), replication.Config{})
	ended(t, errc, "the port of a device presenting another's certificate to close")
	phone.first = [][]byte{held.EncodeDevice(cert)}

	// Bob revokes the phone, which is online: its port is the mirror's
	// before the revocation comes (a port the mirror takes after it is a
	// revoked device's next one, kept open to be told why its pins are
	// refused, below).
	ports := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.clients[phone.db.ID()])
	}
	eventually(t, "the mirror drops the phone's refused port", func() bool { return ports() == 0 })
	_, phoneOn := phone.run(t, m.ID(), via)
	eventually(t, "the mirror has the phone's port", func() bool { return ports() == 1 })
	rv, err := device.Revoke(bobKey, nil, bob.db.ID(), phone.db.ID(), 2)
	if err != nil {
		t.Fatal(err)
	}
	bob.first = [][]byte{held.EncodeRevoke(rv, nil, cert)}
	stop = bob.session(t, m.ID(), replication.Config{})
	eventually(t, "the mirror takes the revocation", func() bool { return m.Revoked(phone.db.ID()) })
	stop()
	ended(t, phoneOn, "the revoked phone's port to close")

	refused := m.Stats().Refused
	held := mirrored(t, m, phoneToBob.Key()).Len()
	if _, err := phoneToBob.Append(testCtx(t), kib(1)...); err != nil {
		t.Fatal(err)
	}
	_, errc = phone.run(t, m.ID(), replication.Config{}, phoneToBob)
	if err := ended(t, errc, "the revoked phone's growth to be refused"); err == nil || !strings.Contains(err.Error(), ErrRevoked.Error()) {
		t.Fatalf("the revoked phone's session ended with %v, want %v", err, ErrRevoked)
	}
	if n := mirrored(t, m, phoneToBob.Key()).Len(); n != held {
		t.Fatalf("the mirror took the revoked phone's page: %d pages, had %d", n, held)
	}
	if s := m.Stats(); s.Revocations != 1 || s.Refused <= refused {
		t.Fatalf("stats %+v: want 1 revocation and the growth refused", s)
	}
	// A book the mirror never had is refused the same way, saying why (it
	// was ignored in silence: the phone took it for pinned).
	refused = m.Stats().Refused
	phoneToAna := authored(t, phone, ana.db.ID(), "t", 1)
	_, errc = phone.run(t, m.ID(), replication.Config{}, phoneToAna)
	if err := ended(t, errc, "the revoked phone's new pin to be refused"); err == nil || !strings.Contains(err.Error(), ErrRevoked.Error()) {
		t.Fatalf("the revoked phone's pin: session ended with %v, want %v", err, ErrRevoked)
	}
	if c := mirrored(t, m, phoneToAna.Key()); c != nil {
		t.Fatalf("the mirror took the revoked phone's new book: %d pages", c.Len())
	}
	if s := m.Stats(); s.Refused <= refused {
		t.Fatalf("stats %+v: want the pin refused", s)
	}
	phoneCl := &client{peer: phone.db.ID(), person: bob.db.ID()}
	if m.serves(phoneCl, toBob.Key()) || servesTo(m, phoneToBob.Key(), bob.db.ID()) || servesTo(m, phoneToBob.Key(), phone.db.ID()) {
		t.Fatal("the mirror serves the revoked phone, or its book")
	}

	m.Close()
	m = startMirror(t, url, st, Quota{})
	if !m.Revoked(phone.db.ID()) || m.Stats().Revocations != 1 {
		t.Fatal("the mirror started again forgot the revocation")
	}
	if m.serves(phoneCl, toBob.Key()) {
		t.Fatal("the mirror started again serves the revoked phone")
	}
}

// TestRevocationVerified: a revocation that does not verify closes the
// port and is not taken; one of a person with nothing on the mirror is
// ignored.
func TestRevocationVerified(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	m := startMirror(t, url, store.NewMemory(), Quota{})
	eve, bob := newPeer(t, url, 3), newPeer(t, url, 2)
	bobKey := identity.New(identity.Seed{2})
	phone := identity.New(identity.Seed{7}).ID()
	pin := authored(t, bob, eve.db.ID(), "t", 1)
	stop := bob.session(t, m.ID(), replication.Config{}, pin)
	eventually(t, "Bob pinned a book", func() bool { return m.Stats().Books == 1 })
	stop()

	forged, _ := device.Revoke(identity.New(identity.Seed{3}), nil, identity.New(identity.Seed{3}).ID(), phone, 1)
	forged.Person = bobKey.ID() // Eve's signature, Bob's name
	eve.first = [][]byte{held.EncodeRevoke(forged, nil, nil)}
	_, errc := eve.run(t, m.ID(), replication.Config{})
	ended(t, errc, "the port of a forged revocation to close")
	if m.Revoked(phone) {
		t.Fatal("a forged revocation taken")
	}

	// A stranger's revocation and a message of an unknown type are
	// ignored, the port left open: Bob's revocation after them, passed on
	// by Eve, is taken.
	stranger := identity.New(identity.Seed{5})
	rv, _ := device.Revoke(stranger, nil, stranger.ID(), identity.New(identity.Seed{6}).ID(), 1)
	rvBob, _ := device.Revoke(bobKey, nil, bobKey.ID(), phone, 1)
	eve.first = [][]byte{held.EncodeRevoke(rv, nil, nil), []byte(`{"v":1,"type":"later"}`), held.EncodeRevoke(rvBob, nil, nil)}
	stop = eve.session(t, m.ID(), replication.Config{})
	eventually(t, "Bob's revocation taken", func() bool { return m.Revoked(phone) })
	stop()
	if m.Revoked(identity.New(identity.Seed{6}).ID()) || m.Stats().Revocations != 1 {
		t.Fatalf("a revocation of a person with nothing here kept: %+v", m.Stats())
	}
}
