package room

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// Sealed pages (issue #13). Every page a profile writes after a book's
// genesis is sealed (package seal): a page of a book to a member under the
// task's secret of the current epoch (secret.go), a page of a private book
// (the tasks book, a task's log) under a secret derived from the profile's
// seed. The book's genesis, heads and Merkle tree are over the sealed
// bytes, so a mirror, a relay or anyone holding a copy verifies a book
// without reading it. A page is opened with the secret of the epoch it
// names; one that does not open (a reader without that secret: a stranger,
// a member removed before it was written; or damaged bytes) is shown as a
// TypeInvalid message saying so, never dropped, never a crash.
//
// A page that starts with '{' is a plain message written before secrets
// (a task made before them, whose host has not given one yet): it is read
// as it is. It exposes only its own author's words, which its author chose
// to write so; a profile that knows a task's secret seals every page.

// privateSecretName names the seed-derived secret of private books.
const privateSecretName = "pages"

// keyCacheSize bounds the derived page keys kept; the cache is emptied
// when full (a key costs an HKDF to derive again).
const keyCacheSize = 4096

// keyID names a derived page key.
type keyID struct {
	book  identity.ID
	epoch uint32
}

// keyCache keeps derived page keys: one HKDF and cipher setup per book
// and epoch, not per page. The key last asked for is checked first: the
// pages of a catch-up or a timeline come book by book, and in the browser
// hashing the key's 36 bytes for the map took about 1 µs a page.
type keyCache struct {
	mu      sync.Mutex
	keys    map[keyID]*seal.Key
	lastID  keyID
	lastKey *seal.Key
}

func (c *keyCache) get(secret []byte, epoch uint32, book identity.ID) (*seal.Key, error) {
	id := keyID{book, epoch}
	c.mu.Lock()
	k := c.lastKey
	if k == nil || c.lastID != id {
		if k = c.keys[id]; k != nil {
			c.lastID, c.lastKey = id, k
		}
	}
	c.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := seal.BookKey(secret, epoch, book)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= keyCacheSize {
		c.keys = make(map[keyID]*seal.Key)
	}
	c.keys[id] = k
	c.lastID, c.lastKey = id, k
	c.mu.Unlock()
	return k, nil
}

// secrets are a task's secrets by epoch; copied on write, so a pageSeal
// may keep a snapshot.
type secrets map[uint32][]byte

// A pageSeal seals and opens the pages of one book. Its zero value (no
// secret) writes and reads plain pages.
type pageSeal struct {
	book    identity.ID
	secrets secrets // by epoch
	epoch   uint32  // the epoch to seal with
	cache   *keyCache
}

// ErrNoSecret means a sealed page of an epoch whose secret this profile
// does not hold.
var ErrNoSecret = errors.New("sealed with a secret this profile lacks")

// seal returns the page index of the book, sealed; plain if there is no
// secret.
func (s pageSeal) seal(index uint64, plain []byte) ([]byte, error) {
	secret := s.secrets[s.epoch]
	if secret == nil {
		return plain, nil
	}
	k, err := s.cache.get(secret, s.epoch, s.book)
	if err != nil {
		return nil, err
	}
	return k.Seal(index, plain)
}

// sealAll seals pages that are to be pages first, first+1, … of the book.
func (s pageSeal) sealAll(first uint64, pages [][]byte) ([][]byte, error) {
	out := make([][]byte, len(pages))
	for i, p := range pages {
		var err error
		if out[i], err = s.seal(first+uint64(i), p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// open returns the payload of the page index of the book: a sealed page
// opened, a plain one ('{…') as it is.
func (s pageSeal) open(index uint64, page []byte) ([]byte, error) {
	if len(page) > 0 && page[0] == '{' {
		return page, nil
	}
	epoch, err := seal.Epoch(page)
	if err != nil {
		return nil, err
	}
	secret := s.secrets[epoch]
	if secret == nil {
		return nil, fmt.Errorf("%w (epoch %d)", ErrNoSecret, epoch)
	}
	k, err := s.cache.get(secret, epoch, s.book)
	if err != nil {
		return nil, err
	}
	return k.Open(index, page)
}

// decode opens the page index of an author's book and decodes it as the
// message numbered mid (0: not checked). A page that does not open is a
// TypeInvalid message saying why, its sealed bytes in Raw.
func (s pageSeal) decode(page []byte, author identity.ID, index, mid uint64) (Message, error) {
	plain, err := s.open(index, page)
	if err != nil {
		why := err.Error()
		switch {
		case errors.Is(err, seal.ErrOpen):
			why = "sealed: does not open (not for this profile, or damaged)"
		case errors.Is(err, seal.ErrNotSealed):
			why = "neither a message nor a sealed page"
		}
		return Message{Head: Head{By: author, Mid: mid}, Type: TypeInvalid, Raw: page, Reason: clip(why)},
			fmt.Errorf("%w: %v", ErrNotMessage, err)
	}
	return decodeAt(plain, author, mid)
}

// privateSeal returns the seal of a private book of this profile.
func (m *Messenger) privateSeal(book identity.ID) pageSeal {
	return pageSeal{book: book, secrets: m.private, cache: &m.keys}
}

// sealLocked returns the seal of a book of task t shared with a member
// (this profile's or the member's). Called with m.mu held.
func (m *Messenger) sealLocked(t *task, book identity.ID) pageSeal {
	return pageSeal{book: book, secrets: t.secrets, epoch: t.epoch, cache: &m.keys}
}

// sealOf is sealLocked taking m.mu.
func (m *Messenger) sealOf(t *task, book identity.ID) pageSeal {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sealLocked(t, book)
}

// sealPage is the DB's sealer (journal.Sealer) while the messenger runs
// (sealNamed says which secret; any other book, not the room's, as it is).
func (m *Messenger) sealPage(key identity.ID, name string, index uint64, page []byte) ([]byte, error) {
	ps, ok, err := m.sealNamed(key, name)
	if err != nil || !ok {
		return page, err
	}
	return ps.seal(index, page)
}

// sealNamed returns the seal of a room book by its name: the tasks book,
// the audit book and a task's log ("${self}-${task}") under the profile's
// private secret; a book between this profile and a member
// ("${a}-${r}-${task}", a successor's ".${gen}" after it, this profile
// a or r) under its task's secret (plain while the task has none). ok is
// false for any other book, which the room neither writes nor reads.
func (m *Messenger) sealNamed(key identity.ID, name string) (ps pageSeal, ok bool, err error) {
	if name == tasksBook || name == uiBook || name == unreadBook || name == journal.AuditName {
		return m.privateSeal(key), true, nil
	}
	parts := strings.Split(strings.SplitN(name, ".", 2)[0], "-")
	self := m.self.String()
	if len(parts) < 2 || len(parts) > 3 || parts[0] != self && (len(parts) == 2 || parts[1] != self) {
		return pageSeal{}, false, nil
	}
	id, err := ParseTaskID(parts[len(parts)-1])
	if err != nil {
		return pageSeal{}, false, nil
	}
	if len(parts) == 2 {
		return m.privateSeal(key), true, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[id]
	if t == nil {
		return pageSeal{}, false, fmt.Errorf("room: a book of task %s, which this profile does not have", id)
	}
	return m.sealLocked(t, key), true, nil
}

// maxPage bounds a task book's page: a message, sealed.
const maxPage = MaxMessage + seal.Overhead

// opener opens the pages of t's books shared with members.
func (m *Messenger) opener(t *task) Opener {
	return func(book identity.ID, index uint64, page []byte) ([]byte, error) {
		return m.sealOf(t, book).open(index, page)
	}
}

// logSource reads this profile's log of a task.
func (m *Messenger) logSource(log *journal.Book) BookSource {
	return BookSource{Book: log, Author: m.self, Seal: m.privateSeal(log.Key())}
}

// sourceLocked reads a book of t by author (a member's, or this
// profile's to a member), whose page p holds message p+shift. Called with
// m.mu held.
func (m *Messenger) sourceLocked(t *task, b *journal.Book, author identity.ID, shift uint64) BookSource {
	return BookSource{Book: b, Author: author, Shift: shift, Seal: m.sealLocked(t, b.Key())}
}

// sourceOf is sourceLocked taking m.mu.
func (m *Messenger) sourceOf(t *task, b *journal.Book, author identity.ID, shift uint64) BookSource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sourceLocked(t, b, author, shift)
}

// Plaintext returns the payload of the page index of one of this profile's
// books or of a member's book it reads, opened; nil if it cannot (not a
// room book, no secret, not sealed for it). For devtools' plaintext view
// (report.Config.Open).
func (m *Messenger) Plaintext(book identity.ID, index uint64, page []byte) []byte {
	if index == 0 || len(page) == 0 || page[0] == '{' {
		return nil
	}
	b, err := m.db.Get(m.ctx, book)
	if err != nil {
		return nil
	}
	ps, ok, err := m.sealNamed(book, b.Name())
	if err != nil || !ok {
		return nil
	}
	plain, err := ps.open(index, page)
	if err != nil {
		return nil
	}
	return plain
}
