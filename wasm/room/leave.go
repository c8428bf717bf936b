package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	mirrorheld "github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Storage the user controls (issue #16, item 10; docs/storage.md).
//
// Forget deletes this profile's copy of a task: every book of the task
// (its log, its books to the members and their successors, the members'
// books it follows, and any other book whose name ends in the task's id,
// such as blob books) goes from the store, each in one write, after a
// "forget" record in the tasks book makes the task gone at every later
// open. Leave first tells the members: a "leave" message, which they show
// and record (MemberInfo.Left), and waits until each member holds it (its
// receipt) or a mirror does (its vouch), at most LeaveWait; then it
// forgets the task. Usage says how many bytes each task holds.
//
// Mirrors: Forget tells every mirror online to release the books of the
// task this profile wrote (package held's "release"), which deletes them
// there and frees its quota; a mirror offline then keeps them. Leave
// waits for a mirror's vouch first, so the leave message reaches the
// members that were offline through a mirror that has not been told yet.

// TypeLeave is a member's last message in a task: it left, and deleted
// its copy. data {}.
const TypeLeave = "leave"

// Record ops of leaving (records.go).
const (
	opForget = "forget" // {"op":"forget","task":T}: this profile deleted its copy of T
	opLeft   = "left"   // {"op":"left","task":T,"peer":X}: X left T (its leave message)
)

// LeaveWait bounds how long Leave waits for the members (or a mirror) to
// hold the leave message before it deletes the task's books.
const LeaveWait = 10 * time.Second

// Usage is how many bytes of the store the profile's books take.
type Usage struct {
	// Total: every book of the profile (its private books included).
	Total int64 `json:"total"`
	// Tasks: the books of each task.
	Tasks map[TaskID]int64 `json:"tasks"`
}

// Usage measures the bytes each task's books take in the store (records,
// pages and tree hashes, keys included), and all of the profile's.
func (m *Messenger) Usage(ctx context.Context) (Usage, error) {
	infos, err := m.db.Books(ctx)
	if err != nil {
		return Usage{}, err
	}
	owner := m.bookTasks(infos)
	u := Usage{Tasks: make(map[TaskID]int64)}
	for _, id := range m.taskIDs() {
		u.Tasks[id] = 0
	}
	for _, bi := range infos {
		n, err := m.db.BookSize(ctx, bi.Key)
		if err != nil {
			return Usage{}, err
		}
		u.Total += n
		if id, ok := owner[bi.Key]; ok {
			if _, shown := u.Tasks[id]; shown {
				u.Tasks[id] += n
			}
		}
	}
	return u, nil
}

// taskIDs returns the ids of the tasks shown.
func (m *Messenger) taskIDs() []TaskID {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TaskID, 0, len(m.order))
	for _, id := range m.order {
		if t := m.tasks[id]; t != nil && t.log != nil {
			out = append(out, id)
		}
	}
	return out
}

// bookTasks maps books to their task: by name ("…-${task}", "…-${task}.${gen}"),
// and, for members' books whose genesis has not arrived (no name yet), by
// the room's own state.
func (m *Messenger) bookTasks(infos []journal.BookInfo) map[identity.ID]TaskID {
	out := make(map[identity.ID]TaskID, len(infos))
	for _, bi := range infos {
		if id, ok := taskOfName(bi.Name); ok {
			out[bi.Key] = id
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, ref := range m.replica {
		out[key] = ref.task
	}
	for _, t := range m.tasks {
		for _, mb := range t.members {
			addMemberBooks(out, t.id, mb)
		}
		for _, mb := range t.removed {
			addMemberBooks(out, t.id, mb)
		}
	}
	return out
}

func addMemberBooks(out map[identity.ID]TaskID, id TaskID, mb *member) {
	if mb.out != nil {
		out[mb.out.Key()] = id
	}
	if !mb.inKey.IsZero() {
		out[mb.inKey] = id
	}
	for _, s := range mb.next {
		out[s.key] = id
	}
}

// taskOfName returns the task a task book's name ends with: "${a}-${t}",
// "${a}-${r}-${t}" or either with ".${gen}" (successors) or another
// ".suffix" after it.
func taskOfName(name string) (TaskID, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return TaskID{}, false
	}
	rest := name[i+1:]
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		rest = rest[:j]
	}
	id, err := ParseTaskID(rest)
	return id, err == nil
}

// Forget deletes this profile's copy of a task: its books and their
// records. It returns the bytes freed. The task's subtasks stay (shown
// without their parent).
func (m *Messenger) Forget(ctx context.Context, id TaskID) (int64, error) {
	return m.forget(ctx, id, nil)
}

// forget is Forget, which tells the mirrors to release every book of the
// task this profile wrote but those whose names keep lists.
func (m *Messenger) forget(ctx context.Context, id TaskID, keep func(name string) bool) (int64, error) {
	t := m.task(id)
	if t == nil {
		return 0, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	infos, err := m.db.Books(ctx)
	if err != nil {
		return 0, err
	}
	var keys, own []identity.ID
	release := make(map[identity.ID]bool) // this profile's, not kept
	for _, bi := range infos {
		release[bi.Key] = bi.Writable && (keep == nil || !keep(bi.Name))
	}
	for key, tid := range m.bookTasks(infos) {
		if tid == id {
			keys = append(keys, key)
			if release[key] {
				own = append(own, key)
			}
		}
	}
	m.mu.Lock()
	peers := make([]identity.ID, 0, len(t.members)+len(t.removed))
	for id := range t.members {
		peers = append(peers, id)
	}
	for id := range t.removed {
		peers = append(peers, id)
	}
	m.mu.Unlock()
	// The record first: a crash after it leaves books no task uses,
	// never a task missing its books.
	if err := m.keepRecord(ctx, record{Op: opForget, Task: id}); err != nil {
		return 0, err
	}
	var freed int64
	for _, key := range keys {
		n, err := m.db.DeleteBook(ctx, key)
		if err != nil && !errors.Is(err, journal.ErrNotFound) {
			return freed, fmt.Errorf("room: forget task %s: %w", id, err)
		}
		freed += n
	}
	m.dropStrangers(peers...)
	m.releaseFromMirrors(own)
	m.emit(Event{Type: EventTask, Task: id, State: "forgotten"})
	return freed, nil
}

// Leave tells the task's members this profile leaves (a "leave"
// message), waits until they or a mirror hold it (at most LeaveWait, or
// until ctx ends), then forgets the task. It returns the bytes freed.
func (m *Messenger) Leave(ctx context.Context, id TaskID) (int64, error) {
	t := m.task(id)
	if t == nil {
		return 0, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	mid, err := m.leaveMessage(ctx, t)
	if err != nil {
		return 0, err
	}
	wait, cancel := context.WithTimeout(ctx, LeaveWait)
	m.waitDelivered(wait, t, mid)
	cancel()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	mirrorOnly, missing := m.undelivered(t, mid)
	if len(missing) > 0 {
		return 0, fmt.Errorf("%w: %d of them (%s…) and no mirror for them: stay online until they have it, or delete your copy instead",
			ErrLeaveUndelivered, len(missing), missing[0].Short())
	}
	// The books to members that hold the leave only at a mirror stay there
	// until they fetch them: the members that were offline get the last
	// messages this profile wrote from there (it deletes its own copy).
	return m.forget(ctx, id, func(name string) bool {
		return slices.ContainsFunc(mirrorOnly, func(r identity.ID) bool {
			return strings.HasPrefix(name, pairName(m.self, r, id))
		})
	})
}

// ErrLeaveUndelivered is Leave's error when, after LeaveWait, some member
// holds neither the leave message nor a mirror for it: deleting the copy
// then would lose the messages it has not got. The task stays (the leave
// message is sent); leave again once online, or forget the task to
// delete it all the same.
var ErrLeaveUndelivered = errors.New("room: leave: your last messages have not reached every member yet")

// leaveMessage writes this profile's leave message to t, once: a leave
// tried again waits for the same message. From its start this profile
// pairs with no new member of t (ensurePair): a book begun to one as it
// leaves would go with its copy before that member read it.
func (m *Messenger) leaveMessage(ctx context.Context, t *task) (uint64, error) {
	t.wmu.Lock()
	mid := t.leaveMid
	t.leaving = true
	t.wmu.Unlock()
	if mid != 0 {
		return mid, nil
	}
	msg, err := m.write(ctx, t, TypeLeave, map[string]any{}, nil)
	if err != nil {
		t.wmu.Lock()
		t.leaving = t.leaveMid != 0
		t.wmu.Unlock()
		return 0, err
	}
	t.wmu.Lock()
	t.leaveMid = msg.Head.Mid
	t.wmu.Unlock()
	return msg.Head.Mid, nil
}

// undelivered lists the members of t that do not hold this profile's
// message mid: those a mirror holds it for, and those it does not reach
// at all. Members that left, and those never paired (no book to them to
// lose), are not listed.
func (m *Messenger) undelivered(t *task, mid uint64) (mirrorOnly, missing []identity.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, mb := range t.members {
		if t.left[id] || mb.out == nil || mb.received >= mid {
			continue
		}
		if mirrored, _ := mb.vouchedLocked(); mirrored >= mid {
			mirrorOnly = append(mirrorOnly, id)
		} else {
			missing = append(missing, id)
		}
	}
	return mirrorOnly, missing
}

// waitDelivered waits until every member of t holds this profile's
// message mid, or a mirror does for it, or ctx ends.
func (m *Messenger) waitDelivered(ctx context.Context, t *task, mid uint64) {
	changed := make(chan struct{}, 1)
	defer m.Subscribe(func(ev Event) {
		if ev.Task == t.id && (ev.Type == EventReceipt || ev.Type == EventMember) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})()
	for !m.delivered(t, mid) {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// delivered reports whether every member of t (but those that left or
// never paired) holds this profile's message mid, or a mirror holds it
// for them.
func (m *Messenger) delivered(t *task, mid uint64) bool {
	_, missing := m.undelivered(t, mid)
	return len(missing) == 0
}

// onLeave takes a member's leave message: the member is shown as left.
func (m *Messenger) onLeave(ctx context.Context, t *task, peer identity.ID) {
	m.mu.Lock()
	done := t.left[peer]
	m.mu.Unlock()
	if done {
		return
	}
	if err := m.keepRecord(ctx, record{Op: opLeft, Task: t.id, Peer: peer}); err != nil {
		m.fail(err)
		return
	}
	m.dropStrangers(peer) // no port to it any more, unless another task needs one
	m.emit(Event{Type: EventMember, Task: t.id, Peer: peer, State: "left"})
	m.tellDeparted(ctx, t)
}

// applyLeaveLocked applies a forget or left record. Called with m.mu held.
func (m *Messenger) applyLeaveLocked(t *task, r record) {
	switch r.Op {
	case opLeft:
		if t.left == nil {
			t.left = make(map[identity.ID]bool)
		}
		t.left[r.Peer] = true
	case opForget:
		delete(m.tasks, t.id)
		for i, id := range m.order {
			if id == t.id {
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
		for key, ref := range m.replica {
			if ref.task == t.id {
				delete(m.replica, key)
				delete(m.history, key)
				m.forgetTakenLocked(key)
			}
		}
	}
}

// dropStrangers closes the ports of those peers that share no task with
// this profile any more (the members of a task it forgot, or one that
// left): their dial loops end (knownLocked). Only those: a port to a peer
// this profile does not know yet may be a join under way, that a leave
// crossing it must not break.
func (m *Messenger) dropStrangers(peers ...identity.ID) {
	m.mu.Lock()
	var drop []*conn
	for _, peer := range peers {
		if c := m.conns[peer]; c != nil && !m.knownLocked(peer) && !m.isMirror(peer) {
			drop = append(drop, c)
		}
	}
	m.mu.Unlock()
	for _, c := range drop {
		c.mux.Close()
	}
}

// knownLocked reports whether peer is a member of one of this profile's
// tasks that has not left it, or was removed from one, or this profile is
// joining through it: only then does its dial loop go on. Called with
// m.mu held.
func (m *Messenger) knownLocked(peer identity.ID) bool {
	for k := range m.pending {
		if k.peer == peer {
			return true
		}
	}
	for _, t := range m.tasks {
		if _, ok := t.members[peer]; ok && !t.left[peer] {
			return true
		}
		if _, ok := t.removed[peer]; ok {
			return true
		}
	}
	return false
}

// forgotten reports whether peer's dial loop should end: it shares no
// task with this profile any more. The loop's mark is cleared, so a later
// task shared with it dials it again.
func (m *Messenger) forgotten(peer identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.knownLocked(peer) || m.isMirror(peer) {
		return false
	}
	delete(m.dialing, peer)
	return true
}

// releaseFromMirrors tells every mirror online that this profile pins
// books no more (package held's "release"): the mirror deletes them and
// frees this profile's quota there. A mirror offline now keeps its copies.
func (m *Messenger) releaseFromMirrors(books []identity.ID) {
	if len(books) == 0 {
		return
	}
	msgs := mirrorheld.EncodeRelease(books)
	m.mu.Lock()
	var chs []port.Port
	for _, st := range m.mirrors {
		if st.held != nil {
			chs = append(chs, st.held)
		}
	}
	if m.closed {
		chs = nil
	}
	m.wg.Add(len(chs))
	m.mu.Unlock()
	for _, ch := range chs {
		go func() {
			defer m.wg.Done()
			for _, msg := range msgs {
				if err := ch.Send(m.ctx, msg); err != nil {
					m.log.Debug("room: a release not sent to a mirror", "err", err)
					return
				}
			}
		}()
	}
}
