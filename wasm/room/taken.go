package room

import (
	"context"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Pages taken. Replication stores a member's pages first; the worker then
// reads them (received) and acts on what they say: an edit or a delete,
// a member announced, a leave, a device, a rename. A page stored but not
// yet read when the tab closes or crashes was, before cursors, never read
// again: its message showed in the timeline (read from the book), but an
// edit of it, say, was never applied.
//
// So the worker keeps, per member's book, a cursor: the pages below it were
// taken, every action on them done (written to the tasks book). It moves
// only over pages read in order and only while the messenger runs (a
// write cut short by Close leaves it where it was). It is written down
// with the unread counts (unread.go: a record's "books", {"<book>": n},
// the larger n winning), at most once per unreadEvery and at Close, and a
// book paired or followed starts at 1 in its record ("from"). When a
// book opens (load), the pages from its cursor to what is held are read
// again, so what a close cut short is done then. Every action on a page
// is idempotent, so pages read twice (a cursor written late) do no harm.
//
// A book with no cursor was paired before cursors existed: its cursor
// starts at the end of the first pages the worker reads of it.

// maxGap is the most pages the worker reads from a book to close the gap
// between its cursor and an event's first page (pages stored out of
// order, or passed by before their book was registered); past it the
// cursor waits for the book's next opening.
const maxGap = 1024

// takenLocked raises book's cursor to from (0: none). Called with m.mu
// held or before the messenger runs.
func (m *Messenger) takenLocked(book identity.ID, from uint64) {
	if from == 0 || from <= m.taken[book] {
		return
	}
	m.taken[book] = from
	m.takenDirty[book] = true
}

// resumeTaken, as a member's book opens, queues its pages held past its
// cursor: stored, but not read before the profile last closed. They are
// read in the background: a catch-up cut short leaves thousands, and the
// book's task shows its first page without waiting for them.
func (m *Messenger) resumeTaken(b *journal.Book) {
	m.mu.Lock()
	from, ok := m.taken[b.Key()]
	m.mu.Unlock()
	if ok && from < heldFrom0(b) {
		m.inBackground(func(ctx context.Context) { m.rescanFrom(ctx, b, from) })
	}
}

// untaken trims an event of book b to the pages not taken yet, from the
// cursor on: pages below it are dropped, and a gap between the cursor and
// the event's first page is read from the book first. It reports whether
// the cursor may move to the event's end once its pages are read.
func (m *Messenger) untaken(ctx context.Context, b *journal.Book, ev journal.Event) (journal.Event, bool) {
	m.mu.Lock()
	from, known := m.taken[ev.Book]
	m.mu.Unlock()
	end := ev.Index + uint64(len(ev.Pages))
	switch {
	case !known:
		return ev, true // a book paired before cursors: its cursor starts here
	case end <= from:
		m.dropShown(ev, len(ev.Pages))
		ev.Pages = nil
		return ev, false
	case ev.Index <= from:
		m.dropShown(ev, int(from-ev.Index))
		ev.Pages, ev.Index = ev.Pages[from-ev.Index:], from
		return ev, true
	case ev.Index-from > maxGap:
		// Read as it comes; the cursor stays, and the book's next opening
		// reads the gap again (one pass, not one per event).
		return ev, false
	}
	gap, err := b.GetRange(ctx, from, ev.Index)
	if err != nil {
		return ev, false // not held (stored out of order): taken once they are
	}
	ev.Pages, ev.Index = append(gap, ev.Pages...), from
	return ev, true
}

// dropShown forgets the previews (preview.go) of ev's first n pages,
// taken already.
func (m *Messenger) dropShown(ev journal.Event, n int) {
	for i := range n {
		m.takeShown(ev.Book, ev.Index+uint64(i), ev.Pages[i])
	}
}

// took moves book's cursor to end, unless the messenger is closing (what
// it did may be cut short).
func (m *Messenger) took(book identity.ID, end uint64) {
	if m.ctx.Err() != nil {
		return
	}
	m.mu.Lock()
	m.takenLocked(book, end)
	m.mu.Unlock()
}

// rescan queues a member's book's pages held from 1 for the worker.
func (m *Messenger) rescan(ctx context.Context, in *journal.Book) { m.rescanFrom(ctx, in, 1) }

// rescanFrom queues a member's book's pages held from from on for the
// worker.
func (m *Messenger) rescanFrom(ctx context.Context, in *journal.Book, from uint64) {
	end := heldFrom0(in)
	for start := max(from, 1); start < end; start += 1024 {
		pages, err := in.GetRange(ctx, start, min(start+1024, end))
		if err != nil {
			if ctx.Err() == nil {
				m.fail(fmt.Errorf("room: read the book of %s: %w", in.Info().Author.Short(), err))
			}
			return
		}
		m.onDBEvent(journal.Event{Type: journal.EventPut, Book: in.Key(), Index: start, Pages: pages})
	}
}

// forgetTakenLocked drops the cursor of a book no longer read. Called
// with m.mu held.
func (m *Messenger) forgetTakenLocked(book identity.ID) {
	delete(m.taken, book)
	delete(m.takenDirty, book)
}
