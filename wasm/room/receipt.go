package room

import (
	"context"
	"fmt"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Receipts: each member tells every author of a task how far it holds the
// author's messages, and how far it has read them:
//
//	{"v":2, "type":"receipt", "task":T, "received":r, "read":d}
//
// r: the highest number (mid) of the receiver's messages the sender holds
// from the first on (in every book of it, successors included); d: the
// highest the sender's user has read (MarkRead), or r once the user read
// all of them but receipt pages (which are not shown). Both only grow. A
// member sends one when the author's messages arrive or are read
// (coalesced: the latest values, once per batch of the worker, and at
// most one per Config.ReceiptGap to an author in a task: in a
// conversation every message moves both values, and a receipt costs both
// tabs as much as a small message), and on every port to the author that
// opens, so an author that was offline learns where it stands. The port
// is authenticated: a receipt is the member's word about itself, not a
// guess. The author keeps the highest values of each member
// (MemberInfo.Received, .Read), in its own numbering of its messages (a
// member that followed its successor numbers some of them otherwise:
// successor.go), capped to the messages it wrote, and reports them
// (EventReceipt). To an author offline, the receipt goes in a receipt
// page instead (receiptpage.go).

// receiptState is, in a task, what this profile holds and read of an
// author's messages and whether the author must be told.
type receiptState struct {
	read uint64 // the highest mid of the author's this profile's user read
	due  bool   // the author must be told (flushReceipts)
	// content: the highest mid of the author's messages held here that is
	// not a receipt page (an upper bound: receiptpage.go).
	content uint64
	// told: what this profile's last receipt page says of the author's
	// messages (receiptpage.go).
	told Mark
	// sent: when the last receipt went to the author on a port
	// (flushReceipts).
	sent time.Time
}

// DefaultReceiptGap is Config.ReceiptGap's default: the least time
// between two receipts to one author in one task on its port. The first
// goes at once, those owed meanwhile go as one when the gap has passed, so
// a delivered or read mark on the author's screen lags by at most that.
const DefaultReceiptGap = 100 * time.Millisecond

// receipt is the receipt this profile owes author in t: how far it holds
// the author's messages, and read them.
func (m *Messenger) receipt(ctx context.Context, t *task, author identity.ID) wire {
	w := wire{Type: wireReceipt, Task: t.id}
	for _, s := range m.inBooks(t, author) {
		src := BookSource{Book: s.book, Author: author, Shift: s.shift}
		if n, err := src.Len(ctx); err == nil && n > 0 {
			w.Received = max(w.Received, s.shift+uint64(n))
		}
	}
	m.mu.Lock()
	if rs := t.receipts[author]; rs != nil {
		w.Read = min(rs.read, w.Received)
		if !t.pages.loading && rs.read > 0 && rs.read >= rs.content {
			w.Read = w.Received // all read but receipt pages, which are not shown
		}
	}
	m.mu.Unlock()
	return w
}

// oweLocked marks that author must be told this profile's receipt in t.
// Called with m.mu held.
func (t *task) oweLocked(author identity.ID) {
	rs := t.receipts[author]
	if rs == nil {
		rs = &receiptState{}
		t.receipts[author] = rs
	}
	rs.due = true
}

// heldLocked notes that this profile holds the author's message mid of
// type typ, and owes the author a receipt. Called with m.mu held.
func (t *task) heldLocked(author identity.ID, mid uint64, typ string) {
	t.oweLocked(author)
	if typ != TypeReceipt {
		rs := t.receipts[author]
		rs.content = max(rs.content, mid)
	}
}

// flushReceipts sends the receipts owed to authors online, but those
// within Config.ReceiptGap of the last one to the same author in the same
// task: it returns how soon the first of those may go (0: none held), for
// the worker to call it again then. Authors offline get theirs when a port
// to them opens (receiptsOnOpen), and in a receipt page (receiptpage.go).
// The worker's.
func (m *Messenger) flushReceipts() (later time.Duration) {
	type owed struct {
		t      *task
		author identity.ID
		c      *conn
	}
	var os []owed
	now := time.Now()
	m.mu.Lock()
	for _, t := range m.tasks {
		for author, rs := range t.receipts {
			if !rs.due {
				continue
			}
			c := m.conns[author]
			if c == nil || !c.synced {
				rs.due = false
				m.pageDueLocked(t)
				continue
			}
			if wait := m.cfg.ReceiptGap - now.Sub(rs.sent); wait > 0 {
				if later == 0 || wait < later {
					later = wait
				}
				continue
			}
			rs.due, rs.sent = false, now
			os = append(os, owed{t, author, c})
		}
	}
	m.mu.Unlock()
	for _, o := range os {
		m.goSend(func(ctx context.Context) {
			_ = m.send(ctx, o.c, m.receipt(ctx, o.t, o.author))
		})
	}
	return later
}

// receiptsOnOpen sends c's peer this profile's receipts of every task they
// share.
func (m *Messenger) receiptsOnOpen(c *conn) {
	m.mu.Lock()
	var ts []*task
	for _, t := range m.tasks {
		if mb := t.members[c.peer]; mb != nil && mb.in != nil {
			ts = append(ts, t)
		}
	}
	m.mu.Unlock()
	if len(ts) == 0 {
		return
	}
	m.goSend(func(ctx context.Context) {
		for _, t := range ts {
			if err := m.send(ctx, c, m.receipt(ctx, t, c.peer)); err != nil {
				return
			}
		}
	})
}

// onReceipt takes a member's receipt of this profile's messages.
func (m *Messenger) onReceipt(c *conn, w wire) {
	if t := m.task(w.Task); t != nil {
		m.takeReceipt(t, c.peer, w.Received, w.Read)
	}
}

// takeReceipt takes a member's receipt of this profile's messages in t,
// from the wire or a receipt page: received and read in the member's
// numbering, capped to the messages this profile wrote.
func (m *Messenger) takeReceipt(t *task, peer identity.ID, received, read uint64) {
	last := max(t.log.Len(), 1) - 1 // the log's page 0 is its genesis
	m.mu.Lock()
	mb := t.members[peer]
	if mb == nil {
		m.mu.Unlock()
		return
	}
	own := renumbering{m.self, mb.outFrom, mb.outShift}
	received = min(own.ownMid(received), last)
	read = min(own.ownMid(read), received)
	changed := received > mb.received || read > mb.read
	mb.received, mb.read = max(mb.received, received), max(mb.read, read)
	m.mu.Unlock()
	if changed {
		m.emit(Event{Type: EventReceipt, Task: t.id, Peer: peer})
	}
}

// ownMid is the number in this profile's log of its message a member
// numbers mid: the same below a successor's messages; shift less among
// them; and a number of the other place's messages (between) counts as
// the last agreed one.
func (r renumbering) ownMid(mid uint64) uint64 {
	switch {
	case r.shift == 0 || mid <= r.from:
		return mid
	case mid > r.from+r.shift:
		return mid - r.shift
	}
	return r.from
}

// MarkRead records that this profile's user read the messages of ref's
// author in task id up to ref (shown on screen), and tells the author.
// The mark is written in the unread book within readMarkEvery, with the
// marks made meanwhile (saveReadMarks), and at Close.
func (m *Messenger) MarkRead(id TaskID, ref Ref) error {
	t := m.task(id)
	if t == nil {
		return fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	if ref.By == m.self {
		return nil // one's own messages are read
	}
	m.mu.Lock()
	if t.members[ref.By] == nil {
		m.mu.Unlock()
		return fmt.Errorf("room: %s is not a member of task %s", ref.By.Short(), id)
	}
	rs := t.receipts[ref.By]
	moved := rs == nil || ref.Mid > rs.read
	if moved {
		t.oweLocked(ref.By)
		t.receipts[ref.By].read = ref.Mid
		t.noteReadLocked(ref.By, ref.Mid) // unread.go
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	if moved {
		m.recountUnread(m.ctx, t)
		m.saveReadMarks() // unread.go
	}
	return nil
}
