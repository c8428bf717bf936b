package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"encoding/json"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// InviteOptions are the options of an invite.
type InviteOptions struct {
	// Expires, if not zero, is when the invite stops admitting anyone.
	Expires time.Time
}

// Invite issues a code that lets a peer join task t through this profile
// (any member can invite): a fresh random secret, whose hash (and expiry)
// this profile keeps in its tasks book, so the code admits newcomers until
// it expires or RevokeInvite revokes it, across reloads.
func (m *Messenger) Invite(ctx context.Context, t TaskID, opts InviteOptions) (string, error) {
	tk := m.task(t)
	if tk == nil {
		return "", fmt.Errorf("%w %s", ErrUnknownTask, t)
	}
	inv, err := NewInvite(m.self, t)
	if err != nil {
		return "", err
	}
	r := record{Op: opInvite, Task: t, Invite: fmt.Sprintf("%x", hashSecret(inv.Secret[:]))}
	if !opts.Expires.IsZero() {
		if r.Exp = opts.Expires.UnixMilli(); r.Exp <= m.cfg.Now().UnixMilli() {
			return "", fmt.Errorf("%w: it would expire before it is used", ErrBadInvite)
		}
	}
	if err := m.keepRecord(ctx, r); err != nil {
		return "", err
	}
	return inv.Code(), nil
}

// RevokeInvite makes an invite this profile issued admit no one from now
// on (members it admitted stay members).
func (m *Messenger) RevokeInvite(ctx context.Context, code string) error {
	inv, err := ParseInvite(code)
	if err != nil {
		return err
	}
	if inv.Host != m.self {
		return fmt.Errorf("%w: issued by %s, not by this profile", ErrBadInvite, inv.Host.Short())
	}
	t := m.task(inv.Task)
	if t == nil {
		return fmt.Errorf("%w %s", ErrUnknownTask, inv.Task)
	}
	h := hashSecret(inv.Secret[:])
	m.mu.Lock()
	st := t.invites[h]
	done := st != nil && st.revoked
	m.mu.Unlock()
	switch {
	case st == nil:
		return fmt.Errorf("%w: not an invite this profile issued for task %s", ErrBadInvite, t.id)
	case done:
		return nil
	}
	return m.keepRecord(ctx, record{Op: opRevoke, Task: t.id, Invite: fmt.Sprintf("%x", h)})
}

// checkInvite returns the hash of a secret if it is a live invite of this
// profile to t.
func (m *Messenger) checkInvite(t *task, secret []byte) (inviteHash, error) {
	if len(secret) != InviteSecretSize {
		return inviteHash{}, fmt.Errorf("%w: this member does not know you, and you bring no invite", ErrNotInvited)
	}
	h := hashSecret(secret)
	now := m.cfg.Now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := t.invites[h]
	switch {
	case st == nil:
		return h, fmt.Errorf("%w: this member did not issue that invite for task %s", ErrNotInvited, t.id)
	case st.revoked:
		return h, fmt.Errorf("%w: the invite was revoked: ask for a new one", ErrNotInvited)
	case st.expires != 0 && now >= st.expires:
		return h, fmt.Errorf("%w: the invite expired: ask for a new one", ErrNotInvited)
	}
	return h, nil
}

// Join joins the task of an invite code: it connects to the host (waiting
// while the host is offline, until ctx ends), sends the key of this
// profile's book to the host and the invite's secret, and on the host's
// answer follows the host's book, makes its own and starts pairing with
// the other members. Joining a task already joined returns it.
func (m *Messenger) Join(ctx context.Context, code string) (TaskInfo, error) {
	inv, err := ParseInvite(code)
	if err != nil {
		return TaskInfo{}, err
	}
	if err := m.checkRestoring(); err != nil {
		return TaskInfo{}, err
	}
	if inv.Host == m.self {
		return TaskInfo{}, fmt.Errorf("%w: this invite is your own", ErrBadInvite)
	}
	if t := m.task(inv.Task); t != nil && m.paired(t, inv.Host) {
		return m.info(t), nil
	}
	answer, err := m.ask(ctx, inv.Host, inv.Task, inv.Secret[:])
	if err != nil {
		return TaskInfo{}, err
	}
	if answer.Type == wireRefused {
		return TaskInfo{}, fmt.Errorf("%w by %s: %s", ErrRefused, inv.Host.Short(), answer.Error)
	}
	creator := answer.Creator
	if creator.IsZero() {
		creator = inv.Host // an inviter from before creators were named
	}
	t, created, err := m.ensureTask(ctx, inv.Task, answer.Title, answer.Parent, inv.Host, creator, answer.TaskSecret)
	if err != nil {
		return TaskInfo{}, err
	}
	if err := m.learnEpochs(ctx, t, answer.Epochs); err != nil {
		return TaskInfo{}, err
	}
	// Before the host's book is read: a departed member its announcements
	// name is known as one, never dialled.
	if err := m.takeDeparted(ctx, t, inv.Host, answer.Members, answer.Departed); err != nil {
		return TaskInfo{}, err
	}
	if _, err := m.ensurePair(ctx, t, inv.Host, answer.Key, identity.ID{}); err != nil {
		return TaskInfo{}, err
	}
	m.seen(t, inv.Host, 0, answer.Clock)
	if created {
		if _, err := m.write(ctx, t, TypeJoin, m.withName(map[string]any{"via": inv.Host, "title": t.title}), nil); err != nil {
			return TaskInfo{}, err
		}
	}
	// The members the inviter lists are not taken: each is admitted
	// when a verified book of a member announces it (the inviter's own
	// join message names its inviter, and so on).
	info := m.info(t)
	m.emit(Event{Type: EventTask, Task: t.id})
	return info, nil
}

// ask sends a join for task to peer and waits for the answer, sending it
// again on a new port if the port breaks meanwhile.
func (m *Messenger) ask(ctx context.Context, peer identity.ID, task TaskID, secret []byte) (wire, error) {
	k := pendingKey{peer, task}
	ch := make(chan wire, 1)
	m.mu.Lock()
	if m.pending[k] != nil {
		m.mu.Unlock()
		return wire{}, fmt.Errorf("room: already joining task %s through %s", task, peer.Short())
	}
	m.pending[k] = ch
	m.mu.Unlock()
	m.trusted(peer) // a port already open to it runs replication from now
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
		if err := m.send(ctx, c, m.joinFor(task, peer, secret)); err != nil {
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

// onJoin answers a peer's join: if this profile is a member of the task
// and the peer is a member too, or brings a live invite of this profile,
// it follows the peer's book, makes its own for the peer (a copy of its
// log, then every new message), announces a newcomer to the others and
// answers with its book's key, the title and the members.
func (m *Messenger) onJoin(c *conn, w wire) {
	refuse := func(err error) {
		_ = m.send(m.ctx, c, wire{Type: wireRefused, Task: w.Task, Error: err.Error()})
	}
	t := m.task(w.Task)
	if t == nil {
		refuse(fmt.Errorf("%w %s: this member does not have it (was the profile reset?)", ErrUnknownTask, w.Task))
		return
	}
	if !m.isMember(t, c.peer) {
		// A pairing needs an announcement this side holds too, or the
		// certificate of a device of a member; anyone else needs an
		// invite.
		if m.admitHook != nil {
			m.admitHook()
		}
		var err error
		if w.Secret == nil && w.Cert != nil {
			err = m.takeDevice(m.ctx, t, c.peer, w.Cert)
		} else {
			var h inviteHash
			if h, err = m.checkInvite(t, w.Secret); err == nil {
				err = m.admitInvited(m.ctx, t, c.peer, h)
			}
		}
		if err != nil {
			m.log.Info("room: join refused", "peer", c.peer.Short(), "task", t.id, "err", err)
			refuse(err)
			return
		}
	}
	if _, err := m.ensurePair(m.ctx, t, c.peer, w.Key, identity.ID{}); err != nil {
		refuse(err)
		return
	}
	secret, err := m.secretOf(m.ctx, t)
	if err != nil {
		refuse(err)
		return
	}
	m.mu.Lock()
	answer := m.joinedLocked(t, c.peer, secret)
	m.mu.Unlock()
	if err := m.send(m.ctx, c, answer); err != nil {
		m.log.Debug("room: answer join", "peer", c.peer.Short(), "err", err)
	}
}

// joinedLocked is the joined answer to peer, a member this profile has a
// book to, in t. Called with m.mu held.
func (m *Messenger) joinedLocked(t *task, peer identity.ID, secret []byte) wire {
	answer := wire{Type: wireJoined, Task: t.id, Key: t.members[peer].out.Key(), Title: t.title, Parent: t.parent, Clock: t.clock, TaskSecret: secret,
		Epochs: t.epochsLocked(), Creator: t.creatorLocked(), Cert: m.ownCert()}
	for id := range t.members {
		if id != peer {
			answer.Members = append(answer.Members, id)
		}
	}
	answer.Departed = m.departedLocked(t, peer)
	return answer
}

// onAnswer takes a joined or refused: to a Join waiting for it, or, for a
// member pairing, it follows the member's book. The members a pairing
// answer lists are not taken: a member is added only on an announcement
// in a book (shown) or the list of the inviter at a join.
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
	if err := m.answerCert(c.peer, w.Cert); err != nil {
		m.log.Info("room: pairing answer not taken", "peer", c.peer.Short(), "err", err)
		return
	}
	if w.Type == wireRefused {
		// It may not have the task yet (its own join is under way), or
		// not know this profile yet: it pairs from its side once it does.
		m.log.Info("room: pairing refused", "peer", c.peer.Short(), "task", t.id, "err", w.Error)
		m.refusedPairing(t.id, c.peer, w.Error)
		return
	}
	if _, err := m.ensurePair(m.ctx, t, c.peer, w.Key, identity.ID{}); errors.Is(err, ErrRestoring) {
		m.log.Debug("room: pairing waits for the restore", "peer", c.peer.Short(), "task", t.id, "err", err)
		return // paired again once the book is back (repair)
	} else if errors.Is(err, errRemovedPeer) || errors.Is(err, errLeaving) || errors.Is(err, errDeparted) {
		m.log.Info("room: pairing answer not taken", "peer", c.peer.Short(), "err", err)
		return
	} else if err != nil {
		m.fail(err)
		return
	}
	m.refusedPairing(t.id, c.peer, "")
	if err := m.learnSecret(m.ctx, t, w.TaskSecret); err != nil {
		m.fail(err)
	}
	if err := m.takeDeparted(m.ctx, t, c.peer, w.Members, w.Departed); err != nil {
		m.fail(err)
	}
	m.seen(t, c.peer, 0, w.Clock)
}

// pairAll sends a join on a new port for every task the peer is a member
// of whose two books are not both there yet.
func (m *Messenger) pairAll(c *conn) {
	m.ensureWith(c.peer, unpairedLazy)
	m.mu.Lock()
	var ws []wire
	for _, t := range m.tasks {
		if mb := t.members[c.peer]; mb != nil && t.ready && (mb.out == nil || mb.in == nil) {
			ws = append(ws, m.joinForLocked(t.id, c.peer, nil))
		}
	}
	m.mu.Unlock()
	for _, w := range ws {
		if err := m.send(m.ctx, c, w); err != nil {
			return
		}
	}
}

// repair sends the joins of pairAll again on every replicating port whose
// pair is incomplete: an answer lost with a port that broke, or refused
// before the other side knew this profile, is asked again.
func (m *Messenger) repair() {
	m.mu.Lock()
	var cs []*conn
	for peer, c := range m.conns {
		if !c.synced {
			continue
		}
		for _, t := range m.tasks {
			if mb := t.members[peer]; mb != nil && (t.lazy && unpairedLazy(t, mb) || t.ready && (mb.out == nil || mb.in == nil)) {
				cs = append(cs, c)
				break
			}
		}
	}
	m.mu.Unlock()
	for _, c := range cs {
		m.goSend(func(context.Context) { m.pairAll(c) })
	}
}

// errRemovedPeer: a pairing with a device removed from the task (or
// revoked) before this profile knew it as a member.
var errRemovedPeer = errors.New("room: removed")

// errLeaving: a pairing with a member this profile never paired with,
// while it leaves the task: its copy goes, so it writes no new book (the
// members serve its history: departed.go).
var errLeaving = errors.New("room: leaving the task")

// errDeparted: a pairing with a member this profile knows left the task,
// whose history it reads (departed.go).
var errDeparted = errors.New("room: the member left")

// ensurePair makes sure this profile follows the member's book key and has
// its own book to the member; it reports whether the member is new (then
// by announced it; zero: the member this profile joins through).
func (m *Messenger) ensurePair(ctx context.Context, t *task, peer, key, by identity.ID) (bool, error) {
	if peer == m.self {
		return false, errors.New("room: cannot pair with itself")
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	mb, isNew, err := m.admit(ctx, t, peer, by)
	if err != nil {
		return false, err
	}
	if mb == nil { // removed (a revoked device) before it was known here
		return false, fmt.Errorf("%w: %s from task %s", errRemovedPeer, peer.Short(), t.id)
	}
	if (t.leaving || t.leaveMid != 0) && mb.out == nil {
		return false, fmt.Errorf("%w: task %s", errLeaving, t.id)
	}
	m.mu.Lock()
	departed := t.departed[peer]
	m.mu.Unlock()
	if !departed.IsZero() && departed == mb.inKey && key != departed {
		// A member announced as left: its book to that member holds all it
		// wrote (its leave last). A pairing book it began as it left is
		// redundant, and goes with its copy: read instead, it left this
		// profile without the member's messages when the leave crossed
		// this profile's join (soak, "A leave and a join crossing").
		return false, fmt.Errorf("%w: %s left task %s", errDeparted, peer.Short(), t.id)
	}
	if mb.inKey != key {
		if !mb.inKey.IsZero() && !m.historyIn(mb) {
			return false, fmt.Errorf("room: %s already sent another book for task %s", peer.Short(), t.id)
		}
		in, err := m.db.ReaderFrom(ctx, key, peer)
		if err != nil {
			return false, fmt.Errorf("room: book of %s: %w", peer.Short(), err)
		}
		if err := m.writeRecord(ctx, record{Op: opPair, Task: t.id, Peer: peer, Key: key, From: 1}); err != nil {
			return false, err
		}
		m.mu.Lock()
		mb.inKey, mb.in = key, in
		m.replica[key] = bookRef{t.id, peer, 0}
		m.takenLocked(key, 1)
		m.mu.Unlock()
		// Pages stored before the book was registered (replication may
		// store them as soon as it is followed) passed the hook by: the
		// worker reads them now (one that arrives meanwhile may be read
		// twice: every action on a page is idempotent).
		m.rescan(ctx, in)
	}
	if mb.out == nil {
		if err := m.pairBlocked(ctx, t, peer); err != nil {
			return false, err
		}
		m.mu.Lock()
		person := m.personLocked(peer)
		out := m.outBookLocked(t, person)
		m.mu.Unlock()
		if out == nil {
			meta := genesisMeta{Task: t.id, To: person}
			if out, err = m.db.Author(ctx, pairName(m.self, person, t.id), meta.encode()); err != nil {
				return false, err
			}
			m.pin(out)
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

// addMember records a member announced in by's verified book, and starts
// pairing with it.
func (m *Messenger) addMember(ctx context.Context, t *task, id, by identity.ID) error {
	if id == m.self || id.Check() != nil {
		return nil
	}
	if _, isNew, err := m.admit(ctx, t, id, by); err != nil || !isNew {
		return err
	}
	m.mu.Lock()
	c := m.conns[id]
	m.mu.Unlock()
	if c != nil {
		return m.send(ctx, c, m.joinFor(t.id, id, nil))
	}
	m.dial(id)
	return nil
}

// admitInvited admits a peer that brought a live invite of this profile:
// the record of the member and the message announcing it to every member
// are one write (all or nothing), so an admission is never silent, even
// if the pairing after it fails. This profile admits at most
// MaxIntroduced members of a task, like any member.
func (m *Messenger) admitInvited(ctx context.Context, t *task, peer identity.ID, h inviteHash) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	m.mu.Lock()
	_, known := t.members[peer]
	err := m.admissibleLocked(t, peer, m.self)
	m.mu.Unlock()
	if known {
		return nil
	}
	if err != nil {
		return err
	}
	r := record{Op: opMember, Task: t.id, Peer: peer, By: m.self}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// Every admission is announced to every member and shown.
	data := map[string]any{"id": peer, "via": m.self, "invite": h.short()}
	if _, err := m.writeManyLocked(ctx, t, []draft{{TypeMember, data, nil}}, journal.BookAppend{Book: m.tasksLog, Pages: [][]byte{b}}); err != nil {
		return err
	}
	m.mu.Lock()
	m.apply(r)
	m.mu.Unlock()
	m.trusted(peer)
	m.emit(Event{Type: EventMember, Task: t.id, Peer: peer, State: "added"})
	return nil
}

// admit returns the task's member id, recording it (and reporting it
// added) if it is new; see admissibleLocked. A new member's ports run
// replication from then on.
func (m *Messenger) admit(ctx context.Context, t *task, id, by identity.ID) (*member, bool, error) {
	m.mu.Lock()
	mb, known := t.members[id]
	err := m.admissibleLocked(t, id, by)
	_, removed := t.removed[id]
	m.mu.Unlock()
	switch {
	case known:
		return mb, false, nil
	case removed:
		return nil, false, nil // announced before its removal: not taken
	case err != nil:
		return nil, false, err
	}
	r := record{Op: opMember, Task: t.id, Peer: id, By: by}
	if err := m.writeRecord(ctx, r); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	m.apply(r)
	mb = t.members[id]
	m.mu.Unlock()
	m.trusted(id)
	m.emit(Event{Type: EventMember, Task: t.id, Peer: id, State: "added"})
	return mb, true, nil
}

// admissibleLocked says why id, not a member yet, may not be admitted on
// by's word (by zero: this profile's inviter): a task has at most
// MaxMembers, and the members an introduction chain brings in are charged
// to its root (see rootLocked), at most MaxIntroduced per root. Called
// with m.mu held.
func (m *Messenger) admissibleLocked(t *task, id, by identity.ID) error {
	switch root := t.rootLocked(m.self, by); {
	case t.removed[id] != nil:
		return fmt.Errorf("room: %s was removed from task %s by its creator", id.Short(), t.id)
	case m.revoked[id] != nil:
		return fmt.Errorf("room: device %s was revoked", id.Short())
	case len(t.members) >= MaxMembers:
		return fmt.Errorf("room: task %s is full (%d members): %s not added", t.id, MaxMembers, id.Short())
	case !by.IsZero() && t.introduced[root] >= MaxIntroduced:
		if root == by {
			return fmt.Errorf("%w: %s admitted %d members of task %s already: %s not added", ErrTooManyMembers, by.Short(), MaxIntroduced, t.id, id.Short())
		}
		return fmt.Errorf("%w: %s and the members it introduced admitted %d members of task %s already: %s (announced by %s) not added",
			ErrTooManyMembers, root.Short(), MaxIntroduced, t.id, id.Short(), by.Short())
	}
	return nil
}

// joinFor is the join this profile sends peer for task: the key of its
// book to peer (derived, whether or not the book exists yet), and the
// invite's secret when it joins through an invite.
func (m *Messenger) joinFor(task TaskID, peer identity.ID, secret []byte) wire {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.joinForLocked(task, peer, secret)
}

// joinForLocked is joinFor with m.mu held.
func (m *Messenger) joinForLocked(task TaskID, peer identity.ID, secret []byte) wire {
	w := wire{Type: wireJoin, Task: task, Key: m.db.BookKey(pairName(m.self, m.personLocked(peer), task)), Secret: secret}
	if secret == nil {
		w.Cert = m.ownCert()
	}
	return w
}

func (m *Messenger) dial(peer identity.ID) {
	m.mu.Lock()
	m.dialLocked(peer)
	m.mu.Unlock()
}

// ensureTask returns the task, recording and opening it if it is new.
func (m *Messenger) ensureTask(ctx context.Context, id TaskID, title string, parent *TaskID, host, creator identity.ID, secret []byte) (*task, bool, error) {
	if t := m.task(id); t != nil {
		return t, false, m.learnSecret(ctx, t, secret)
	}
	if title == "" {
		title = "(untitled)"
	}
	r := record{Op: opTask, Task: id, Title: title, Parent: parent, Host: host, Creator: creator, Date: m.cfg.Now().UnixMilli(), Secret: secret}
	if err := m.writeRecord(ctx, r); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	m.apply(r)
	t := m.tasks[id]
	m.mu.Unlock()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := m.ensure(ctx, t); err != nil {
		return nil, false, err
	}
	return t, true, nil
}

// task returns the task id with its books open (opening them if it is
// lazy: lazy.go), nil if the profile has no such task, or is making or
// joining it.
func (m *Messenger) task(id TaskID) *task {
	m.mu.Lock()
	t := m.tasks[id]
	known := t != nil && t.knownLocked()
	ready := known && t.ready
	m.mu.Unlock()
	switch {
	case ready:
		return t
	case !known:
		return nil
	}
	if t, ok := m.ensureID(id); ok {
		return t
	}
	return nil
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

// replicaOK reports whether a member's book to this profile (its first,
// gen 0, or a successor) is the one it must be: verified, and named for
// this task and this reader.
func (m *Messenger) replicaOK(t *task, s BookSource, gen int) bool {
	info := s.Book.Info()
	return info.Verified && m.bookNameOK(info, s.Author, t.id, gen)
}
