package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Receipt pages: a receipt on the wire (receipt.go) reaches an author only
// while both are online. So a member that owes an author a receipt it
// cannot send (the author is offline) writes it into its own books of the
// task, a message of type "receipt" that every member's copy carries and
// that travels like any page (mirrors included, sealed):
//
//	{"head":[by, to, mid], "refs":{}, "type":"receipt",
//	 "data":{"of":{"<author id>":{"received":r, "read":d}, …}}, "meta":{…}}
//
// one entry per author of the task whose messages the writer holds: r and
// d as in a wire receipt, in the writer's numbering of that author's
// messages. An author reading a member's receipt page takes its own entry
// as that member's receipt (MemberInfo.Received, .Read; EventReceipt); the
// other entries are the member's word about other authors, not used.
// Receipt pages are not timeline messages: Page skips them, no
// EventMessage reports them.
//
// At most one receipt page per task per Config.ReceiptEvery (the first
// that long after it became due: a catch-up from a mirror makes one page),
// and only when the writer's receipt of some author's messages other than
// receipt pages advanced beyond its last receipt page: a receipt page
// never needs a receipt, so two members never answer each other's pages
// forever. Nothing is stored beside the pages: at open, the last pages of
// each book of the task tell the last receipt page this profile wrote and
// each member's (loadReceipts).

// DefaultReceiptEvery is Config.ReceiptEvery's default.
const DefaultReceiptEvery = 2 * time.Second

// receiptScan bounds the pages read back from the end of each book of a
// task at open, to find the last receipt page and the last other message.
const receiptScan = 64

// A Mark is how far a member holds (Received) and read (Read) an author's
// messages: an entry of a receipt page.
type Mark struct {
	Received uint64 `json:"received"`
	Read     uint64 `json:"read"`
}

// receiptData is a receipt page's data.
type receiptData struct {
	Of map[string]Mark `json:"of"`
}

// receiptPages is a task's state of receipt pages. Guarded by
// Messenger.mu.
type receiptPages struct {
	loading   bool // the last pages of its books are being read (loadReceipts)
	due       bool // a receipt owed to an offline author may have advanced
	scheduled bool // a write is scheduled or running
}

// checkReceipt checks a receipt page's data.of: an object of at most
// MaxMembers peer ids, each {received, read} with read ≤ received ≤
// MaxClock.
func checkReceipt(raw json.RawMessage) error {
	if len(raw) == 0 {
		return errors.New("data.of missing")
	}
	var of map[string]json.RawMessage
	if err := json.Unmarshal(raw, &of); err != nil || of == nil {
		return errors.New("data.of is not an object")
	}
	if len(of) > MaxMembers {
		return fmt.Errorf("data.of names %d authors, at most %d", len(of), MaxMembers)
	}
	for id, v := range of {
		if _, err := identity.DecodeID(id); err != nil {
			return fmt.Errorf("data.of: %v", err)
		}
		var mk Mark
		if string(v) == "null" || json.Unmarshal(v, &mk) != nil {
			return fmt.Errorf("data.of[%s] is not {received, read}", clip(id))
		}
		if mk.Received > MaxClock || mk.Read > mk.Received {
			return fmt.Errorf("data.of[%s]: read %d, received %d: want read ≤ received ≤ %d", clip(id), mk.Read, mk.Received, uint64(MaxClock))
		}
	}
	return nil
}

// pageDueLocked records that t's receipts may have advanced for an offline
// author, and schedules a receipt page. Called with m.mu held.
func (m *Messenger) pageDueLocked(t *task) {
	t.pages.due = true
	m.scheduleLocked(t)
}

// scheduleLocked writes t's receipt page ReceiptEvery from now, unless one
// is scheduled already. Called with m.mu held.
func (m *Messenger) scheduleLocked(t *task) {
	if t.pages.scheduled || !t.pages.due || m.closed {
		return
	}
	t.pages.scheduled = true
	time.AfterFunc(m.cfg.ReceiptEvery, func() {
		m.goSend(func(ctx context.Context) { m.writeReceiptPage(ctx, t) })
	})
}

// writeReceiptPage writes t's receipt page if a receipt of an author's
// messages, other than receipt pages, advanced beyond the last one.
func (m *Messenger) writeReceiptPage(ctx context.Context, t *task) {
	defer func() {
		m.mu.Lock()
		t.pages.scheduled = false
		m.scheduleLocked(t)
		m.mu.Unlock()
	}()
	m.mu.Lock()
	if t.pages.loading {
		m.mu.Unlock()
		return // loadReceipts schedules it again
	}
	t.pages.due = false
	var authors []identity.ID
	for id, mb := range t.members {
		if mb.in != nil {
			authors = append(authors, id)
		}
	}
	m.mu.Unlock()
	of := make(map[string]Mark, len(authors))
	marks := make(map[identity.ID]Mark, len(authors))
	advanced := false
	for _, a := range authors {
		w := m.receipt(ctx, t, a)
		if w.Received == 0 {
			continue
		}
		mk := Mark{w.Received, w.Read}
		of[a.String()], marks[a] = mk, mk
		m.mu.Lock()
		if rs := t.receipts[a]; rs != nil && rs.advanced(mk.Received) {
			advanced = true
		}
		m.mu.Unlock()
	}
	if !advanced {
		return
	}
	if _, err := m.write(ctx, t, TypeReceipt, receiptData{of}, nil); err != nil {
		if !errors.Is(err, ErrRestoring) && ctx.Err() == nil {
			m.fail(fmt.Errorf("room: task %s: receipt page: %w", t.id, err))
		}
		return
	}
	m.mu.Lock()
	for a, mk := range marks {
		m.receiptStateLocked(t, a).told = mk
	}
	m.mu.Unlock()
}

// advanced reports whether this profile holds (up to received) or read
// more of the author's messages other than receipt pages than its last
// receipt page told.
func (rs *receiptState) advanced(received uint64) bool {
	c := rs.content
	return min(received, c) > min(rs.told.Received, c) || min(rs.read, c) > min(rs.told.Read, c)
}

// receiptStateLocked is t's receipt state of author's messages, made if
// none. Called with m.mu held.
func (m *Messenger) receiptStateLocked(t *task, author identity.ID) *receiptState {
	rs := t.receipts[author]
	if rs == nil {
		rs = &receiptState{}
		t.receipts[author] = rs
	}
	return rs
}

// onReceiptPage takes a member's receipt page: its entry of this
// profile's messages.
func (m *Messenger) onReceiptPage(t *task, author identity.ID, msg Message) {
	var d receiptData
	if json.Unmarshal(msg.Data, &d) != nil {
		return
	}
	if mk, ok := d.Of[m.self.String()]; ok {
		m.takeReceipt(t, author, mk.Received, mk.Read)
	}
}

// receiptsToLoad marks the tasks of the profile at open as loading and
// returns them, for loadReceipts (tasks made or joined later start with
// their books: nothing to read back). Called before the messenger runs.
func (m *Messenger) receiptsToLoad() []*task {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := make([]*task, 0, len(m.order))
	for _, id := range m.order {
		if t := m.tasks[id]; t != nil && t.ready {
			t.pages.loading = true
			ts = append(ts, t)
		}
	}
	return ts
}

// loadReceipts reads, at open, the last pages of the books of ts: this
// profile's last receipt page (what it told, what its user read), each
// member's last receipt page (its receipt of this profile's messages) and
// last other message; then the receipt pages owed are written.
func (m *Messenger) loadReceipts(ctx context.Context, ts []*task) {
	for _, t := range ts {
		if ctx.Err() != nil {
			return
		}
		m.loadTaskReceipts(ctx, t, nil)
		m.mu.Lock()
		t.pages.loading = false
		m.pageDueLocked(t)
		m.mu.Unlock()
	}
}

// loadTaskReceipts is loadReceipts of one task; own is its log's tail if
// already read (by load), else nil. The last receipts of the log and of
// each member's book are read side by side (a task opened waits on one
// round trip to the store, not one per member), then taken in turn: this
// profile's first.
func (m *Messenger) loadTaskReceipts(ctx context.Context, t *task, own *tail) {
	m.mu.Lock()
	type latest struct {
		author  identity.ID
		src     BookSource
		page    *Message
		content uint64
	}
	ls := []latest{{src: m.logSource(t.log)}} // this profile's own
	for id, mb := range t.members {
		if mb.in == nil {
			continue
		}
		b, shift := mb.in, uint64(0)
		for _, s := range mb.next {
			if s.book != nil {
				b, shift = s.book, s.shift
			}
		}
		ls = append(ls, latest{author: id, src: m.sourceLocked(t, b, id, shift)})
	}
	m.mu.Unlock()
	var g errgroup.Group
	g.SetLimit(loadMembersAtOnce)
	if own != nil {
		ls[0].page, _ = own.lastReceipt(ls[0].src.Shift)
	}
	for i := range ls {
		if i == 0 && own != nil {
			continue
		}
		g.Go(func() error {
			ls[i].page, ls[i].content = lastReceipt(ctx, ls[i].src)
			return nil
		})
	}
	_ = g.Wait() // lastReceipt reports no error: a read that fails counts as no receipt
	if own := ls[0].page; own != nil {
		var d receiptData
		if json.Unmarshal(own.Data, &d) == nil {
			m.mu.Lock()
			for s, mk := range d.Of {
				if a, err := identity.DecodeID(s); err == nil && t.members[a] != nil {
					rs := m.receiptStateLocked(t, a)
					rs.told, rs.read = mk, max(rs.read, mk.Read)
				}
			}
			m.mu.Unlock()
		}
	}
	for _, l := range ls[1:] {
		m.mu.Lock()
		rs := m.receiptStateLocked(t, l.author)
		rs.content = max(rs.content, l.content)
		m.mu.Unlock()
		if l.page != nil {
			m.onReceiptPage(t, l.author, *l.page)
		}
	}
}

// lastReceipt reads back up to receiptScan messages from the end of src:
// the last receipt page (nil if none among them), and the mid of the last
// other message, or if none among them the mid just below them (a bound:
// none of the author's messages above it is another's).
func lastReceipt(ctx context.Context, src BookSource) (*Message, uint64) {
	return readTail(ctx, src).lastReceipt(src.Shift)
}

// A tail is the newest messages of a source, up to receiptScan of them,
// read at once: what opening a task needs of its log (the last clock, the
// last receipt page) in one request.
type tail struct {
	n    int       // the source's length; 0 if unknown
	msgs []Message // messages [n-len(msgs), n)
	err  error     // the read's
}

// readTail reads src's tail.
func readTail(ctx context.Context, src BookSource) tail {
	n, err := src.Len(ctx)
	if err != nil || n == 0 {
		return tail{}
	}
	msgs, err := src.GetRange(ctx, max(0, n-receiptScan), n)
	return tail{n: n, msgs: msgs, err: err}
}

// clock is the clock of the source's last message, 0 if none (or unread).
func (tl tail) clock() uint64 {
	if tl.err != nil || len(tl.msgs) == 0 {
		return 0
	}
	return tl.msgs[len(tl.msgs)-1].Meta.Clock
}

// lastReceipt is lastReceipt of the tail of a source whose page p holds
// the message numbered p+shift.
func (tl tail) lastReceipt(shift uint64) (*Message, uint64) {
	switch {
	case tl.n == 0:
		return nil, shift
	case tl.err != nil:
		return nil, uint64(tl.n) + shift // unknown: everything counts as content
	}
	var page *Message
	for i := len(tl.msgs) - 1; i >= 0; i-- {
		if tl.msgs[i].Type != TypeReceipt {
			return page, tl.msgs[i].Head.Mid
		}
		if page == nil {
			page = &tl.msgs[i]
		}
	}
	return page, uint64(tl.n-len(tl.msgs)) + shift
}
