package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// Removing a member (issue #13). The task's creator removes a member with
// a "remove" message ({id}) in each of its books of the task, the removed
// member's included, so every member's timeline says who removed whom,
// and the removed member's page says it was removed. In the same write the
// creator makes the task's next secret (epoch e+1) and seals every later
// page with it; it gives it (a "rekey") to each other member on their port,
// now or when it next opens, never to the removed one.
//
// A member that reads the creator's "remove" in the creator's verified book
// removes the member too: it stops writing to it and following its books
// (its past messages stay in the timeline), and seals with the new secret
// once the creator gives it. So a removed member gets no page written after
// its removal (no book is addressed to it any more, and mirrors serve a
// book only to its author and its reader), and a page it would get anyway
// (from a colluding peer) is sealed under a secret it never had. It keeps
// what it had: its books and the secrets of the epochs before.
//
// The creator removes, and so does any member the creator allowed to (an
// "allow" message, {id}, in the creator's books: AllowRemoving); a removal
// by such a member is acted on by everyone, and the creator, reading it,
// makes the next secret then. Only the creator makes secrets, and only its
// are taken after a join (a joiner takes every epoch's secret from its
// inviter's answer, as it takes the first): epochs never collide, and no
// member can make the others seal under a secret of its choosing. A member
// without the creator's leave cannot remove another. The creator is who made the task as
// each member learnt it when joining (the joined answer names it; the
// inviter vouches for it as for the task itself).

// ErrNotCreator means a removal asked of a profile that neither created
// the task nor was allowed to remove by its creator.
var ErrNotCreator = errors.New("room: only the task's creator, and the members it allowed, remove members")

// ErrRemoved means a write to a task this profile was removed from.
var ErrRemoved = errors.New("room: you were removed from this task")

// TypeRemove is a message saying the author (the task's creator, or a
// member it allowed) removed data.id from the task; TypeAllow, by the
// creator, allows data.id to remove members.
const (
	TypeRemove = "remove"
	TypeAllow  = "allow"
)

// epochSecret is a task secret of an epoch on the wire (joined, held,
// rekey).
type epochSecret struct {
	Epoch  uint32 `json:"epoch"`
	Secret []byte `json:"secret"`
}

// maxEpochs bounds the secrets one message gives.
const maxEpochs = 1024

// epochsLocked returns t's secrets of epochs after 0 (the first goes as
// taskSecret). Called with m.mu held.
func (t *task) epochsLocked() []epochSecret {
	var out []epochSecret
	for _, e := range slices.Sorted(maps.Keys(t.secrets)) {
		if e > 0 {
			out = append(out, epochSecret{e, t.secrets[e]})
		}
	}
	return out
}

// creatorLocked is who created t as this profile knows it: its record's,
// or (a task recorded before creators were) its host. Called with m.mu
// held.
func (t *task) creatorLocked() identity.ID {
	if !t.creator.IsZero() {
		return t.creator
	}
	return t.host
}

// RemoveMember removes a member from a task: only the task's creator, or
// a member it allowed (AllowRemoving), may. The member gets no later
// message, nor the secret they are sealed with (the creator makes it).
func (m *Messenger) RemoveMember(ctx context.Context, id TaskID, member identity.ID) error {
	t := m.task(id)
	if t == nil {
		return fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	if err := m.checkRestoring(); err != nil {
		return err
	}
	secret, err := seal.NewSecret()
	if err != nil {
		return err
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	m.mu.Lock()
	creator, known, epoch, allowed := t.creatorLocked(), t.members[member] != nil, t.epoch, t.removers[m.self]
	ours, mints := m.personLocked(creator) == m.person, m.minterLocked(t) == m.self
	m.mu.Unlock()
	switch {
	case !ours && !allowed:
		return ErrNotCreator
	case member == m.self:
		return errors.New("room: you cannot remove yourself")
	case member == creator:
		return errors.New("room: the task's creator cannot be removed")
	case m.PersonOf(member) == m.person:
		return errors.New("room: a device of yours is revoked, not removed")
	case !known:
		return fmt.Errorf("room: %s is not a member of task %s", member.Short(), id)
	}
	// The message goes to every member, the removed one included, sealed
	// under the current secret; the records make the member removed and
	// (the creator's) the next secret current, in the same write.
	recs := []record{{Op: opRemove, Task: t.id, Peer: member, By: m.self, Mid: m.heldOf(t, member)}}
	if mints {
		recs = append(recs, record{Op: opSecret, Task: t.id, Epoch: epoch + 1, Secret: secret})
	}
	pages, err := m.recordPages(recs)
	if err != nil {
		return err
	}
	if _, err := m.writeManyLocked(ctx, t, []draft{{TypeRemove, map[string]any{"id": member}, nil}}, journal.BookAppend{Book: m.tasksLog, Pages: pages}); err != nil {
		return err
	}
	m.mu.Lock()
	for _, r := range recs {
		m.apply(r)
	}
	m.mu.Unlock()
	m.afterRemoval(t, member)
	return nil
}

// heldOf is how many of a member's messages this profile holds (of its
// first book: a removed member's successors are not read).
func (m *Messenger) heldOf(t *task, member identity.ID) uint64 {
	m.mu.Lock()
	mb := t.members[member]
	var in *journal.Book
	if mb != nil {
		in = mb.in
	}
	m.mu.Unlock()
	if in == nil {
		return 0
	}
	n, _ := BookSource{Book: in}.Len(context.Background())
	return uint64(n)
}

// recordPages encodes records as tasks book pages.
func (m *Messenger) recordPages(recs []record) ([][]byte, error) {
	pages := make([][]byte, len(recs))
	for i, r := range recs {
		var err error
		if pages[i], err = encodeRecord(r); err != nil {
			return nil, err
		}
	}
	return pages, nil
}

// onRemove takes a "remove" message read from its author's verified
// book: from the task's creator, or a member it allowed, the member named
// is removed here too (or, if it is this profile, the task says so).
// Others' are shown, not acted on; but the creator's "allow" is in
// another book than the member's "remove", and may be read after it: a
// removal by a member not (yet) allowed is kept as a claim, acted on if
// the allow comes (onAllow), so every member ends with the same members
// whichever book it read first.
func (m *Messenger) onRemove(ctx context.Context, t *task, msg Message) {
	d, ok := dataID(msg)
	if !ok {
		return
	}
	by := msg.Head.By
	m.claiming.Lock()
	m.mu.Lock()
	allowed := m.mayRemoveLocked(t, by)
	keep := !allowed && d != t.creatorLocked() && !slices.Contains(t.claims[by], d) && len(t.claims[by]) < MaxMembers
	m.mu.Unlock()
	if keep {
		if err := m.keepRecord(ctx, record{Op: opClaim, Task: t.id, Peer: d, By: by}); err != nil {
			m.fail(fmt.Errorf("room: task %s: record %s's removal of %s: %w", t.id, by.Short(), d.Short(), err))
		}
	}
	m.claiming.Unlock()
	if allowed {
		m.takeRemoval(ctx, t, by, d)
	}
}

// mayRemoveLocked says whether by may remove members of t: the creator
// (any device of its person) or a member it allowed. Called with m.mu
// held.
func (m *Messenger) mayRemoveLocked(t *task, by identity.ID) bool {
	return m.personLocked(by) == m.personLocked(t.creatorLocked()) || t.removers[by]
}

// takeRemoval acts on by's removal of member d, by being allowed to
// remove; a removal already taken, or of the creator, is nothing.
func (m *Messenger) takeRemoval(ctx context.Context, t *task, by, d identity.ID) {
	m.mu.Lock()
	creator := t.creatorLocked()
	_, gone := t.removed[d]
	done := !t.removedBy.IsZero()
	mints := m.minterLocked(t) == m.self
	m.mu.Unlock()
	switch {
	case d == creator:
		return
	case d == m.self && !done:
	case d != m.self && !gone:
	default:
		return
	}
	r := record{Op: opRemove, Task: t.id, Peer: d, By: by, Mid: m.heldOf(t, d)}
	if err := m.keepRecord(ctx, r); err != nil {
		m.fail(fmt.Errorf("room: task %s: record the removal of %s: %w", t.id, d.Short(), err))
		return
	}
	if d == m.self {
		m.log.Info("room: removed from a task", "task", t.id, "by", by.Short())
		m.emit(Event{Type: EventRemoved, Task: t.id, Peer: by})
		return
	}
	if mints {
		// A removal by a member this profile allowed (or another device of
		// its person): the next secret is this profile's to make.
		if err := m.rotate(ctx, t); err != nil {
			m.fail(err)
		}
	}
	m.afterRemoval(t, d)
}

// settleClaims takes the claims whose authors are allowed by now but
// were not taken (the profile stopped between the allow's record and
// theirs).
func (m *Messenger) settleClaims(ctx context.Context) {
	type claim struct {
		t      *task
		by, of identity.ID
	}
	var due []claim
	m.mu.Lock()
	for _, t := range m.tasks {
		for by, ds := range t.claims {
			if !m.mayRemoveLocked(t, by) {
				continue
			}
			for _, d := range ds {
				due = append(due, claim{t, by, d})
			}
		}
	}
	m.mu.Unlock()
	for _, c := range due {
		m.takeRemoval(ctx, c.t, c.by, c.of)
	}
}

// rotate makes t's next secret current (its creator's, after a removal
// by a member it allowed).
func (m *Messenger) rotate(ctx context.Context, t *task) error {
	secret, err := seal.NewSecret()
	if err != nil {
		return err
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	m.mu.Lock()
	r := record{Op: opSecret, Task: t.id, Epoch: t.epoch + 1, Secret: secret}
	m.mu.Unlock()
	if err := m.keepRecord(ctx, r); err != nil {
		return fmt.Errorf("room: task %s: make its next secret: %w", t.id, err)
	}
	return nil
}

// AllowRemoving lets a member of a task this profile created remove
// members: an "allow" message every member reads.
func (m *Messenger) AllowRemoving(ctx context.Context, id TaskID, member identity.ID) error {
	t := m.task(id)
	if t == nil {
		return fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	claims, err := m.allow(ctx, t, member)
	if err != nil {
		return err
	}
	// Removals the member made before (a client that did not wait for
	// this allow) count now, as at every member that reads them.
	for _, of := range claims {
		m.takeRemoval(ctx, t, member, of)
	}
	return nil
}

// allow writes the "allow" message of member and its record, and returns
// the member's claims (onRemove).
func (m *Messenger) allow(ctx context.Context, t *task, member identity.ID) ([]identity.ID, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	m.mu.Lock()
	creator, known := t.creatorLocked(), t.members[member] != nil
	m.mu.Unlock()
	switch {
	case creator != m.self:
		return nil, errors.New("room: only the task's creator allows members to remove")
	case !known:
		return nil, fmt.Errorf("room: %s is not a member of task %s", member.Short(), t.id)
	}
	r := record{Op: opAllow, Task: t.id, Peer: member}
	page, err := encodeRecord(r)
	if err != nil {
		return nil, err
	}
	m.claiming.Lock()
	defer m.claiming.Unlock()
	if _, err := m.writeManyLocked(ctx, t, []draft{{TypeAllow, map[string]any{"id": member}, nil}}, journal.BookAppend{Book: m.tasksLog, Pages: [][]byte{page}}); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apply(r)
	return slices.Clone(t.claims[member]), nil
}

// onAllow takes the creator's "allow" message, read from its verified
// book.
func (m *Messenger) onAllow(ctx context.Context, t *task, msg Message) {
	d, ok := dataID(msg)
	if !ok {
		return
	}
	m.claiming.Lock()
	m.mu.Lock()
	ok = msg.Head.By == t.creatorLocked() && !t.removers[d]
	m.mu.Unlock()
	if !ok {
		m.claiming.Unlock()
		return
	}
	r := record{Op: opAllow, Task: t.id, Peer: d}
	err := m.keepRecord(ctx, r)
	m.mu.Lock()
	claims := slices.Clone(t.claims[d])
	m.mu.Unlock()
	m.claiming.Unlock()
	if err != nil {
		m.fail(fmt.Errorf("room: task %s: record that %s may remove: %w", t.id, d.Short(), err))
		return
	}
	// Its removals read before this allow are taken now.
	for _, of := range claims {
		m.takeRemoval(ctx, t, d, of)
	}
}

// applyRemoveLocked applies a removal record: the member's books are no
// longer followed nor written (its past messages stay readable), or this
// profile was removed. Called with m.mu held.
func (m *Messenger) applyRemoveLocked(t *task, r record) {
	if r.Peer == m.self {
		t.removedBy = r.By
		return
	}
	mb := t.members[r.Peer]
	if mb == nil {
		// Not known yet (its announcement is still to be read): it will
		// not be taken.
		t.removed[r.Peer] = &member{id: r.Peer}
		return
	}
	delete(t.members, r.Peer)
	mb.heldAtRemoval = r.Mid
	t.removed[r.Peer] = mb
	delete(m.replica, mb.inKey)
	m.forgetTakenLocked(mb.inKey)
	for _, s := range mb.next {
		delete(m.replica, s.key)
		m.forgetTakenLocked(s.key)
	}
}

// afterRemoval tells the members still on a port the task's secrets, and
// the page that a member was removed.
func (m *Messenger) afterRemoval(t *task, member identity.ID) {
	m.mu.Lock()
	var conns []*conn
	for id := range t.members {
		if c := m.conns[id]; c != nil {
			conns = append(conns, c)
		}
	}
	m.mu.Unlock()
	for _, c := range conns {
		m.rekey(c, t)
	}
	m.emit(Event{Type: EventMember, Task: t.id, Peer: member, State: "removed"})
}

// rekey sends a member the task's secrets after the first, if this
// profile created the task and has made any.
func (m *Messenger) rekey(c *conn, t *task) {
	m.mu.Lock()
	epochs := t.epochsLocked()
	mine := m.minterLocked(t) == m.self && t.members[c.peer] != nil
	m.mu.Unlock()
	if !mine || len(epochs) == 0 {
		return
	}
	m.goSend(func(ctx context.Context) {
		_ = m.send(ctx, c, wire{Type: wireRekey, Task: t.id, Epochs: epochs})
	})
}

// rekeyOnOpen gives a member whose port just opened the secrets of the
// tasks this profile created and they share.
func (m *Messenger) rekeyOnOpen(c *conn) {
	m.mu.Lock()
	var ts []*task
	for _, t := range m.tasks {
		if t.members[c.peer] != nil && m.minterLocked(t) == m.self && t.epoch > 0 {
			ts = append(ts, t)
		}
	}
	m.mu.Unlock()
	for _, t := range ts {
		m.rekey(c, t)
	}
}

// onRekey takes the secrets the task's creator gives.
func (m *Messenger) onRekey(c *conn, w wire) {
	m.task(w.Task) // opens it if lazy (lazy.go)
	m.mu.Lock()
	t := m.tasks[w.Task]
	// From the task's minter, or another device of its person (its
	// revocation may reach this profile after the secret it made).
	ok := t != nil && t.ready && t.members[c.peer] != nil &&
		(m.minterLocked(t) == c.peer || m.personLocked(c.peer) == m.personLocked(t.creatorLocked()))
	m.mu.Unlock()
	if !ok {
		return
	}
	if err := m.learnEpochs(m.ctx, t, w.Epochs); err != nil {
		m.fail(err)
	}
}

// learnEpochs records the secrets of epochs this profile lacks.
func (m *Messenger) learnEpochs(ctx context.Context, t *task, epochs []epochSecret) error {
	var recs []record
	m.mu.Lock()
	for _, e := range epochs {
		if e.Epoch > 0 && len(e.Secret) == seal.KeySize && t.secrets[e.Epoch] == nil {
			recs = append(recs, record{Op: opSecret, Task: t.id, Epoch: e.Epoch, Secret: e.Secret})
		}
	}
	m.mu.Unlock()
	for _, r := range recs {
		if err := m.keepRecord(ctx, r); err != nil {
			return fmt.Errorf("room: task %s: keep its secret of epoch %d: %w", t.id, r.Epoch, err)
		}
	}
	if len(recs) > 0 {
		m.emit(Event{Type: EventTask, Task: t.id, State: "rekeyed"})
	}
	return nil
}

// checkEpochs bounds the secrets a message gives.
func checkEpochs(w wire) error {
	switch {
	case len(w.Epochs) > maxEpochs:
		return fmt.Errorf("room: %d secrets, at most %d", len(w.Epochs), maxEpochs)
	case len(w.Epochs) > 0 && w.Type != wireJoined && w.Type != wireHeld && w.Type != wireRekey:
		return errors.New("room: secrets out of place")
	case w.Type == wireRekey && len(w.Epochs) == 0:
		return errors.New("room: a rekey without a secret")
	}
	for _, e := range w.Epochs {
		if e.Epoch == 0 || len(e.Secret) != seal.KeySize {
			return fmt.Errorf("room: a secret of epoch %d of %d bytes", e.Epoch, len(e.Secret))
		}
	}
	return nil
}

// removedSources are the books of t's removed members, for the timeline:
// what they wrote before their removal stays. Called with m.mu held.
func (m *Messenger) removedSourcesLocked(t *task) []markedSource {
	var out []markedSource
	for _, mb := range t.removed {
		if mb.in != nil && mb.heldAtRemoval > 0 {
			src := m.sourceLocked(t, mb.in, mb.id, 0)
			src.Cap = int(mb.heldAtRemoval)
			out = append(out, markedSource{src, t.refused[mb.id], renumbering{m.self, mb.outFrom, mb.outShift}})
		}
	}
	return out
}

// dataID reads a message's data.id (remove, allow).
func dataID(msg Message) (identity.ID, bool) {
	var d struct {
		ID identity.ID `json:"id"`
	}
	err := json.Unmarshal(msg.Data, &d)
	return d.ID, err == nil
}
