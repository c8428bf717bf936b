package room

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// TaskInfo describes a task.
type TaskInfo struct {
	ID      TaskID      `json:"id"`
	Title   string      `json:"title"`
	Parent  *TaskID     `json:"parent,omitempty"`
	Host    identity.ID `json:"host"`
	Created int64       `json:"created"`
	Members int         `json:"members"` // this profile included
	// Creator made the task: the one who removes members (remove.go).
	Creator identity.ID `json:"creator"`
	// RemovedBy: this profile was removed from the task, by its creator.
	RemovedBy *identity.ID `json:"removedBy,omitempty"`
	// Epoch of the secret this profile seals the task's pages with.
	Epoch uint32 `json:"epoch"`
	// Unread: the messages of others above this profile's read marks;
	// FirstUnread: the id of the first of them, "" if none (unread.go).
	Unread      int    `json:"unread"`
	FirstUnread string `json:"firstUnread"`
}

func (m *Messenger) info(t *task) TaskInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	info := TaskInfo{ID: t.id, Title: t.title, Parent: t.parent, Host: t.host, Created: t.created, Members: len(t.members) + 1,
		Creator: t.creatorLocked(), Epoch: t.epoch, Unread: t.unread.n, FirstUnread: t.unread.firstID}
	if !t.removedBy.IsZero() {
		by := t.removedBy
		info.RemovedBy = &by
	}
	return info
}

// Tasks returns every task of the profile, in the order made or joined.
func (m *Messenger) Tasks() []TaskInfo {
	m.mu.Lock()
	ts := make([]*task, 0, len(m.order))
	for _, id := range m.order {
		if t := m.tasks[id]; t.knownLocked() {
			ts = append(ts, t)
		}
	}
	m.mu.Unlock()
	out := make([]TaskInfo, len(ts))
	for i, t := range ts {
		out[i] = m.info(t)
	}
	return out
}

// CreateTask makes a task hosted by this profile, a subtask of parent if
// not nil. Its first message says so; a subtask is also announced in its
// parent.
func (m *Messenger) CreateTask(ctx context.Context, title string, parent *TaskID) (TaskInfo, error) {
	title, err := checkTitle(title)
	if err != nil {
		return TaskInfo{}, err
	}
	if err := m.checkRestoring(); err != nil {
		return TaskInfo{}, err
	}
	var pt *task
	if parent != nil {
		if pt = m.task(*parent); pt == nil {
			return TaskInfo{}, fmt.Errorf("%w %s (the parent)", ErrUnknownTask, parent)
		}
	}
	id, err := NewTaskID()
	if err != nil {
		return TaskInfo{}, err
	}
	secret, err := seal.NewSecret()
	if err != nil {
		return TaskInfo{}, err
	}
	t, _, err := m.ensureTask(ctx, id, title, parent, m.self, m.self, secret)
	if err != nil {
		return TaskInfo{}, err
	}
	if _, err := m.write(ctx, t, TypeTask, m.withName(map[string]any{"title": title, "parent": parent}), nil); err != nil {
		return TaskInfo{}, err
	}
	if pt != nil {
		if _, err := m.write(ctx, pt, TypeSubtask, map[string]any{"id": id, "title": title}, nil); err != nil {
			return TaskInfo{}, err
		}
	}
	m.emit(Event{Type: EventTask, Task: id})
	return m.info(t), nil
}

// Rename retitles a task for every member.
func (m *Messenger) Rename(ctx context.Context, id TaskID, title string) error {
	title, err := checkTitle(title)
	if err != nil {
		return err
	}
	t := m.task(id)
	if t == nil {
		return fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	msg, err := m.write(ctx, t, TypeRename, map[string]any{"title": title}, nil)
	if err != nil {
		return err
	}
	return m.retitle(ctx, t, title, msg.Key())
}

// retitle takes a rename: the latest in timeline order wins, on every member.
func (m *Messenger) retitle(ctx context.Context, t *task, title string, k Key) error {
	title, err := checkTitle(title)
	if err != nil {
		return nil // a bad title from a peer is shown in the timeline, not applied
	}
	m.mu.Lock()
	newer := t.titleKey.Compare(k) < 0
	m.mu.Unlock()
	if !newer {
		return nil
	}
	if err := m.keepRecord(ctx, record{Op: opTitle, Task: t.id, Title: title, Clock: k.Clock, By: k.By}); err != nil {
		return err
	}
	m.emit(Event{Type: EventTask, Task: t.id})
	return nil
}

// Send writes a chat message (a reply if replyTo is not nil) into this
// profile's books of the task.
func (m *Messenger) Send(ctx context.Context, id TaskID, text string, replyTo *Ref) (Message, error) {
	return m.sendChat(ctx, id, text, replyTo, "", false)
}

// MaxNonce bounds a chat message's nonce (SendOnce).
const MaxNonce = 64

// nonceWindow is how many of a task's latest messages SendOnce looks
// through for its nonce: a send is retried within seconds of the first
// try (a tab that carried it out closed), so the message, if written, is
// among the latest.
const nonceWindow = 512

// SendOnce is Send with an idempotency key: the message carries the nonce
// (data.nonce, which readers ignore), and if retry is set and one of this
// profile's latest messages in the task already carries it, that message
// is returned and nothing is written. The tabs of a profile use it to send
// again, through a new writer, a message whose first writer closed before
// it answered: it is then written once.
func (m *Messenger) SendOnce(ctx context.Context, id TaskID, text string, replyTo *Ref, nonce string, retry bool) (Message, error) {
	if nonce == "" || len(nonce) > MaxNonce || !utf8.ValidString(nonce) {
		return Message{}, fmt.Errorf("room: a nonce of 1 to %d bytes of UTF-8", MaxNonce)
	}
	return m.sendChat(ctx, id, text, replyTo, nonce, retry)
}

// sendChat is Send and SendOnce: nonce "" writes none.
func (m *Messenger) sendChat(ctx context.Context, id TaskID, text string, replyTo *Ref, nonce string, retry bool) (Message, error) {
	if err := checkText(text); err != nil {
		return Message{}, err
	}
	t := m.task(id)
	if t == nil {
		return Message{}, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	if retry {
		msgs, err := m.Timeline(ctx, id, nil, nonceWindow)
		if err != nil {
			return Message{}, err
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Head.By == m.self && msgs[i].Type == TypeChat && dataNonce(msgs[i].Data) == nonce {
				return msgs[i], nil
			}
		}
	}
	if replyTo != nil {
		cause, err := m.lookupCause(ctx, id, *replyTo)
		if err != nil {
			return Message{}, fmt.Errorf("room: reply: %w", err)
		}
		m.seen(t, cause.Head.By, cause.Head.Mid, cause.Meta.Clock) // the reply comes after its cause, even if the cause was just received
	}
	data := map[string]any{"text": text}
	if nonce != "" {
		data["nonce"] = nonce
	}
	return m.write(ctx, t, TypeChat, data, replyTo)
}

// lookupCause is Lookup for a reply's cause. A cause shown pending (its
// page verified, not stored yet: its author's or this profile's write is
// running) is waited for, until it is stored or withdrawn and at most
// causeWait: a reply to a message seen an instant ago goes once it is
// stored, rather than failing.
func (m *Messenger) lookupCause(ctx context.Context, id TaskID, ref Ref) (Message, error) {
	cause, err := m.Lookup(ctx, id, ref)
	if err == nil || !m.shownPending(ref) {
		return cause, err
	}
	stored := make(chan struct{}, 1)
	defer m.Subscribe(func(ev Event) {
		if ev.Type == EventMessage && (!ev.Pending || ev.Withdrawn) && ev.Task == id {
			select {
			case stored <- struct{}{}:
			default:
			}
		}
	})()
	wait := time.NewTimer(causeWait)
	defer wait.Stop()
	for {
		if cause, err = m.Lookup(ctx, id, ref); err == nil || !m.shownPending(ref) {
			return cause, err
		}
		select {
		case <-stored:
		case <-wait.C:
			return Message{}, fmt.Errorf("%w (shown, not stored yet: its author's write may have failed)", err)
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// causeWait bounds how long a reply waits for a cause shown pending.
const causeWait = 10 * time.Second

// dataNonce is a message data's nonce, "" if none.
func dataNonce(data json.RawMessage) string {
	var d struct {
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	return d.Nonce
}

// SendMany writes chat messages in one batch (an import, a paste of many
// lines): one write per book instead of one per message.
func (m *Messenger) SendMany(ctx context.Context, id TaskID, texts []string) ([]Message, error) {
	t := m.task(id)
	if t == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	if len(texts) == 0 || len(texts) > MaxBatch {
		return nil, fmt.Errorf("room: a batch of %d messages: 1 to %d", len(texts), MaxBatch)
	}
	drafts := make([]draft, len(texts))
	for i, text := range texts {
		if err := checkText(text); err != nil {
			return nil, fmt.Errorf("room: message %d: %w", i, err)
		}
		drafts[i] = draft{TypeChat, map[string]any{"text": text}, nil}
	}
	return m.writeMany(ctx, t, drafts)
}

// MaxBatch bounds SendMany.
const MaxBatch = 4096

func checkText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return fmt.Errorf("room: empty message")
	case len(text) > MaxText:
		return fmt.Errorf("room: message of %d bytes, at most %d", len(text), MaxText)
	case !utf8.ValidString(text):
		return fmt.Errorf("room: message is not UTF-8")
	}
	return nil
}

// seen raises the task's clock to one author wrote (in its message mid; 0
// for a clock outside a message, as in a join's answer). It reports false,
// leaving the clock, for a clock above MaxClock or more than MaxClockStep
// + mid above the highest clock of the other authors (this profile
// included): a member's own messages cannot ratchet the clock, only the
// others' messages after them raise its bound.
func (m *Messenger) seen(t *task, author identity.ID, mid, clock uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.clockFitsLocked(author, mid, clock) {
		return false
	}
	t.raiseLocked(author, clock)
	return true
}

// clockFitsLocked is seen's check of a clock. Called with m.mu held.
func (t *task) clockFitsLocked(author identity.ID, mid, clock uint64) bool {
	var others uint64
	for id, c := range t.clocks {
		if id != author {
			others = max(others, c)
		}
	}
	return clock <= MaxClock && clock <= satAdd(satAdd(others, mid), MaxClockStep)
}

// raiseLocked records a clock author wrote, accepted. Called with m.mu
// held (or before the messenger runs).
func (t *task) raiseLocked(author identity.ID, clock uint64) {
	t.clocks[author] = max(t.clocks[author], clock)
	t.clock = max(t.clock, clock)
}

// satAdd is a + b, saturating at the largest uint64 instead of wrapping.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// write appends one message; see writeMany.
func (m *Messenger) write(ctx context.Context, t *task, typ string, data any, cause *Ref) (Message, error) {
	msgs, err := m.writeMany(ctx, t, []draft{{typ, data, cause}})
	if err != nil {
		return Message{}, err
	}
	return msgs[0], nil
}

// A draft is a message to write.
type draft struct {
	typ   string
	data  any
	cause *Ref
}

// writeMany appends messages to the task's log in one batch, then to the
// book to each member (page i of each is the log's page i, for that
// reader). A book a failure left behind is caught up first, here or at
// the next open.
func (m *Messenger) writeMany(ctx context.Context, t *task, drafts []draft) ([]Message, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return m.writeManyLocked(ctx, t, drafts)
}

// writeManyLocked is writeMany with t.wmu held; extra appends (a tasks
// record) go in the same all-or-nothing write.
func (m *Messenger) writeManyLocked(ctx context.Context, t *task, drafts []draft, extra ...journal.BookAppend) ([]Message, error) {
	if err := m.checkRestoring(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if !t.removedBy.IsZero() {
		m.mu.Unlock()
		return nil, ErrRemoved
	}
	clock := t.clock
	if satAdd(clock, uint64(len(drafts))) > MaxClock {
		m.mu.Unlock()
		return nil, fmt.Errorf("room: task %s: the clock is at its end (%d)", t.id, clock)
	}
	t.raiseLocked(m.self, clock+uint64(len(drafts)))
	// One book per person: its devices share it.
	var outs []*member
	to := make(map[*member]identity.ID)
	written := make(map[*journal.Book]bool)
	for _, mb := range t.members {
		if mb.out != nil && !written[mb.out] {
			written[mb.out] = true
			outs = append(outs, mb)
			to[mb] = m.personLocked(mb.id)
		}
	}
	revoked := m.revoked[m.self] != nil
	m.mu.Unlock()
	if revoked {
		return nil, ErrDeviceRevoked
	}
	now, mid := m.cfg.Now().UnixMilli(), t.log.Len()
	msgs := make([]Message, len(drafts))
	pages := make([][]byte, len(drafts))
	for i, d := range drafts {
		data, err := json.Marshal(d.data)
		if err != nil {
			return nil, err
		}
		msgs[i] = Message{Head: Head{By: m.self, Mid: mid + uint64(i)}, Refs: Refs{Cause: d.cause}, Type: d.typ, Data: data,
			Meta: Meta{Date: now, Clock: clock + 1 + uint64(i)}}
		if pages[i], err = msgs[i].Encode(); err != nil {
			return nil, err
		}
	}
	// The log and every book to a member that is level with it: one write,
	// all or nothing. A book that lags (a failure earlier) catches up after.
	appends := append([]journal.BookAppend{{Book: t.log, Pages: pages}}, extra...)
	var lagging []*member
	for _, mb := range outs {
		if mb.outFrom+mb.out.Len() != mid {
			lagging = append(lagging, mb)
			continue
		}
		copies, err := addressed(msgs, mb, to[mb])
		if err != nil {
			return nil, err
		}
		appends = append(appends, journal.BookAppend{Book: mb.out, Pages: copies})
	}
	if _, err := m.db.AppendMany(ctx, appends); err != nil {
		return nil, err
	}
	for _, mb := range lagging {
		if err := m.catchUp(ctx, t, mb); err != nil {
			m.fail(fmt.Errorf("room: messages from %d written, not yet copied to %s: %w", mid, mb.id.Short(), err))
		}
	}
	for i := range msgs {
		if msgs[i].Type != TypeReceipt { // not a timeline message
			m.emit(Event{Type: EventMessage, Task: t.id, Message: &msgs[i]})
		}
	}
	return msgs, nil
}

// addressed returns the pages of msgs (of this profile's log) addressed to
// a member: in its book's numbering (after a fork, a successor's messages
// and this profile's causes among them are renumbered; successor.go).
// Called with the task's wmu held.
func addressed(msgs []Message, mb *member, to identity.ID) ([][]byte, error) {
	pages := make([][]byte, len(msgs))
	for i, msg := range msgs {
		msg.Head.To = to
		if mb.outShift != 0 {
			msg.Head.Mid += mb.outShift
			if c := msg.Refs.Cause; c != nil && c.By == msg.Head.By && c.Mid > mb.outFrom {
				moved := *c
				moved.Mid += mb.outShift
				msg.Refs.Cause = &moved
			}
		}
		var err error
		if pages[i], err = msg.Encode(); err != nil {
			return nil, err
		}
	}
	return pages, nil
}

// catchUp copies the log's pages the member's book lacks into it, each
// addressed to the member. Called with t.wmu held (or at open).
func (m *Messenger) catchUp(ctx context.Context, t *task, mb *member) error {
	for have, n := mb.outFrom+mb.out.Len(), t.log.Len(); have < n; have = mb.outFrom + mb.out.Len() {
		end := min(n, have+1024)
		pages, err := t.log.GetRange(ctx, have, end)
		if err != nil {
			return err
		}
		msgs := make([]Message, len(pages))
		ps := m.privateSeal(t.log.Key())
		for i, p := range pages {
			if msgs[i], err = ps.decode(p, m.self, have+uint64(i), 0); err != nil {
				return fmt.Errorf("room: log page %d: %w", have+uint64(i), err)
			}
		}
		copies, err := addressed(msgs, mb, m.PersonOf(mb.id))
		if err != nil {
			return err
		}
		if _, err := mb.out.Append(ctx, copies...); err != nil {
			return fmt.Errorf("room: book to %s: %w", mb.id.Short(), err)
		}
	}
	return nil
}

// sources are the task's books the timeline reads: this profile's log and
// each member's book to it, and its successors (after a fork: each holds
// messages of its own numbers, so every message is read once).
func (m *Messenger) sources(t *task) []Source {
	type candidate struct {
		src markedSource
		gen int
	}
	var cs []candidate
	m.mu.Lock()
	for _, mb := range t.members {
		if mb.in == nil {
			continue
		}
		moved := renumbering{m.self, mb.outFrom, mb.outShift}
		cs = append(cs, candidate{markedSource{m.sourceLocked(t, mb.in, mb.id, 0), t.refused[mb.id], moved}, 0})
		for _, s := range mb.next {
			if s.book != nil {
				cs = append(cs, candidate{markedSource{m.sourceLocked(t, s.book, mb.id, s.shift), t.refused[mb.id], moved}, s.gen})
			}
		}
	}
	for _, src := range m.removedSourcesLocked(t) {
		cs = append(cs, candidate{src, 0})
	}
	m.mu.Unlock()
	srcs := []Source{m.logSource(t.log)}
	for _, c := range cs {
		if m.replicaOK(t, c.src.BookSource, c.gen) {
			srcs = append(srcs, c.src)
		}
	}
	return srcs
}

// DefaultPage and MaxPage bound a timeline page.
const (
	DefaultPage = 50
	MaxPage     = 1000
)

// Timeline returns up to limit messages of the task, oldest first: the
// newest, or those just before the key before.
func (m *Messenger) Timeline(ctx context.Context, id TaskID, before *Key, limit int) ([]Message, error) {
	t := m.task(id)
	if t == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	if limit <= 0 {
		limit = DefaultPage
	}
	limit = min(limit, MaxPage)
	return Page(ctx, m.sources(t), before, limit)
}

// Lookup returns the message ref names in the task.
func (m *Messenger) Lookup(ctx context.Context, id TaskID, ref Ref) (Message, error) {
	t := m.task(id)
	if t == nil {
		return Message{}, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	for _, s := range m.sources(t) {
		var bs BookSource
		switch s := s.(type) {
		case BookSource:
			bs = s
		case markedSource:
			bs = s.BookSource
		}
		if bs.Author != ref.By || ref.Mid <= bs.Shift {
			continue
		}
		n, err := s.Len(ctx)
		if err != nil {
			return Message{}, err
		}
		if i := ref.Mid - bs.Shift; i <= uint64(n) {
			if msg, err := s.Get(ctx, int(i-1)); err == nil && msg.Head.Mid == ref.Mid && msg.Type != TypeInvalid && msg.Type != TypeReceipt {
				return msg, nil
			}
		}
	}
	return Message{}, fmt.Errorf("room: no message %s/%d in task %s", ref.By.Short(), ref.Mid, id)
}

// MemberInfo describes a member of a task, as this profile sees it.
type MemberInfo struct {
	ID identity.ID `json:"id"`
	// Person is whose device it is (itself for a first device), Label
	// the device's label (devices.go).
	Person    identity.ID `json:"person"`
	Label     string      `json:"label,omitempty"`
	Self      bool        `json:"self"`
	Host      bool        `json:"host"`
	Paired    bool        `json:"paired"`    // both books of the pair are there
	Online    bool        `json:"online"`    // a port to it is open
	Transport string      `json:"transport"` // "webrtc", "relay", "memory" or ""
	Have      uint64      `json:"have"`      // pages of its book held here
	Length    uint64      `json:"length"`    // pages of its book by its latest head known here
	// Equivocations are the messages it wrote differently for different
	// readers, with the evidence; empty for an honest member.
	Equivocations []*Equivocation `json:"equivocations,omitempty"`
	// Forks: how many times its book to this profile forked and went on in
	// a successor (it wrote from two places); Continued: the same of this
	// profile's book to it (successor.go).
	Forks     int `json:"forks,omitempty"`
	Continued int `json:"continued,omitempty"`
	// Received and Read: how far, by its receipts, the member holds and
	// has read this profile's messages (their mids; 0 if not told yet).
	Received uint64 `json:"received"`
	Read     uint64 `json:"read"`
	// Mirrored: the highest of this profile's messages a mirror vouches it
	// holds for the member (a receipt signed by the mirror, verified:
	// vouch.go; 0 if none yet); Vouches: each mirror's word.
	Mirrored uint64  `json:"mirrored"`
	Vouches  []Vouch `json:"vouches,omitempty"`
	// Removed: the task's creator removed it (remove.go); listed last,
	// for what it wrote before.
	Removed bool `json:"removed,omitempty"`
	// Creator: it made the task.
	Creator bool `json:"creator,omitempty"`
	// ToldReceived and ToldRead: how far this profile's latest receipt
	// page says it holds and read the member's messages (receiptpage.go;
	// 0 if none yet).
	ToldReceived uint64 `json:"toldReceived"`
	ToldRead     uint64 `json:"toldRead"`
	// Name is the name its person took, "" if none known (names.go).
	Name string `json:"name"`
	// Since: when its port last opened (Online) or closed, Unix ms; 0 if
	// not since this profile opened. Health: its sync health (health.go);
	// nil for this profile.
	Since  int64   `json:"since,omitempty"`
	Health *Health `json:"health,omitempty"`
	// Left: the member left the task (its leave message; leave.go).
	Left bool `json:"left,omitempty"`
}

// Members returns the task's members, this profile first.
func (m *Messenger) Members(id TaskID) ([]MemberInfo, error) {
	t := m.task(id)
	if t == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	// Book methods are called outside m.mu: a book's lock is held while
	// the DB's hooks run, and the messenger's hook takes m.mu.
	m.mu.Lock()
	creator := t.creatorLocked()
	out := []MemberInfo{{ID: m.self, Person: m.person, Label: m.me.Label, Self: true, Host: t.host == m.self, Paired: true, Online: true, Creator: creator == m.self, Removed: !t.removedBy.IsZero()}}
	ins := []*journal.Book{nil}
	for _, mb := range t.members {
		mi := MemberInfo{ID: mb.id, Person: m.personLocked(mb.id), Label: m.labelLocked(mb.id), Host: t.host == mb.id, Paired: mb.out != nil && mb.in != nil, Forks: len(mb.next), Continued: mb.outGen,
			Received: mb.received, Read: mb.read, Creator: creator == mb.id, Left: t.left[mb.id]}
		mi.Mirrored, mi.Vouches = mb.vouchedLocked()
		if rs := t.receipts[mb.id]; rs != nil {
			mi.ToldReceived, mi.ToldRead = rs.told.Received, rs.told.Read
		}
		for _, e := range t.equiv[mb.id] {
			mi.Equivocations = append(mi.Equivocations, e)
		}
		slices.SortFunc(mi.Equivocations, func(a, b *Equivocation) int { return cmp.Compare(a.Mid, b.Mid) })
		if c := m.conns[mb.id]; c != nil {
			mi.Online, mi.Transport = true, c.transport()
		}
		out = append(out, mi)
		in := mb.in
		if n := len(mb.next); n > 0 && mb.next[n-1].book != nil {
			in = mb.next[n-1].book // after a fork: the successor it goes on in
		}
		ins = append(ins, in)
	}
	for _, mb := range t.removed {
		out = append(out, MemberInfo{ID: mb.id, Person: m.personLocked(mb.id), Label: m.labelLocked(mb.id), Removed: true, Creator: creator == mb.id})
		ins = append(ins, mb.in)
	}
	m.mu.Unlock()
	m.nameMembers(out)
	out[0].Have, out[0].Length = t.log.Len(), t.log.Len()
	for i, in := range ins {
		if in == nil {
			continue
		}
		if have := in.Have(); len(have) > 0 && have[0].Start == 0 {
			out[i].Have = have[0].End
		}
		out[i].Length = in.Len()
	}
	m.addHealth(id, out)
	return out, nil
}
