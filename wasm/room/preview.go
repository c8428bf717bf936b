package room

import (
	"bytes"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Showing a message while it is stored.
//
// A member's page reaches this profile verified (its book's signed head
// and a proof), then is written to the store, which takes a few
// milliseconds in a browser. The journal tells of the verified pages as
// that write begins (journal.DB.Verified); the previewer reports a chat
// message among them at once, as an EventMessage marked Pending, and the
// worker again without the mark once the write is done (received). The
// previewer is a goroutine of its own: the worker reads the store, and a
// read waits for the writes before it (IndexedDB runs a read after the
// read-write transactions begun before it on the same object stores), so
// a message shown by the worker waited for its own write. A message's
// pending event never follows its stored one (previews). Until then only the
// task's clock takes it (what this profile writes after showing it comes
// after it, for every member); the author's clock, unread counts, digests
// and announcements move only with the stored page. If the tab closes or the write fails
// first, only the pending message is lost; nothing that was not verified
// is ever shown.
//
// A message shown pending that is not stored within Config.PendingFor is
// withdrawn: the previewer reports it again, marked Withdrawn, and the
// page takes it away. Its author's write failed or the author's tab died
// before committing it (a preview), or this profile's own write failed;
// a message still to come would otherwise stay on the page, pending,
// until it reloads. If it is stored later after all, it is reported then
// as any stored message.

// DefaultPendingFor is how long a message shown pending waits to be
// stored before it is withdrawn (Config.PendingFor): a write takes
// milliseconds, a busy phone's a second or two.
const DefaultPendingFor = 10 * time.Second

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
	m.enqueue(&m.shown, m.wakeShow, ev)
}

// previews orders the previewer's events after the worker's: a page the
// worker took as stored is not shown pending after it, and a page is shown
// pending once (the journal may tell of it as it arrives and again as its
// write begins).
type previews struct {
	mu sync.Mutex
	// stored: for each member's book, the worker took its pages below
	// this index as stored (it reports them as such); shown: its pages
	// below this index were shown pending, or passed over.
	stored, shown map[identity.ID]uint64
}

// noteStored notes the pages of stored events the worker is about to
// report (before it reports any).
func (m *Messenger) noteStored(q []journal.Event) {
	p := &m.previews
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range q {
		p.stored[ev.Book] = max(p.stored[ev.Book], ev.Index+uint64(len(ev.Pages)))
	}
}

// shownBelow is the index below which book's pages were shown pending or
// stored: preview passes them over.
func (m *Messenger) shownBelow(book identity.ID) uint64 {
	p := &m.previews
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.stored[book], p.shown[book])
}

// emitPending reports ev, of page index of book, as pending unless that
// page was shown pending or taken as stored; it tells whether the page is
// stored already.
func (m *Messenger) emitPending(book identity.ID, index uint64, ev Event) (stored bool) {
	p := &m.previews
	p.mu.Lock()
	defer p.mu.Unlock()
	if index < p.stored[book] {
		return true
	}
	if index >= p.shown[book] {
		p.shown[book] = index + 1
		m.emit(ev)
	}
	return false
}

// show is the previewer: it reports the pages verified in members' books
// while they are stored (preview), and withdraws those not stored in
// time, until the messenger closes.
func (m *Messenger) show() {
	defer m.wg.Done()
	expire := time.NewTimer(m.cfg.PendingFor)
	defer expire.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.wakeShow:
		case <-expire.C:
			m.withdraw(time.Now().Add(-m.cfg.PendingFor))
		}
		m.mu.Lock()
		shown := m.shown
		m.shown = nil
		m.mu.Unlock()
		for _, ev := range shown {
			m.preview(ev)
		}
		if first, ok := m.firstShown(); ok {
			expire.Reset(time.Until(first.Add(m.cfg.PendingFor)))
		} else {
			expire.Stop()
		}
	}
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
	// Pages the worker took were reported stored, maybe before this
	// messenger opened (a peer may push pages held here already).
	taken := m.taken[ev.Book]
	m.mu.Unlock()
	if src.Book == nil {
		return
	}
	from := max(taken, m.shownBelow(ev.Book))
	for i, page := range ev.Pages {
		if ev.Index+uint64(i) < from {
			continue // shown pending already, or stored
		}
		idx := ev.Index + uint64(i) + src.Shift
		msg, err := src.Seal.decode(page, ref.peer, ev.Index+uint64(i), idx)
		if err != nil || msg.Type != TypeChat || FilesOf(msg.Data) != nil || !m.shownClock(t, ref.peer, idx, msg.Meta.Clock) {
			// Shown when stored, as received decides; a message with files
			// too: its files are read from the stored message.
			continue
		}
		shownMsg := moved.apply(msg)
		pending := Event{Type: EventMessage, Task: t.id, Message: &shownMsg, Pending: true}
		m.keepShown(ev.Book, ev.Index+uint64(i), shownPage{page: page, msg: msg, ev: pending, at: time.Now()})
		if m.emitPending(ev.Book, ev.Index+uint64(i), pending) {
			return // stored already, and the pages after it: the worker reports them
		}
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

// shownPage is a page preview decoded and shown pending: received takes
// the message rather than decode the same page again, withdraw its event
// if it is not stored in time.
type shownPage struct {
	page []byte
	msg  Message
	ev   Event     // the pending event reported
	at   time.Time // when
}

// keepShown keeps the message preview decoded from page index of book.
func (m *Messenger) keepShown(book identity.ID, index uint64, s shownPage) {
	m.mu.Lock()
	full := len(m.decoded) >= maxDecoded
	m.mu.Unlock()
	if full {
		// Writes that failed left theirs: withdraw every one not being
		// stored, and forget them all if that was not enough.
		m.withdraw(s.at)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.decoded) >= maxDecoded {
		clear(m.decoded)
	}
	m.decoded[shownKey{book, index}] = s
}

// firstShown returns when the oldest message still shown pending was
// shown.
func (m *Messenger) firstShown() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var first time.Time
	for _, s := range m.decoded {
		if first.IsZero() || s.at.Before(first) {
			first = s.at
		}
	}
	return first, !first.IsZero()
}

// withdraw forgets the messages shown pending at or before cutoff, and
// reports Withdrawn those whose pages the worker has not taken as stored
// (after their pending events, before any stored event that follows; the
// others it reports stored, if it has not yet). A page of a book withdrawn
// may be shown pending again.
func (m *Messenger) withdraw(cutoff time.Time) {
	p := &m.previews
	p.mu.Lock()
	defer p.mu.Unlock()
	var gone []shownKey
	var evs []Event
	m.mu.Lock()
	for k, s := range m.decoded {
		if s.at.After(cutoff) {
			continue
		}
		delete(m.decoded, k)
		if k.index >= p.stored[k.book] {
			gone = append(gone, k)
			evs = append(evs, s.ev)
		}
	}
	m.mu.Unlock()
	for i, k := range gone {
		p.shown[k.book] = min(p.shown[k.book], k.index)
		evs[i].Withdrawn = true
		m.emit(evs[i])
	}
}

// shownPending reports whether the message ref names is shown pending:
// decoded by a preview, not yet taken by the write that stores it.
func (m *Messenger) shownPending(ref Ref) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.decoded {
		if s.msg.Head.By == ref.By && s.msg.Head.Mid == ref.Mid {
			return true
		}
	}
	return false
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
