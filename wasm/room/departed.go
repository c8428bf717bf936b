package room

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Departed members' history. A member X that left a task deleted its
// copy: it serves no book to a member that joins later. So a member Y
// answering a join names, beside its members, each member that left
// with the key of X's book to Y, which Y holds verified ("departed" in
// the joined answer). The joiner J takes it as X's book to it: it records
// X as a member (announced by Y) and the book as X's ("departed" record),
// never pairs with X, and follows the book through any member that holds
// it (replication's FollowVia, as a recalled device follows its person's
// history); the members serve a departed member's book to any member of
// its task (Serve). J reads X's pages by mid, as every member does, so its
// timeline orders them the same; X's own leave message in the book makes
// X left at J too. Every joined answer carries them, a pairing's too: a
// member that learns of X's leave only after J joined through it tells J
// when they pair. J takes one for a member it has no book of, or only an
// empty one (X, from the moment it decides to leave, pairs with no one
// new: errLeaving). Once J reads X's history, a pairing book of X does not
// replace it (errDeparted): X's leave may cross J's join, and the book X
// began to J then goes with X's copy before J reads it, while the history
// holds all X wrote. A member lying that X left keeps J from pairing with
// X too (J reads X through the liar's copy only; docs/soak.md).
//
// A member cannot inject anything through it: the book must be signed by
// X (journal.DB.ReaderFrom), its genesis must name a book of X in this
// task (departedName), X must be a member the answer lists, J takes one
// such book per member it reads nothing of yet, and at most MaxMembers,
// each charged to the answering member like an announcement
// (admissibleLocked).

// departedBook is a member that left, in a joined answer, and the key of
// its book to the answering member.
type departedBook struct {
	ID  identity.ID `json:"id"`
	Key identity.ID `json:"key"`
}

// opDeparted records the book of a member that left that this profile
// reads (records.go): {"op":"departed","task":T,"peer":X,"key":K,"from":1}.
const opDeparted = "departed"

// ErrBadDeparted: a joined answer named a departed member's book this
// profile does not take.
var ErrBadDeparted = errors.New("room: a departed member's book not taken")

// departedLocked lists the members of t that left and the keys of their
// books to this profile, for a joined answer to peer. Called with m.mu held.
func (m *Messenger) departedLocked(t *task, peer identity.ID) []departedBook {
	var out []departedBook
	for id := range t.left {
		if mb := t.members[id]; mb != nil && id != peer && !mb.inKey.IsZero() {
			out = append(out, departedBook{ID: id, Key: mb.inKey})
		}
	}
	return out
}

// takeDeparted takes the departed members of a joined answer from host,
// whose members are listed: each book refused is logged, not an error.
func (m *Messenger) takeDeparted(ctx context.Context, t *task, host identity.ID, members []identity.ID, ds []departedBook) error {
	if len(ds) > MaxMembers {
		return fmt.Errorf("%w: %d departed members, at most %d", ErrBadDeparted, len(ds), MaxMembers)
	}
	seen := make(map[identity.ID]bool, len(ds))
	for _, d := range ds {
		err := m.takeDepartedBook(ctx, t, host, members, d, seen)
		if errors.Is(err, ErrBadDeparted) {
			m.log.Debug("room: departed member not taken", "peer", d.ID.Short(), "via", host.Short(), "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// takeDepartedBook takes one departed member's book from host's answer.
func (m *Messenger) takeDepartedBook(ctx context.Context, t *task, host identity.ID, members []identity.ID, d departedBook, seen map[identity.ID]bool) error {
	switch {
	case d.ID == m.self || d.ID == host || seen[d.ID]:
		return fmt.Errorf("%w: %s named twice, or not a departed member", ErrBadDeparted, d.ID.Short())
	case !slices.Contains(members, d.ID):
		return fmt.Errorf("%w: %s is not a member %s lists", ErrBadDeparted, d.ID.Short(), host.Short())
	}
	seen[d.ID] = true
	t.wmu.Lock()
	defer t.wmu.Unlock()
	m.mu.Lock()
	mb := t.members[d.ID]
	_, used := m.replica[d.Key]
	var old identity.ID    // its book to this profile, empty: it left before writing any
	var held *journal.Book // the book of it this profile reads
	reads := t.left[d.ID] || !t.departed[d.ID].IsZero()
	if mb != nil && !mb.inKey.IsZero() {
		old, held = mb.inKey, mb.in
		reads = reads || held == nil
	}
	m.mu.Unlock()
	// Read without mu: a book's lock is held while the DB's hooks run, and
	// the room's hook takes mu (a page deadlocked on this in the soak).
	reads = reads || held != nil && held.Len() > 0
	switch {
	case reads:
		return fmt.Errorf("%w: this profile reads a book of %s already", ErrBadDeparted, d.ID.Short())
	case used:
		return fmt.Errorf("%w: book %s is another's", ErrBadDeparted, d.Key.Short())
	}
	// Registered before it is followed: replication asks FollowVia as the
	// book is followed.
	m.mu.Lock()
	m.history[d.Key] = true
	m.mu.Unlock()
	in, err := m.db.ReaderFrom(ctx, d.Key, d.ID)
	if err != nil {
		m.mu.Lock()
		delete(m.history, d.Key)
		m.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrBadDeparted, err)
	}
	if mb == nil {
		if _, _, err := m.admit(ctx, t, d.ID, host); err != nil {
			return fmt.Errorf("%w: %w", ErrBadDeparted, err)
		}
	}
	if err := m.keepRecord(ctx, record{Op: opDeparted, Task: t.id, Peer: d.ID, Key: d.Key, From: 1}); err != nil {
		return err
	}
	m.mu.Lock()
	mb = t.members[d.ID]
	mb.in = in
	if !old.IsZero() {
		delete(m.replica, old)
	}
	m.mu.Unlock()
	m.rescan(ctx, in)
	return nil
}

// applyDepartedLocked applies a departed record: X's book K is read as
// its book to this profile, followed through its holders. Called with m.mu
// held (or before the messenger runs).
func (m *Messenger) applyDepartedLocked(t *task, r record) {
	if t.departed == nil {
		t.departed = make(map[identity.ID]identity.ID)
	}
	t.departed[r.Peer] = r.Key
	t.member(r.Peer).inKey = r.Key
	m.history[r.Key] = true
	m.replica[r.Key] = bookRef{t.id, r.Peer, 0}
	m.takenLocked(r.Key, r.From)
}

// departedName reports whether a book named name is the book of a member
// of t that left before this profile joined, the one this profile took
// for it.
func (m *Messenger) departedName(key identity.ID, name string, author identity.ID, t TaskID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	tk := m.tasks[t]
	return tk != nil && tk.departed[author] == key && historyName(name, author, t)
}

// servesDepartedLocked reports whether book, which this profile holds, is
// the book of a member that left its task, and to is a member of that task
// still: a member that joined after, reading it. Called with m.mu held.
func (m *Messenger) servesDepartedLocked(book, to identity.ID) bool {
	ref, ok := m.replica[book]
	if !ok || ref.gen != 0 || ref.peer == to || m.revoked[to] != nil {
		return false
	}
	t := m.tasks[ref.task]
	if t == nil || !t.left[ref.peer] || t.left[to] {
		return false
	}
	_, member := t.members[to]
	return member
}

// checkDeparted checks a wire message's departed members: in a joined
// only, at most MaxMembers, each id and key valid.
func checkDeparted(w wire) error {
	switch {
	case len(w.Departed) > MaxMembers:
		return fmt.Errorf("room: %d departed members, at most %d", len(w.Departed), MaxMembers)
	case len(w.Departed) > 0 && w.Type != wireJoined:
		return errors.New("room: departed members out of place")
	}
	for _, d := range w.Departed {
		if d.ID.Check() != nil || d.Key.Check() != nil {
			return errors.New("room: a departed member without a valid id or key")
		}
	}
	return nil
}

// tellDeparted sends the members of t online the joined answer again, as
// a member left: one that joined meanwhile, whose pairings were answered
// before this profile held the leave, learns of the departed member's
// book from it.
func (m *Messenger) tellDeparted(ctx context.Context, t *task) {
	secret, err := m.secretOf(ctx, t)
	if err != nil {
		return
	}
	type answer struct {
		c *conn
		w wire
	}
	var as []answer
	m.mu.Lock()
	for id, mb := range t.members {
		if c := m.conns[id]; c != nil && c.synced && mb.out != nil && !t.left[id] {
			as = append(as, answer{c, m.joinedLocked(t, id, secret)})
		}
	}
	m.mu.Unlock()
	for _, a := range as {
		m.goSend(func(ctx context.Context) {
			if err := m.send(ctx, a.c, a.w); err != nil {
				m.log.Debug("room: departed members not told", "peer", a.c.peer.Short(), "err", err)
			}
		})
	}
}
