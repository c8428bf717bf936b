package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Lazy tasks. At open the messenger rebuilds every task from the tasks
// book (its title, parent, members, the keys of the members' books: all
// in memory, one pass over the records), but opens no task's books: a
// profile of 10,000 tasks would otherwise read and verify every task's
// log and each member's books before showing anything (O(tasks ×
// members) store reads). A task's books are opened on demand, the first
// time something needs them (ensure):
//
//   - the user shows it or writes in it (Timeline, Members, Send, invite,
//     join, remove…: every call that finds a task by id, Messenger.task);
//   - it has news: a page arrives in one of its members' books (received;
//     the keys of those books are known from the records, so replication
//     and the mirrors follow them from the start), or a member's port
//     says something about it (a wire message naming the task);
//   - a port opens to a member whose pairing in the task is incomplete
//     (pairAll), or whose book this profile continued in a successor.
//
// Until then a task is listed (Tasks), and its unread count is the one the
// profile kept (unread.go), until a count from its books, made in the
// background once they open, replaces it. What a task's books tell only
// once open: its clock, the receipts of its members, the digests sent to
// compare, this profile's books pinned to the mirrors: each follows at
// ensure.

// deferTasks marks the tasks not opened yet as lazy and makes the
// members' books of each known, so their pages are followed. Called
// during Open.
func (m *Messenger) deferTasks() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.order {
		t := m.tasks[id]
		if t.ready {
			continue
		}
		t.lazy = true
		for _, mb := range t.members {
			if !mb.inKey.IsZero() {
				m.replica[mb.inKey] = bookRef{t.id, mb.id, 0}
			}
			for _, s := range mb.next {
				m.replica[s.key] = bookRef{t.id, mb.id, s.gen}
			}
		}
	}
}

// ensure opens t's books if they are not yet. A lazy task's receipts,
// unread count and pins follow. Callers may hold t.wmu, never t.lmu or
// m.mu.
func (m *Messenger) ensure(ctx context.Context, t *task) error {
	t.lmu.Lock()
	defer t.lmu.Unlock()
	m.mu.Lock()
	ready, lazy := t.ready, t.lazy
	if lazy {
		t.pages.loading = true
	}
	m.mu.Unlock()
	if ready {
		return nil
	}
	logTail, err := m.load(ctx, t)
	if err != nil {
		return fmt.Errorf("room: open task %s: %w", t.id, err)
	}
	if !lazy {
		return nil
	}
	m.loadTaskReceipts(ctx, t, &logTail)
	m.mu.Lock()
	t.pages.loading = false
	m.pageDueLocked(t)
	m.mu.Unlock()
	for _, b := range m.outsOf(t) {
		m.pin(b)
	}
	// The count from the books follows in the background: it reads every
	// unread message (thousands in a catch-up, arriving meanwhile), and
	// the page that opened the task shows its newest messages first. The
	// count kept (unread.go) stands until then.
	m.inBackground(func(ctx context.Context) { m.recountUnread(ctx, t) })
	return nil
}

// laterQueue is the work opening tasks left to the background, done in
// order by one goroutine while there is any. Guarded by Messenger.mu.
type laterQueue struct {
	work    []func(context.Context)
	running bool
}

// inBackground has f done after the work queued before it, off the
// caller's path: what opening a task reads that its first page does not
// need (its unread count, the pages a close left untaken). One goroutine
// does it all in turn, so a port opening thousands of lazy tasks
// (ensureWith) reads the store for one of them at a time, not for all at
// once. Nothing is done once the messenger closes.
func (m *Messenger) inBackground(f func(context.Context)) {
	m.mu.Lock()
	m.later.work = append(m.later.work, f)
	start := !m.later.running
	m.later.running = true
	m.mu.Unlock()
	if start {
		m.goWork(m.doLater)
	}
}

// doLater does the work queued by inBackground until none is left.
func (m *Messenger) doLater(ctx context.Context) {
	for ctx.Err() == nil {
		m.mu.Lock()
		if len(m.later.work) == 0 {
			m.later.running = false
			m.mu.Unlock()
			return
		}
		f := m.later.work[0]
		m.later.work[0] = nil
		m.later.work = m.later.work[1:]
		m.mu.Unlock()
		f(ctx)
	}
}

// ensureID is ensure of a task by id; false if there is none, or its
// books do not open (reported).
func (m *Messenger) ensureID(id TaskID) (*task, bool) {
	m.mu.Lock()
	t := m.tasks[id]
	m.mu.Unlock()
	if t == nil {
		return nil, false
	}
	if err := m.ensure(m.ctx, t); err != nil {
		m.fail(err)
		return t, false
	}
	return t, true
}

// openFor opens the task of a member's book whose pages arrived, if it is
// lazy; false if it could not.
func (m *Messenger) openFor(book identity.ID) bool {
	m.mu.Lock()
	ref, ok := m.replica[book]
	t := m.tasks[ref.task]
	lazy := ok && t != nil && t.lazy
	m.mu.Unlock()
	if !lazy {
		return true
	}
	_, ok = m.ensureID(t.id)
	return ok
}

// ensureWith opens the lazy tasks that peer is a member of and that pick
// says need their books, for a port just opened. Called without m.mu.
func (m *Messenger) ensureWith(peer identity.ID, pick func(t *task, mb *member) bool) {
	m.mu.Lock()
	var ids []TaskID
	for _, id := range m.order {
		t := m.tasks[id]
		if mb := t.members[peer]; mb != nil && t.lazy && pick(t, mb) {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		if m.ctx.Err() != nil {
			return
		}
		m.ensureID(id)
	}
}

// unpairedLazy: a lazy task whose pairing with a member is incomplete as
// far as the records tell (no book of it known), or whose book to it was
// continued in a successor (announced on each port). Called with m.mu held.
func unpairedLazy(_ *task, mb *member) bool { return mb.inKey.IsZero() || mb.outGen > 0 }

// outsOf returns this profile's books to t's members.
func (m *Messenger) outsOf(t *task) []*journal.Book {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*journal.Book
	for _, mb := range t.members {
		if mb.out != nil {
			out = append(out, mb.out)
		}
	}
	return out
}

// knownLocked reports whether t is a task of the profile, open or lazy (not
// one being made or joined). Called with m.mu held.
func (t *task) knownLocked() bool { return t.ready || t.lazy }

// storedRecord reads a record of the tasks book with its ids decoded, not
// checked (ownID): the records are this profile's own, sealed with its
// private secret, and every id in them was checked before it was written.
// Checking each again (a curve point decoded per id) was most of the time
// a profile of 10,000 tasks took to open. A key used to verify anything
// is checked again where its book is opened (journal.DB.ReaderFrom).
type storedRecord struct {
	record
	Host    ownID `json:"host"`
	Peer    ownID `json:"peer"`
	Key     ownID `json:"key"`
	By      ownID `json:"by"`
	Creator ownID `json:"creator"`
}

// ownID is an identity.ID of this profile's own records (storedRecord).
type ownID identity.ID

func (id *ownID) UnmarshalText(b []byte) error {
	v, err := identity.DecodeID(string(b))
	*id = ownID(v)
	return err
}

// decodeStoredRecord decodes a page of the tasks book, opened.
func decodeStoredRecord(p []byte) (record, error) {
	var s storedRecord
	if err := json.Unmarshal(p, &s); err != nil {
		return record{}, err
	}
	r := s.record
	r.Host, r.Peer, r.Key = identity.ID(s.Host), identity.ID(s.Peer), identity.ID(s.Key)
	r.By, r.Creator = identity.ID(s.By), identity.ID(s.Creator)
	return r, nil
}

// openRecord opens and decodes page index of the tasks book.
func (m *Messenger) openRecord(ps pageSeal, index uint64, page []byte) (record, error) {
	p, err := ps.open(index, page)
	if err != nil {
		return record{}, err
	}
	if len(p) > maxRecord {
		return record{}, errors.New("room: a tasks record too large")
	}
	return decodeStoredRecord(p)
}
