package room

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Unread messages. A task's unread count is the number of messages of
// other persons that its timeline shows (chat and system lines: every
// type but receipt pages) numbered above this profile's read mark of
// their author (MarkRead); the first unread message is the oldest of them
// in timeline order.
//
// An open task counts exactly: when its books open (in the background:
// ensure, lazy.go) and after each read mark, the messages above the marks
// are read back from the members' books (as many as are unread); each
// message that arrives after adds one. A lazy task (its books not opened:
// lazy.go) shows the count it had when it was last written down: the
// private book "unread" keeps, for every task whose count or read marks
// changed, a record
//
//	{"v":1, "tasks":{"<task>":{"n":3, "first":"<by>/<mid>", "read":{"<author>":mid,…}}, …},
//	 "books":{"<book>":n, …}}
//
// (the whole state of each task named; a later record replaces an earlier
// one; "books": the cursors of members' books that moved, taken.go, the
// larger n winning), written by the worker at most once per unreadEvery, after read
// marks (at most once per readMarkEvery) and at Close,
// sealed like the tasks book and never replicated. Replayed at open, it
// gives the counts of all tasks without opening any task's books; the
// read marks in it survive a reload even when no receipt page carried
// them (the receipt went on the wire). The book only grows (one record per
// unreadEvery while messages arrive or are read); see docs/manytasks.md.
const unreadBook = "unread"

// unreadEvery is the least time between two records of the unread book.
const unreadEvery = time.Second

// unreadPerRecord bounds the tasks in one record, and takenPerRecord the
// cursors (a page stays small).
const (
	unreadPerRecord = 40
	takenPerRecord  = 256
)

// EventUnread: Task's unread count changed (TaskInfo.Unread, .FirstUnread).
const EventUnread EventType = "unread"

// unreadState is a task's unread messages. Guarded by Messenger.mu.
type unreadState struct {
	n       int
	first   Key    // the first unread message; zero with n == 0
	firstID string // its id, "by/mid"
	// upTo: each author's messages below this mid are counted (an open
	// task's; received adds the ones above).
	upTo map[identity.ID]uint64
	// read: the read marks of each author, as written in the unread book.
	read  map[identity.ID]uint64
	dirty bool // changed since the last record
}

// unreadRecord is a record of the unread book.
type unreadRecord struct {
	V     int                    `json:"v"`
	Tasks map[string]unreadEntry `json:"tasks"`
	Books map[string]uint64      `json:"books,omitempty"` // taken.go
}

type unreadEntry struct {
	N     int               `json:"n"`
	First string            `json:"first,omitempty"`
	Read  map[string]uint64 `json:"read,omitempty"`
}

// unreadLog holds the unread book (immutable after Open) and when it was
// last written (guarded by mu, which serialises the writes).
type unreadLog struct {
	book *journal.Book
	mu   sync.Mutex
	last time.Time

	marks readMarks
}

// readMarkEvery is the least time between two writes of read marks
// (saveReadMarks). A reader shown one message after another marks each
// read; written in a transaction each, the marks queued with the
// replica's writes on the same object stores and delayed the next
// messages (issue #17, send → render).
const readMarkEvery = 200 * time.Millisecond

// readMarks plans the writes of read marks. Guarded by mu.
type readMarks struct {
	mu      sync.Mutex
	planned bool      // a write is planned, not begun: new marks ride with it
	begun   time.Time // when the last write of marks began
}

// saveReadMarks has the read marks made so far written in the unread
// book, in the background: at once if no write of marks began in the last
// readMarkEvery, else then, with every mark made meanwhile (one
// transaction for all). Close writes the marks of a write still waiting;
// a tab killed before loses at most that much (the messages show unread
// again; the authors were told already).
func (m *Messenger) saveReadMarks() {
	rm := &m.unreadLog.marks
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.planned {
		return
	}
	rm.planned = true
	wait := readMarkEvery - time.Since(rm.begun)
	m.goSend(func(ctx context.Context) {
		if wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return // closing: Close writes them
			}
		}
		rm.mu.Lock()
		rm.planned, rm.begun = false, time.Now()
		rm.mu.Unlock()
		m.flushUnread(ctx, true)
	})
}

// replayUnread opens the unread book and takes its records. Called during
// Open.
func (m *Messenger) replayUnread(ctx context.Context) error {
	b, err := m.db.Author(ctx, unreadBook, []byte(`{"app":"task-messenger","of":"unread"}`))
	if err != nil {
		return fmt.Errorf("room: open unread: %w", err)
	}
	m.unreadLog.book = b
	n := b.Len()
	ps := m.privateSeal(b.Key())
	for start := uint64(1); start < n; start += 1024 {
		end := min(start+1024, n)
		pages, err := b.GetRange(ctx, start, end)
		if err != nil {
			return fmt.Errorf("room: read unread: %w", err)
		}
		m.mu.Lock()
		for i, p := range pages {
			var r unreadRecord
			if p, err := ps.open(start+uint64(i), p); err != nil || json.Unmarshal(p, &r) != nil {
				m.log.Warn("room: skipping a bad unread record", "index", start+uint64(i))
				continue
			}
			m.takeUnreadLocked(r)
			for b, n := range r.Books {
				if id, err := identity.ParseID(b); err == nil {
					m.takenLocked(id, n)
				}
			}
		}
		m.mu.Unlock()
	}
	return nil
}

// takeUnreadLocked applies a record of the unread book. Called with m.mu
// held.
func (m *Messenger) takeUnreadLocked(r unreadRecord) {
	for s, e := range r.Tasks {
		id, err := ParseTaskID(s)
		t := m.tasks[id]
		if err != nil || t == nil || e.N < 0 {
			continue
		}
		u := &t.unread
		u.n, u.firstID, u.first = e.N, "", Key{}
		if ref, err := ParseRef(e.First); err == nil && e.N > 0 {
			u.firstID = ref.String()
		}
		u.read = make(map[identity.ID]uint64, len(e.Read))
		for a, mid := range e.Read {
			if id, err := identity.ParseID(a); err == nil {
				u.read[id] = mid
			}
		}
	}
}

// Unread returns task id's unread count and first unread message's id
// ("" if none), without opening its books.
func (m *Messenger) Unread(id TaskID) (int, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[id]
	if t == nil {
		return 0, ""
	}
	return t.unread.n, t.unread.firstID
}

// countsLocked reports whether author's messages count as unread: another
// person's. Called with m.mu held.
func (m *Messenger) countsLocked(author identity.ID) bool {
	return m.personLocked(author) != m.person && author != m.self
}

// countUnread counts a message of author that arrived in open task t,
// reporting whether it is unread: the caller emits EventUnread (once for
// a catch-up's many).
func (m *Messenger) countUnread(t *task, author identity.ID, msg Message) bool {
	m.mu.Lock()
	u := &t.unread
	mid := msg.Head.Mid
	if !shownLine(msg.Type) || !m.countsLocked(author) || mid < u.upTo[author] {
		m.mu.Unlock()
		return false
	}
	if u.upTo == nil {
		u.upTo = make(map[identity.ID]uint64)
	}
	u.upTo[author] = mid + 1
	counted := mid > m.readMarkLocked(t, author)
	if counted {
		u.addLocked(msg)
	}
	m.mu.Unlock()
	return counted
}

// addLocked adds an unread message.
func (u *unreadState) addLocked(msg Message) {
	u.n++
	u.dirty = true
	if k := msg.Key(); u.firstID == "" || k.Compare(u.first) < 0 {
		u.first, u.firstID = k, Ref{By: msg.Head.By, Mid: msg.Head.Mid}.String()
	}
}

// readMarkLocked is this profile's read mark of author's messages in t:
// its receipt state's, or the unread book's. Called with m.mu held.
func (m *Messenger) readMarkLocked(t *task, author identity.ID) uint64 {
	r := t.unread.read[author]
	if rs := t.receipts[author]; rs != nil {
		r = max(r, rs.read)
	}
	return r
}

// noteReadLocked keeps a read mark for the unread book. Called with m.mu
// held.
func (t *task) noteReadLocked(author identity.ID, mid uint64) {
	u := &t.unread
	if u.read == nil {
		u.read = make(map[identity.ID]uint64)
	}
	if mid > u.read[author] {
		u.read[author] = mid
		u.dirty = true
	}
}

// recountUnread counts open task t's unread messages again from its
// members' books: the messages above each author's read mark. Messages
// that arrive while it reads (counted by received into the state it
// replaces) are read after, from where it stopped, before the count is
// kept; a read mark made meanwhile starts the count again. A read that
// fails (the messenger closing) keeps the state as it was.
func (m *Messenger) recountUnread(ctx context.Context, t *task) {
	type src struct {
		author identity.ID
		read   uint64
		books  []BookSource
	}
	var (
		u     unreadState
		next  map[identity.ID]int    // each book's next index to read
		marks map[identity.ID]uint64 // the read marks u counts from
	)
	for try := range recountTries {
		m.mu.Lock()
		var srcs []src
		for id, mb := range t.members {
			if !m.countsLocked(id) || mb.in == nil {
				continue
			}
			srcs = append(srcs, src{author: id, read: m.readMarkLocked(t, id), books: m.authorSourcesLocked(t, id)})
		}
		m.mu.Unlock()
		moved := marks == nil
		for _, s := range srcs {
			moved = moved || marks[s.author] != s.read
		}
		if moved {
			u = unreadState{upTo: make(map[identity.ID]uint64)}
			next, marks = make(map[identity.ID]int), make(map[identity.ID]uint64, len(srcs))
			for _, s := range srcs {
				marks[s.author] = s.read
			}
		}
		for _, s := range srcs {
			for _, b := range s.books {
				n, err := b.Len(ctx)
				if err != nil {
					return
				}
				from, ok := next[b.Book.Key()]
				if !ok {
					from = int(max(s.read, b.Shift) - b.Shift) // index i holds mid Shift+i+1
				}
				for start := from; start < n; start += 256 {
					msgs, err := b.GetRange(ctx, start, min(n, start+256))
					if err != nil {
						return
					}
					for _, msg := range msgs {
						if shownLine(msg.Type) && msg.Head.Mid > s.read {
							u.addLocked(msg)
						}
					}
				}
				next[b.Book.Key()] = max(from, n)
				u.upTo[s.author] = max(u.upTo[s.author], b.Shift+uint64(n))
			}
		}
		if m.keepCount(t, u, marks, try == recountTries-1) {
			return
		}
	}
}

// recountTries bounds the passes of recountUnread while messages arrive
// or marks move: the last keeps its count even if received counted past
// it, unless a mark moved.
const recountTries = 8

// keepCount makes u, counted from the read marks marks, t's unread
// state, and reports true; false if a read mark moved meanwhile, or
// received counted messages past u and this is not the last pass (read
// on). The last pass with a moved mark keeps nothing (true): that mark's
// own count follows it.
func (m *Messenger) keepCount(t *task, u unreadState, marks map[identity.ID]uint64, last bool) bool {
	m.mu.Lock()
	old := t.unread
	for a, r := range marks {
		if m.readMarkLocked(t, a) != r {
			m.mu.Unlock()
			return last
		}
	}
	for a, up := range old.upTo {
		if up > u.upTo[a] && !last {
			m.mu.Unlock()
			return false
		}
	}
	changed := old.n != u.n || old.firstID != u.firstID
	u.read, u.dirty = old.read, old.dirty || changed
	t.unread = u
	m.mu.Unlock()
	if changed {
		m.emit(Event{Type: EventUnread, Task: t.id})
	}
	return true
}

// flushUnread writes the unread state of the tasks that changed into the
// unread book, if unreadEvery passed since the last record (or now, if
// force). Run by the worker, after a read mark (MarkRead: a reload right
// after must not lose it), and at Close.
func (m *Messenger) flushUnread(ctx context.Context, force bool) {
	if m.unreadLog.book == nil {
		return
	}
	m.unreadLog.mu.Lock()
	defer m.unreadLog.mu.Unlock()
	if !force && time.Since(m.unreadLog.last) < unreadEvery {
		return
	}
	m.mu.Lock()
	var pages [][]byte
	r := unreadRecord{V: 1, Tasks: make(map[string]unreadEntry)}
	add := func() {
		if b, err := json.Marshal(r); err == nil && len(r.Tasks)+len(r.Books) > 0 {
			pages = append(pages, b)
		}
		r.Tasks, r.Books = make(map[string]unreadEntry), nil
	}
	for _, id := range m.order {
		t := m.tasks[id]
		u := &t.unread
		if !u.dirty {
			continue
		}
		u.dirty = false
		e := unreadEntry{N: u.n, First: u.firstID, Read: make(map[string]uint64, len(u.read))}
		for a, mid := range u.read {
			e.Read[a.String()] = mid
		}
		r.Tasks[id.String()] = e
		if len(r.Tasks) == unreadPerRecord {
			add()
		}
	}
	for b := range m.takenDirty {
		if r.Books == nil {
			r.Books = make(map[string]uint64)
		}
		r.Books[b.String()] = m.taken[b]
		if len(r.Books) == takenPerRecord {
			add()
		}
	}
	clear(m.takenDirty)
	add()
	m.mu.Unlock()
	if len(pages) == 0 {
		return
	}
	m.unreadLog.last = time.Now()
	// Not cancelled by Close: a record being written is finished.
	if _, err := m.unreadLog.book.Append(context.WithoutCancel(ctx), pages...); err != nil {
		m.fail(fmt.Errorf("room: write unread: %w", err))
	}
}

// authorSourcesLocked is where this profile reads author's messages in t:
// its book, then its successors (inBooks). Called with m.mu held.
func (m *Messenger) authorSourcesLocked(t *task, author identity.ID) []BookSource {
	var out []BookSource
	for _, s := range m.inBooksLocked(t, author) {
		out = append(out, m.sourceLocked(t, s.book, author, s.shift))
	}
	return out
}

// MarkReadFrom is MarkRead for a view that shows every message of task
// id from the key from on, and none before it: the mark stops before the
// author's first unread message that sorts before from (one that arrived
// late, written offline long before), which the user has not seen.
func (m *Messenger) MarkReadFrom(id TaskID, ref Ref, from Key) error {
	t := m.task(id)
	if t == nil {
		return fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	m.mu.Lock()
	read, books := m.readMarkLocked(t, ref.By), m.authorSourcesLocked(t, ref.By)
	m.mu.Unlock()
	if ref.Mid > read {
		if unseen, ok := firstBefore(m.ctx, books, read+1, ref.Mid, from); ok {
			if unseen <= read+1 {
				return nil // the first unread is not seen yet: nothing moves
			}
			ref.Mid = unseen - 1
		}
	}
	return m.MarkRead(id, ref)
}

// firstBefore returns the mid of the first shown message in books, mids
// lo to hi, whose key sorts before from. An author's keys grow with its
// mids, so it reads up to the first shown message at or after from.
func firstBefore(ctx context.Context, books []BookSource, lo, hi uint64, from Key) (uint64, bool) {
	for _, b := range books {
		n, err := b.Len(ctx)
		if err != nil {
			continue
		}
		for start := int(max(lo-1, b.Shift) - b.Shift); start < n; start += 256 { // index i holds mid Shift+i+1
			msgs, err := b.GetRange(ctx, start, min(n, start+256))
			if err != nil {
				return 0, false
			}
			for _, msg := range msgs {
				switch {
				case msg.Head.Mid < lo || !shownLine(msg.Type):
				case msg.Head.Mid > hi || msg.Key().Compare(from) >= 0:
					return 0, false
				default:
					return msg.Head.Mid, true
				}
			}
		}
	}
	return 0, false
}

// shownLine tells whether a message of type typ is a line of the timeline
// the user reads (and so may be unread): not a receipt, nor an edit or a
// delete (they change a line, edits.go).
func shownLine(typ string) bool {
	return typ != TypeReceipt && typ != TypeEdit && typ != TypeDelete
}
