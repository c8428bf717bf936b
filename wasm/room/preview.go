package room

import (
	"bytes"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Showing a message while it is stored.
//
// A member's page reaches this profile verified (its book's signed head
// and a proof), then is written to the store, which takes a few
// milliseconds in a browser. The journal tells of the verified pages as
// that write begins (journal.DB.Verified); the worker reports a chat
// message among them at once, as an EventMessage marked Pending, and again
// without the mark once the write is done (received). Until then only the
// task's clock takes it (what this profile writes after showing it comes
// after it, for every member); the author's clock, unread counts, digests
// and announcements move only with the stored page. If the tab closes or the write fails
// first, only the pending message is lost; nothing that was not verified
// is ever shown.

// maxShown bounds the pages of one write shown early: a push of new
// messages, not a catch-up's data (which are shown when stored, a page
// of the timeline at a time).
const maxShown = 8

// onVerified is the DB's Verified hook: it queues the pages verified in
// members' books for the worker (hooks must not call back into the DB).
func (m *Messenger) onVerified(ev journal.Event) {
	if ev.Index == 0 || len(ev.Pages) > maxShown {
		return
	}
	m.enqueue(&m.shown, ev)
}

// unstored returns the events of shown whose pages no event of stored
// covers: those stored already are reported as such, not twice.
func unstored(shown, stored []journal.Event) []journal.Event {
	out := shown[:0]
	for _, s := range shown {
		done := false
		for _, q := range stored {
			if q.Book == s.Book && q.Index <= s.Index && s.Index+uint64(len(s.Pages)) <= q.Index+uint64(len(q.Pages)) {
				done = true
				break
			}
		}
		if !done {
			out = append(out, s)
		}
	}
	return out
}

// preview reports the chat messages among pages verified in a member's
// book, being stored, as pending messages. It changes nothing.
func (m *Messenger) preview(ev journal.Event) {
	if !m.openFor(ev.Book) {
		return
	}
	m.mu.Lock()
	ref, ok := m.replica[ev.Book]
	var t *task
	var src BookSource
	var moved renumbering
	// The book's lock is held while its pages are stored: nothing here
	// may ask the book (Info, Len) before the write is done.
	if ok && ref.gen == 0 && m.shownOK[ev.Book] {
		t, src, moved = m.memberSourceLocked(ref, ev.Book)
	}
	m.mu.Unlock()
	if src.Book == nil {
		return
	}
	for i, page := range ev.Pages {
		idx := ev.Index + uint64(i) + src.Shift
		msg, err := src.Seal.decode(page, ref.peer, ev.Index+uint64(i), idx)
		if err != nil || msg.Type != TypeChat || !m.shownClock(t, ref.peer, idx, msg.Meta.Clock) {
			continue // shown when stored, as received decides
		}
		m.keepShown(ev.Book, ev.Index+uint64(i), page, msg)
		msg = moved.apply(msg)
		m.emit(Event{Type: EventMessage, Task: t.id, Message: &msg, Pending: true})
	}
}

// shownClock is seen for a message shown pending: if its clock fits, the
// task's clock rises to it, and only the task's: the author's (which
// bounds the clocks other authors may write) waits for the stored page.
func (m *Messenger) shownClock(t *task, author identity.ID, mid, clock uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.clockFitsLocked(author, mid, clock) {
		return false
	}
	t.clock = max(t.clock, clock)
	return true
}

// maxDecoded bounds the pages preview decoded that wait for received.
const maxDecoded = 256

type shownKey struct {
	book  identity.ID
	index uint64
}

// shownPage is a page preview decoded: received takes the message rather
// than decode the same page again.
type shownPage struct {
	page []byte
	msg  Message
}

// keepShown keeps the message preview decoded from page index of book.
func (m *Messenger) keepShown(book identity.ID, index uint64, page []byte, msg Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.decoded) >= maxDecoded {
		clear(m.decoded) // writes that failed left theirs: start again
	}
	m.decoded[shownKey{book, index}] = shownPage{page, msg}
}

// takeShown returns the message preview decoded from page index of book,
// if it decoded these very bytes.
func (m *Messenger) takeShown(book identity.ID, index uint64, page []byte) (Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := shownKey{book, index}
	s, ok := m.decoded[k]
	if !ok {
		return Message{}, false
	}
	delete(m.decoded, k)
	return s.msg, bytes.Equal(s.page, page)
}
