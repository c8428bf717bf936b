package room

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Recall: restoring a person on an empty browser from the recovery code,
// as a new device (issue #14, docs/devices.md). The browser holds the
// identity key again (its certificate says holder) and a key of its own;
// it knows no task and no member, and no member knows it. But members
// keep dialling the person's first device, whose key is the identity's:
// so the app also goes online as the identity for a while and hands every
// port that reaches it to Recall, which asks the member, on the room
// channel:
//
//	{"v":2, "type":"recall", "cert":C}     C: this device's certificate, signed by
//	                                       the identity, which is the port's peer
//
// The member (only a member of a task with the person) learns the device
// (as if its person announced it) and answers, one message per task they
// share, then one without a task:
//
//	{"v":2, "type":"recalled", "task":T, "link":{id, title, parent, host,
//	  creator, clock, secrets, members: [{id, cert, inKey}…]}}
//	{"v":2, "type":"recalled"}
//
// where a member's inKey is, for the answering member, the key of its book
// to the person, and for each device of the person, the key of that
// device's book to the answering member: the person's own history, which
// the new device follows through the member (a holder serving a book to a
// device of its author's person). The new device takes a task only if the
// answering member's book key that the identity derives for the person's
// first device matches (a stranger who dialled the identity has no such
// book), records the tasks, members and secrets, announces itself in each
// task ("device" with its own certificate) and pairs with every member
// device by its certificate. Recalling ends recallQuiet after the last
// answer that taught anything, or with FinishRecall.

// Recall wire types.
const (
	wireRecall   = "recall"
	wireRecalled = "recalled"
)

// Bounds of a recall.
const (
	recallWait  = 30 * time.Second // for a member's answer on one port
	recallQuiet = 10 * time.Second // with nothing new, recalling ends
	maxRecalled = maxLinkTasks + 1 // answers taken on one port
)

// RecallStatus is where a recall stands.
type RecallStatus struct {
	Recalling bool          `json:"recalling"`
	Tasks     int           `json:"tasks"`
	Members   []identity.ID `json:"members"` // the members that answered
}

// recallState is the messenger's recall, guarded by Messenger.mu.
type recallState struct {
	pending  bool // a recall was recorded and has not finished (replay)
	armed    bool // this device recalled (or recalls): Restoring reports it
	on       bool
	answered map[identity.ID]bool
	watching bool          // endWhenQuiet runs
	taught   chan struct{} // capacity 1: an answer taught something
	done     chan struct{}
}

// Records of a recall (records.go): a reload while recalling recalls on.
const (
	opRecalling = "recalling"
	opRecalled  = "recalled"
)

func newRecallState() *recallState {
	return &recallState{answered: make(map[identity.ID]bool), taught: make(chan struct{}, 1), done: make(chan struct{})}
}

// applyRecall applies a recall record. Called with m.mu held or before the
// messenger runs.
func (m *Messenger) applyRecall(r record) {
	m.recall.pending = r.Op == opRecalling
}

// startRecall arms recalling on a device that holds the identity key, is
// not the person's first and has no task yet, or whose recall a reload
// cut short.
func (m *Messenger) startRecall(ctx context.Context) error {
	rs := m.recall
	on := m.idKey != nil && !m.me.IsFirst() && (len(m.order) == 0 || rs.pending)
	rs.armed, rs.on = on, on
	if !on {
		close(rs.done)
		return nil
	}
	if rs.pending {
		return nil
	}
	return m.keepRecord(ctx, record{Op: opRecalling, Date: m.cfg.Now().UnixMilli()})
}

// Recalling reports where a recall stands.
func (m *Messenger) Recalling() RecallStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := RecallStatus{Recalling: m.recall.on, Tasks: len(m.order)}
	for id := range m.recall.answered {
		st.Members = append(st.Members, id)
	}
	return st
}

// RecallDone is closed when recalling ends.
func (m *Messenger) RecallDone() <-chan struct{} { return m.recall.done }

// FinishRecall ends recalling now.
func (m *Messenger) FinishRecall() {
	m.mu.Lock()
	on := m.recall.on
	m.recall.on = false
	m.mu.Unlock()
	if on {
		close(m.recall.done)
		if err := m.keepRecord(m.ctx, record{Op: opRecalled, Date: m.cfg.Now().UnixMilli()}); err != nil {
			m.log.Info("room: recall end not recorded: a reload recalls again", "err", err)
		}
		st := m.Restoring()
		m.emit(Event{Type: EventRestore, State: "done", Restore: &st})
	}
}

// recallStatusLocked is a recall as a RestoreStatus: this device's id,
// active while recalling, the members that answered and the tasks known.
// Called with m.mu held.
func (m *Messenger) recallStatusLocked() RestoreStatus {
	st := RestoreStatus{ID: m.self, Active: m.recall.on, Restored: !m.recall.on, Answered: []identity.ID{}, Waiting: []identity.ID{}}
	for _, t := range m.tasks {
		if t.knownLocked() {
			st.Tasks++ // opened (or lazy): its timeline reads
		}
	}
	for id := range m.recall.answered {
		st.Answered = append(st.Answered, id)
	}
	sortIDs(st.Answered)
	return st
}

// Recall asks the member at the other end of p, a port to this person's
// identity key (the app's second relay connection), for the tasks they
// share, and takes the answer. It closes p.
func (m *Messenger) Recall(p port.Port) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer p.Close()
		if err := m.recallOn(p); err != nil {
			m.log.Info("room: recall", "peer", p.Remote().Short(), "err", err)
		}
	}()
}

func (m *Messenger) recallOn(p port.Port) error {
	m.mu.Lock()
	on := m.recall.on
	m.mu.Unlock()
	peer := p.Remote()
	if !on || m.PersonOf(peer) == m.person {
		return nil // the person's own devices dial the identity too: nothing to learn
	}
	mux := port.NewMux(p, port.ChannelSync, port.ChannelRoom)
	defer mux.Close()
	ch := mux.Channel(port.ChannelRoom)
	ctx, cancel := context.WithTimeout(m.ctx, recallWait)
	defer cancel()
	c := &conn{peer: peer, room: ch, mux: mux}
	if err := m.send(ctx, c, wire{Type: wireRecall, Cert: m.me.Encode()}); err != nil {
		return err
	}
	for range maxRecalled {
		b, err := ch.Recv(ctx)
		if err != nil {
			return err
		}
		w, err := decodeWire(b)
		if err != nil || w.Type != wireRecalled {
			continue // its joins and digests, meant for the first device
		}
		if w.Link == nil {
			return nil
		}
		if err := m.takeRecalled(ctx, peer, w.Link); err != nil {
			m.emit(Event{Type: EventRestore, State: "refused", Peer: peer, Err: err})
			return err
		}
	}
	return errors.New("too many answers")
}

// takeRecalled takes one task of a member's recall answer.
func (m *Messenger) takeRecalled(ctx context.Context, peer identity.ID, lt *LinkTask) error {
	if err := checkLinkTask(lt); err != nil {
		return err
	}
	// The member must hold the first device's book to it: its key is the
	// identity's to derive.
	var own, theirs *LinkMember
	for i := range lt.Members {
		switch mb := &lt.Members[i]; mb.ID {
		case m.person:
			own = mb
		case peer:
			theirs = mb
		}
	}
	want := m.idKey.Derive("book", pairName(m.person, m.personOfLink(lt, peer), lt.ID)).ID()
	if own == nil || theirs == nil || own.InKey != want {
		return fmt.Errorf("room: recall: %s holds no book of yours in task %s", peer.Short(), lt.ID)
	}
	fresh := m.task(lt.ID) == nil
	var recs []record
	if fresh {
		recs = append(recs, record{Op: opTask, Task: lt.ID, Title: lt.Title, Parent: lt.Parent, Host: lt.Host, Creator: lt.Creator, Date: m.cfg.Now().UnixMilli()})
	}
	m.mu.Lock()
	t := m.tasks[lt.ID]
	for _, e := range lt.Secrets {
		if t == nil || t.secrets[e.Epoch] == nil {
			recs = append(recs, record{Op: opSecret, Task: lt.ID, Epoch: e.Epoch, Secret: e.Secret})
		}
	}
	for _, mb := range lt.Members {
		if mb.ID == m.self || m.revoked[mb.ID] != nil {
			continue
		}
		if mb.Cert != nil && m.certs[mb.ID] == nil {
			recs = append(recs, record{Op: opDevice, Cert: mb.Cert.Encode()})
		}
		var known *member
		if t != nil {
			known = t.members[mb.ID]
		}
		if known == nil {
			recs = append(recs, record{Op: opMember, Task: lt.ID, Peer: mb.ID})
		}
		if !mb.InKey.IsZero() && (known == nil || known.inKey.IsZero()) {
			recs = append(recs, record{Op: opPair, Task: lt.ID, Peer: mb.ID, Key: mb.InKey, From: 1})
		}
	}
	m.mu.Unlock()
	if len(recs) == 0 {
		m.recalled(peer, false)
		return nil
	}
	pages, err := m.recordPages(recs)
	if err != nil {
		return err
	}
	if _, err := m.tasksLog.Append(ctx, pages...); err != nil {
		return err
	}
	// The task is opened before its members are taken: a timeline read
	// meanwhile sees them only once their books are (followRecalled).
	m.mu.Lock()
	for _, r := range recs {
		if r.Op == opTask {
			m.apply(r)
		}
	}
	t = m.tasks[lt.ID]
	m.mu.Unlock()
	t.wmu.Lock()
	err = m.ensure(ctx, t)
	t.wmu.Unlock()
	if err != nil {
		return err
	}
	m.mu.Lock()
	for _, r := range recs {
		if r.Op != opTask {
			m.apply(r)
		}
	}
	t.raiseLocked(peer, lt.Clock)
	m.mu.Unlock()
	if fresh {
		// The members learn this device from its own announcement too.
		if _, err := m.writeMany(ctx, t, []draft{{TypeDevice, map[string]any{"id": m.self, "cert": m.me}, nil}}); err != nil {
			return err
		}
		m.emit(Event{Type: EventTask, Task: t.id})
	}
	m.followRecalled(t)
	m.recalled(peer, true)
	return nil
}

// personOfLink is the person of a member of a link task, by its
// certificate there.
func (m *Messenger) personOfLink(lt *LinkTask, id identity.ID) identity.ID {
	for _, mb := range lt.Members {
		if mb.ID == id && mb.Cert != nil {
			return mb.Cert.Person
		}
	}
	return id
}

// followRecalled opens the books of t's members recorded by a recall and
// dials every member.
func (m *Messenger) followRecalled(t *task) {
	m.mu.Lock()
	var ids []identity.ID
	for id, mb := range t.members {
		if mb.in == nil && !mb.inKey.IsZero() {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		// Registered before it is followed: replication asks FollowVia
		// as the book is followed.
		m.mu.Lock()
		mb := t.members[id]
		key := mb.inKey
		m.replica[key] = bookRef{t.id, id, 0}
		if m.personLocked(id) == m.person {
			m.history[key] = true // followed through the members that hold it
		}
		m.mu.Unlock()
		in, err := m.db.ReaderFrom(m.ctx, key, id)
		if err != nil {
			m.fail(fmt.Errorf("room: recall: the book of %s: %w", id.Short(), err))
			continue
		}
		m.mu.Lock()
		mb.in = in
		m.mu.Unlock()
		m.rescan(m.ctx, in)
	}
	m.mu.Lock()
	all := make([]identity.ID, 0, len(t.members))
	for id := range t.members {
		all = append(all, id)
		m.dialLocked(id)
	}
	m.mu.Unlock()
	for _, id := range all {
		m.trusted(id)
	}
}

// recalled notes a member's answer; recalling ends recallQuiet after the
// last one that taught anything (one goroutine waits for that, started
// by the first).
func (m *Messenger) recalled(peer identity.ID, taught bool) {
	m.mu.Lock()
	m.recall.answered[peer] = true
	start := taught && !m.recall.watching
	m.recall.watching = m.recall.watching || taught
	m.mu.Unlock()
	m.emit(Event{Type: EventRestore, State: "answered", Peer: peer})
	if !taught {
		return
	}
	select {
	case m.recall.taught <- struct{}{}:
	default:
	}
	if start {
		m.wg.Add(1)
		go m.endRecallWhenQuiet()
	}
}

// endRecallWhenQuiet ends recalling once no answer taught anything for
// recallQuiet.
func (m *Messenger) endRecallWhenQuiet() {
	defer m.wg.Done()
	quiet := time.NewTimer(recallQuiet)
	defer quiet.Stop()
	for {
		select {
		case <-m.recall.taught:
			quiet.Reset(recallQuiet)
		case <-quiet.C:
			m.FinishRecall()
			return
		case <-m.recall.done:
			return
		case <-m.ctx.Done():
			return
		}
	}
}

// onRecall answers a device of a member person asking, on a port from
// its identity, for the tasks they share.
func (m *Messenger) onRecall(c *conn, w wire) {
	cert, err := device.DecodeCert(w.Cert)
	if err == nil {
		err = cert.Verify()
	}
	switch {
	case err != nil:
	case cert.Person != c.peer || cert.IsFirst():
		err = fmt.Errorf("%w: a recall must come from the identity, for another device", device.ErrBadCert)
	}
	if err == nil {
		err = m.learnCert(m.ctx, cert)
	}
	if err != nil {
		m.log.Info("room: recall refused", "peer", c.peer.Short(), "err", err)
		_ = m.send(m.ctx, c, wire{Type: wireRecalled})
		return
	}
	for _, id := range m.taskOrder() {
		t := m.task(id)
		if t == nil || !m.isMember(t, c.peer) {
			continue
		}
		if err := m.addDevice(m.ctx, t, cert.Device); err != nil {
			m.log.Info("room: recall: device not added", "task", id, "err", err)
			continue
		}
		lt := m.recallTask(t, cert.Person)
		if err := m.send(m.ctx, c, wire{Type: wireRecalled, Task: t.id, Link: lt}); err != nil {
			return
		}
	}
	_ = m.send(m.ctx, c, wire{Type: wireRecalled})
}

// recallTask is what a device of person is told of t: the task, its
// secrets, its members with their certificates; the key of this
// profile's book to the person, and of each of the person's devices'
// books to this profile (their history).
func (m *Messenger) recallTask(t *task, person identity.ID) *LinkTask {
	m.mu.Lock()
	defer m.mu.Unlock()
	lt := m.linkTaskLocked(t)
	lt.Members = append(lt.Members, LinkMember{ID: m.self, Cert: m.certOfLocked(m.self)})
	if out := m.outBookLocked(t, person); out != nil {
		lt.Members[len(lt.Members)-1].InKey = out.Key()
	}
	for _, mb := range t.members {
		lm := LinkMember{ID: mb.id, Cert: m.certOfLocked(mb.id)}
		if m.personLocked(mb.id) == person {
			lm.InKey = mb.inKey
		}
		lt.Members = append(lt.Members, lm)
	}
	return lt
}

// historyName reports whether name is a book of a sibling author in task
// t addressed to another person: the person's history, read by a device
// that has no book of that sibling to itself (recall).
func historyName(name string, author identity.ID, t TaskID) bool {
	return strings.HasPrefix(name, author.String()+"-") && strings.HasSuffix(name, "-"+t.String()) &&
		len(name) == 2*identity.TextSize+2+len(t.String())
}

// bookNameOK is replicaOK's name check: the book addressed to this
// person, a sibling's history, or the book of a member that left before
// this profile joined (departed.go).
func (m *Messenger) bookNameOK(info journal.BookInfo, author identity.ID, t TaskID, gen int) bool {
	switch {
	case info.Name == succName(author, m.person, t, gen):
		return true
	case gen != 0:
		return false
	}
	return m.PersonOf(author) == m.person && historyName(info.Name, author, t) || m.departedName(info.Key, info.Name, author, t)
}
