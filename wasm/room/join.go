package room

import (
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Invite returns the code that lets a peer join task t through this
// profile (any member can invite).
func (m *Messenger) Invite(t TaskID) (string, error) {
	if m.task(t) == nil {
		return "", fmt.Errorf("%w %s", ErrUnknownTask, t)
	}
	return Invite{Host: m.self, Task: t}.Code(), nil
}

// Join joins the task of an invite code: it connects to the host (waiting
// while the host is offline, until ctx ends), sends the key of this
// profile's book to the host, and on the host's answer follows the host's
// book, makes its own and starts pairing with the other members. Joining a
// task already joined returns it.
func (m *Messenger) Join(ctx context.Context, code string) (TaskInfo, error) {
	inv, err := ParseInvite(code)
	if err != nil {
		return TaskInfo{}, err
	}
	if inv.Host == m.self {
		return TaskInfo{}, fmt.Errorf("%w: this invite is your own", ErrBadInvite)
	}
	if t := m.task(inv.Task); t != nil && m.paired(t, inv.Host) {
		return m.info(t), nil
	}
	answer, err := m.ask(ctx, inv.Host, inv.Task)
	if err != nil {
		return TaskInfo{}, err
	}
	if answer.Type == "refused" {
		return TaskInfo{}, fmt.Errorf("%w by %s: %s", ErrRefused, inv.Host.Short(), answer.Error)
	}
	t, created, err := m.ensureTask(ctx, inv.Task, answer.Title, answer.Parent, inv.Host)
	if err != nil {
		return TaskInfo{}, err
	}
	if _, err := m.ensurePair(ctx, t, inv.Host, answer.Key); err != nil {
		return TaskInfo{}, err
	}
	m.seen(t, answer.Clock)
	if created {
		if _, err := m.write(ctx, t, TypeJoin, map[string]any{"via": inv.Host, "title": t.title}, nil); err != nil {
			return TaskInfo{}, err
		}
	}
	for _, id := range answer.Members {
		if err := m.addMember(ctx, t, id); err != nil {
			return TaskInfo{}, err
		}
	}
	info := m.info(t)
	m.emit(Event{Type: EventTask, Task: t.id})
	return info, nil
}

// ask sends a join for task to peer and waits for the answer, sending it
// again on a new port if the port breaks meanwhile.
func (m *Messenger) ask(ctx context.Context, peer identity.ID, task TaskID) (wire, error) {
	k := pendingKey{peer, task}
	ch := make(chan wire, 1)
	m.mu.Lock()
	if m.pending[k] != nil {
		m.mu.Unlock()
		return wire{}, fmt.Errorf("room: already joining task %s through %s", task, peer.Short())
	}
	m.pending[k] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.pending, k)
		m.mu.Unlock()
	}()
	for {
		c, err := m.connect(ctx, peer)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return wire{}, fmt.Errorf("room: join: timed out waiting for %s to come online", peer.Short())
			}
			return wire{}, fmt.Errorf("room: join: %w", err)
		}
		if err := m.send(ctx, c, m.joinFor(task, peer, true)); err != nil {
			continue
		}
		select {
		case w := <-ch:
			return w, nil
		case <-c.mux.Done():
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return wire{}, fmt.Errorf("room: join: timed out waiting for %s to answer", peer.Short())
			}
			return wire{}, fmt.Errorf("room: join: %w", ctx.Err())
		case <-m.ctx.Done():
			return wire{}, ErrClosed
		}
	}
}

// onJoin answers a peer's join: if this profile is a member of the task,
// it follows the peer's book, makes its own for the peer (a copy of its
// log, then every new message), announces a new member to the others and
// answers with its book's key, the title and the members.
func (m *Messenger) onJoin(c *conn, w wire) {
	refuse := func(err error) {
		_ = m.send(m.ctx, c, wire{Type: "refused", Task: w.Task, Error: err.Error()})
	}
	t := m.task(w.Task)
	if t == nil {
		refuse(fmt.Errorf("%w %s: this member does not have it (was the profile reset?)", ErrUnknownTask, w.Task))
		return
	}
	isNew, err := m.ensurePair(m.ctx, t, c.peer, w.Key)
	if err != nil {
		refuse(err)
		return
	}
	if isNew && w.Invite {
		if _, err := m.write(m.ctx, t, TypeMember, map[string]any{"id": c.peer}, nil); err != nil {
			m.fail(err)
		}
	}
	m.mu.Lock()
	answer := wire{Type: "joined", Task: t.id, Key: t.members[c.peer].out.Key(), Title: t.title, Parent: t.parent, Clock: t.clock}
	for id := range t.members {
		if id != c.peer {
			answer.Members = append(answer.Members, id)
		}
	}
	m.mu.Unlock()
	if err := m.send(m.ctx, c, answer); err != nil {
		m.log.Debug("room: answer join", "peer", c.peer.Short(), "err", err)
	}
}

// onAnswer takes a joined or refused: to a Join waiting for it, or, for a
// member pairing, it follows the member's book.
func (m *Messenger) onAnswer(c *conn, w wire) {
	m.mu.Lock()
	ch := m.pending[pendingKey{c.peer, w.Task}]
	m.mu.Unlock()
	if ch != nil {
		select {
		case ch <- w:
		default:
		}
		return
	}
	t := m.task(w.Task)
	if t == nil || !m.isMember(t, c.peer) {
		return
	}
	if w.Type == "refused" {
		// It may not have the task yet (its own join is under way): it
		// pairs from its side once it has.
		m.log.Info("room: pairing refused", "peer", c.peer.Short(), "task", t.id, "err", w.Error)
		return
	}
	if _, err := m.ensurePair(m.ctx, t, c.peer, w.Key); err != nil {
		m.fail(err)
		return
	}
	m.seen(t, w.Clock)
	for _, id := range w.Members {
		if err := m.addMember(m.ctx, t, id); err != nil {
			m.fail(err)
		}
	}
}

// pairAll sends a join on a new port for every task the peer is a member
// of whose two books are not both there yet.
func (m *Messenger) pairAll(c *conn) {
	m.mu.Lock()
	var ws []wire
	for _, t := range m.tasks {
		if mb := t.members[c.peer]; mb != nil && (mb.out == nil || mb.in == nil) {
			ws = append(ws, m.joinFor(t.id, c.peer, false))
		}
	}
	m.mu.Unlock()
	for _, w := range ws {
		if err := m.send(m.ctx, c, w); err != nil {
			return
		}
	}
}

// ensurePair makes sure this profile follows the member's book key and has
// its own book to the member; it reports whether the member is new.
func (m *Messenger) ensurePair(ctx context.Context, t *task, peer identity.ID, key identity.ID) (bool, error) {
	if peer == m.self {
		return false, errors.New("room: cannot pair with itself")
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	mb, isNew, err := m.admit(ctx, t, peer)
	if err != nil {
		return false, err
	}
	if mb.inKey != key {
		if !mb.inKey.IsZero() {
			return false, fmt.Errorf("room: %s already sent another book for task %s", peer.Short(), t.id)
		}
		in, err := m.db.ReaderFrom(ctx, key, peer)
		if err != nil {
			return false, fmt.Errorf("room: book of %s: %w", peer.Short(), err)
		}
		if err := m.writeRecord(ctx, record{Op: "pair", Task: t.id, Peer: peer, Key: key}); err != nil {
			return false, err
		}
		m.mu.Lock()
		mb.inKey, mb.in = key, in
		m.replica[key] = bookRef{t.id, peer}
		m.mu.Unlock()
	}
	if mb.out == nil {
		m.mu.Lock()
		meta := genesisMeta{Task: t.id, To: peer, Title: t.title, Parent: t.parent}
		for id := range t.members {
			meta.Members = append(meta.Members, id)
		}
		m.mu.Unlock()
		out, err := m.db.Author(ctx, pairName(m.self, peer, t.id), meta.encode())
		if err != nil {
			return false, err
		}
		m.mu.Lock()
		mb.out = out
		m.mu.Unlock()
		if err := m.catchUp(ctx, t, mb); err != nil {
			return false, err
		}
		m.emit(Event{Type: EventMember, Task: t.id, Peer: peer, State: "paired"})
	}
	m.dial(peer)
	return isNew, nil
}

// addMember records a member announced by another (or listed in an
// answer) and starts pairing with it.
func (m *Messenger) addMember(ctx context.Context, t *task, id identity.ID) error {
	if id == m.self || id.Check() != nil {
		return nil
	}
	if _, isNew, err := m.admit(ctx, t, id); err != nil || !isNew {
		return err
	}
	m.mu.Lock()
	c := m.conns[id]
	m.mu.Unlock()
	if c != nil {
		return m.send(ctx, c, m.joinFor(t.id, id, false))
	}
	m.dial(id)
	return nil
}

// admit returns the task's member id, recording it (and reporting it
// added) if it is new; a task has at most MaxMembers.
func (m *Messenger) admit(ctx context.Context, t *task, id identity.ID) (*member, bool, error) {
	m.mu.Lock()
	mb, known := t.members[id]
	full := !known && len(t.members) >= MaxMembers
	if !known && !full {
		mb = t.member(id)
	}
	m.mu.Unlock()
	switch {
	case known:
		return mb, false, nil
	case full:
		return nil, false, fmt.Errorf("room: task %s is full (%d members): %s not added", t.id, MaxMembers, id.Short())
	}
	if err := m.writeRecord(ctx, record{Op: "member", Task: t.id, Peer: id}); err != nil {
		return nil, false, err
	}
	m.emit(Event{Type: EventMember, Task: t.id, Peer: id, State: "added"})
	return mb, true, nil
}

// joinFor is the join this profile sends peer for task: the key of its
// book to peer (derived, whether or not the book exists yet).
func (m *Messenger) joinFor(task TaskID, peer identity.ID, invite bool) wire {
	return wire{Type: "join", Task: task, Key: m.db.BookKey(pairName(m.self, peer, task)), Invite: invite}
}

func (m *Messenger) dial(peer identity.ID) {
	m.mu.Lock()
	m.dialLocked(peer)
	m.mu.Unlock()
}

// ensureTask returns the task, recording and opening it if it is new.
func (m *Messenger) ensureTask(ctx context.Context, id TaskID, title string, parent *TaskID, host identity.ID) (*task, bool, error) {
	if t := m.task(id); t != nil {
		return t, false, nil
	}
	if title == "" {
		title = "(untitled)"
	}
	r := record{Op: "task", Task: id, Title: title, Parent: parent, Host: host, Date: m.cfg.Now().UnixMilli()}
	if err := m.writeRecord(ctx, r); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	m.apply(r)
	t := m.tasks[id]
	m.mu.Unlock()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.log == nil {
		if err := m.load(ctx, t); err != nil {
			return nil, false, err
		}
	}
	return t, true, nil
}

func (m *Messenger) task(id TaskID) *task {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[id]
	if t == nil || t.log == nil {
		return nil
	}
	return t
}

func (m *Messenger) isMember(t *task, id identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := t.members[id]
	return ok
}

func (m *Messenger) paired(t *task, id identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb := t.members[id]
	return mb != nil && mb.in != nil && mb.out != nil
}

// replicaOK reports whether a member's book to this profile is the one it
// must be: verified, and named for this task and this reader.
func (m *Messenger) replicaOK(t *task, s BookSource) bool {
	info := s.Book.Info()
	return info.Verified && info.Name == pairName(s.Author, m.self, t.id)
}
