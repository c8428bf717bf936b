package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Fork healing. A profile written from two places (a copy on another
// device, an old backup restored) signs two histories of its book to a
// member; the member proves it (replication's forked message) and follows
// that book no further. The author then goes on in a successor book:
//
//  1. It finds the last length both histories agree on, asking the member
//     for its roots at lengths it picks (askroots / roots, up to
//     maxAskRoots at a time, a 65-way search: a few round trips).
//  2. It writes the successor "${author}-${member}-${task}.${gen}" (gen
//     1, 2, …; the identity signs its genesis like any other), whose
//     genesis meta cites the forked book, the agreed length and the
//     author's root there, the member's evidence, and the number the
//     successor's first message takes (First: one past every message the
//     member holds of the author, so nothing the member holds is replaced).
//  3. It copies into it the messages of its log the member lacks (those
//     after the agreed length), renumbered from First, then every new
//     message, and tells the member (successor), now and on every port.
//
// The member follows a successor only if the book it continues is forked
// where the member holds it, its own root at the agreed length is the one
// cited, and First is past every message it holds of the author; it then
// reads it as one more source of the author's messages in the task: the
// messages of both places are kept, each once.
//
// Messages copied into a successor keep their clock (the timeline's order)
// but not their number: a member's reply to one of them names it by its
// number in the successor, which the author's own log numbers otherwise.

// Bounds of fork healing.
const (
	maxAskRoots   = 64 // lengths in one askroots
	maxRootAsks   = 64 // askroots a member may send on one port
	maxSuccessors = 16 // successors of one member's book that this profile follows
	agreeTimeout  = 30 * time.Second
)

// follows is a successor's genesis meta field: the book it continues.
type follows struct {
	Book   identity.ID `json:"book"`           // the forked book
	Length uint64      `json:"length"`         // pages of it both histories agree on, the most
	Root   []byte      `json:"root,omitempty"` // the author's root at Length (none at 0)
	First  uint64      `json:"first"`          // the number of this book's first message
	Fork   []byte      `json:"fork,omitempty"` // the member's evidence (CBOR journal.Fork)
}

// A successor is a member's successor of its book to this profile.
type successor struct {
	key   identity.ID
	gen   int
	shift uint64        // page p holds the member's message p+shift
	book  *journal.Book // nil until opened (load, follow)
}

// succName is the name of an author's book to reader in task t: gen 0 the
// first, gen g its g-th successor.
func succName(author, reader identity.ID, t TaskID, gen int) string {
	if gen == 0 {
		return pairName(author, reader, t)
	}
	return pairName(author, reader, t) + "." + strconv.Itoa(gen)
}

// heldFrom0 is how many pages of b are held from page 0.
func heldFrom0(b *journal.Book) uint64 {
	have := b.Have()
	if len(have) == 0 || have[0].Start != 0 {
		return 0
	}
	return have[0].End
}

// rootAt is the root of b's first n pages, computed from the pages.
func rootAt(ctx context.Context, b *journal.Book, n uint64) (tlog.Hash, error) {
	tree, err := treeOf(ctx, b, n)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.TreeHash(int64(n), tree)
}

// outOf returns the task and member whose book from this profile is book.
func (m *Messenger) outOf(book identity.ID) (*task, *member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tasks {
		for _, mb := range t.members {
			if mb.out != nil && mb.out.Key() == book {
				return t, mb
			}
		}
	}
	return nil, nil
}

// heal continues this profile's book to peer in a successor, peer having
// proved that it forked (fork). It runs once per book at a time; a failure
// is reported, and tried again when the member proves the fork again (on
// its next session).
func (m *Messenger) heal(peer, book identity.ID, fork *journal.Fork) {
	t, mb := m.outOf(book)
	if t == nil || mb.id != peer {
		return // an earlier book, healed already
	}
	m.mu.Lock()
	if m.healing[book] {
		m.mu.Unlock()
		return
	}
	m.healing[book] = true
	c := m.conns[peer]
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.healing, book)
		m.mu.Unlock()
	}()
	err := func() error {
		if c == nil || c.closed() {
			return errors.New("the member went offline")
		}
		ctx, cancel := context.WithTimeout(m.ctx, 4*agreeTimeout)
		defer cancel()
		m.mu.Lock()
		out := mb.out
		m.mu.Unlock()
		held := theirs(ctx, out, fork).Length
		agreed, err := m.agree(ctx, c, t, out, held)
		if err != nil {
			return err
		}
		key, err := m.succeed(ctx, t, mb, out, agreed, held, fork)
		if err != nil {
			return err
		}
		return m.send(ctx, c, wire{Type: wireSuccessor, Task: t.id, Key: key})
	}()
	if err != nil {
		if m.ctx.Err() == nil {
			m.fail(fmt.Errorf("room: task %s: could not continue the forked book to %s: %w", t.id, peer.Short(), err))
		}
		return
	}
	m.log.Info("room: a forked book goes on in a successor", "task", t.id, "member", peer.Short())
	m.emit(Event{Type: EventFork, Task: t.id, Peer: peer, State: "healed",
		Err: fmt.Errorf("your messages to %s go on in a new book: those they lacked are sent to them again, after the ones they have", peer.Short())})
}

// theirs is the member's head in fork evidence about this profile's book
// out: the one that is not out's own.
func theirs(ctx context.Context, out *journal.Book, fork *journal.Fork) journal.Head {
	if mine, err := out.TreeHash(ctx, fork.Old.Length); err == nil && mine == fork.Old.Root {
		return fork.New
	}
	return fork.Old
}

// agree finds the last length of book (the forked book to c's peer, who
// holds held pages of another history) at which both histories have the
// same root: the peer tells its roots at up to maxAskRoots lengths at a
// time, spread over the interval still in doubt.
func (m *Messenger) agree(ctx context.Context, c *conn, t *task, book *journal.Book, held uint64) (uint64, error) {
	n := book.Len()
	tree, err := treeOf(ctx, book, n)
	if err != nil {
		return 0, err
	}
	lo, hi := uint64(0), min(held, n) // lo agrees (0 always does); above hi, none does
	for lo < hi {
		lengths := spread(lo, hi, maxAskRoots)
		roots, err := m.askRoots(ctx, c, t, book.Key(), lengths)
		if err != nil {
			return 0, err
		}
		newLo, newHi, differs := lo, hi, false
		for i, k := range lengths {
			mine, err := tlog.TreeHash(int64(k), tree)
			if err != nil {
				return 0, err
			}
			same := bytes.Equal(roots[i], mine[:])
			switch {
			case same && differs:
				return 0, errors.New("the member's roots contradict each other")
			case same:
				newLo = k
			case !differs:
				newHi, differs = k-1, true
			}
		}
		lo, hi = newLo, newHi
	}
	return lo, nil
}

// spread returns up to n lengths in (lo, hi], increasing, hi included.
func spread(lo, hi uint64, n int) []uint64 {
	span := hi - lo
	if span <= uint64(n) {
		out := make([]uint64, 0, span)
		for k := lo + 1; k <= hi; k++ {
			out = append(out, k)
		}
		return out
	}
	out := make([]uint64, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, lo+span/uint64(n)*uint64(i))
	}
	out[n-1] = hi
	return out
}

// askRoots asks c's peer for its roots of book at lengths.
func (m *Messenger) askRoots(ctx context.Context, c *conn, t *task, book identity.ID, lengths []uint64) ([][]byte, error) {
	ch := make(chan wire, 1)
	m.mu.Lock()
	if m.rooting[book] != nil {
		m.mu.Unlock()
		return nil, errors.New("roots already asked")
	}
	m.rooting[book] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.rooting, book)
		m.mu.Unlock()
	}()
	if err := m.send(ctx, c, wire{Type: wireAskRoots, Task: t.id, Key: book, Lengths: lengths}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, agreeTimeout)
	defer cancel()
	select {
	case w := <-ch:
		switch {
		case w.Error != "":
			return nil, fmt.Errorf("the member answers: %s", w.Error)
		case len(w.Roots) != len(lengths) || !slices.Equal(w.Lengths, lengths):
			return nil, errors.New("the member answered other lengths")
		}
		return w.Roots, nil
	case <-c.mux.Done():
		return nil, errors.New("the member went offline")
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the member: %w", ctx.Err())
	}
}

// succeed writes the successor of out (this profile's forked book to the
// member, agreeing with the member's history, of held pages, on its first
// agreed pages)
// and makes it the member's book: the log's messages the member lacks are
// copied into it. Its genesis is written once (db.Author finds it again
// after a crash) and is what the record is computed from.
func (m *Messenger) succeed(ctx context.Context, t *task, mb *member, out *journal.Book, agreed, held uint64, fork *journal.Fork) (identity.ID, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	m.mu.Lock()
	gen, from, shift := mb.outGen, mb.outFrom, mb.outShift
	current := mb.out
	meta := genesisMeta{Task: t.id, To: m.personLocked(mb.id)}
	m.mu.Unlock()
	if current != out {
		return current.Key(), nil // done meanwhile
	}
	f := &follows{Book: out.Key(), Length: agreed,
		// One past every message the member may hold of this book.
		First: from + max(held, 1) + shift}
	if agreed > 0 {
		root, err := rootAt(ctx, out, agreed)
		if err != nil {
			return identity.ID{}, err
		}
		f.Root = root[:]
	}
	if ev, err := journal.Marshal(fork); err == nil {
		f.Fork = ev
	}
	meta.Follows = f
	next, err := m.db.Author(ctx, succName(m.self, meta.To, t.id, gen+1), meta.encode())
	if err != nil {
		return identity.ID{}, err
	}
	if f, err = followsOf(ctx, next); err != nil {
		return identity.ID{}, err
	}
	// Page p of the successor is the log's message newFrom+p: the first
	// after the agreed pages (page 0, the genesis, is a message of none).
	newFrom := from + max(f.Length, 1) - 1
	if f.First < newFrom+1 {
		return identity.ID{}, fmt.Errorf("successor numbered from %d, before the log's message %d", f.First, newFrom+1)
	}
	newShift := f.First - newFrom - 1
	if err := m.writeRecord(ctx, record{Op: opSucceed, Task: t.id, Peer: mb.id, Key: next.Key(), Gen: gen + 1, Mid: newFrom, Shift: newShift}); err != nil {
		return identity.ID{}, err
	}
	m.mu.Lock()
	mb.out, mb.outGen, mb.outFrom, mb.outShift = next, gen+1, newFrom, newShift
	m.mu.Unlock()
	m.pin(next)
	return next.Key(), m.catchUp(ctx, t, mb)
}

// followsOf reads a successor's genesis meta.
func followsOf(ctx context.Context, b *journal.Book) (*follows, error) {
	meta, err := genesisOf(ctx, b)
	if err != nil {
		return nil, err
	}
	if meta.Follows == nil {
		return nil, errors.New("not a successor")
	}
	return meta.Follows, nil
}

// genesisOf reads a task book's genesis meta.
func genesisOf(ctx context.Context, b *journal.Book) (genesisMeta, error) {
	var meta genesisMeta
	p, err := b.Get(ctx, 0)
	if err != nil {
		return meta, err
	}
	g, err := journal.DecodeGenesis(p)
	if err != nil {
		return meta, err
	}
	if err := json.Unmarshal(g.Meta, &meta); err != nil {
		return meta, fmt.Errorf("genesis meta: %w", err)
	}
	return meta, nil
}

// announceSuccessors tells c's peer of this profile's successors of its
// books to it (a successor announced before a port broke is announced
// again; the member ignores one it follows).
func (m *Messenger) announceSuccessors(c *conn) {
	m.mu.Lock()
	var ws []wire
	for _, t := range m.tasks {
		if mb := t.members[c.peer]; mb != nil && mb.outGen > 0 && mb.out != nil {
			ws = append(ws, wire{Type: wireSuccessor, Task: t.id, Key: mb.out.Key()})
		}
	}
	m.mu.Unlock()
	for _, w := range ws {
		if err := m.send(m.ctx, c, w); err != nil {
			return
		}
	}
}

// inBooks returns author's books to this profile in task t: the first,
// then its successors, and their numbers (gen).
func (m *Messenger) inBooks(t *task, author identity.ID) []*successor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inBooksLocked(t, author)
}

// inBooksLocked is inBooks with m.mu held.
func (m *Messenger) inBooksLocked(t *task, author identity.ID) []*successor {
	mb := t.members[author]
	if mb == nil || mb.in == nil {
		return nil
	}
	out := []*successor{{key: mb.inKey, book: mb.in}}
	for _, s := range mb.next {
		if s.book != nil {
			out = append(out, s)
		}
	}
	return out
}

// onAskRoots answers a member's askroots about one of its books to this
// profile that forked here: this profile's roots at the lengths asked
// (none above the pages it holds). Run off the port's reader.
func (m *Messenger) onAskRoots(ctx context.Context, c *conn, w wire) {
	answer := wire{Type: wireRoots, Task: w.Task, Key: w.Key, Lengths: w.Lengths}
	err := func() error {
		t := m.task(w.Task)
		if t == nil || !m.isMember(t, c.peer) {
			return errors.New("no such task shared")
		}
		var book *journal.Book
		for _, s := range m.inBooks(t, c.peer) {
			if s.key == w.Key {
				book = s.book
			}
		}
		switch {
		case book == nil:
			return errors.New("no such book of yours here")
		case book.Fork() == nil:
			return errors.New("that book did not fork here")
		}
		held := heldFrom0(book)
		top := uint64(0)
		for _, k := range w.Lengths {
			if k <= held {
				top = k
			}
		}
		tree, err := treeOf(ctx, book, top)
		if err != nil {
			return err
		}
		answer.Roots = make([][]byte, len(w.Lengths))
		for i, k := range w.Lengths {
			if k <= top {
				r, err := tlog.TreeHash(int64(k), tree)
				if err != nil {
					return err
				}
				answer.Roots[i] = r[:]
			}
		}
		return nil
	}()
	if err != nil {
		answer.Roots, answer.Error = nil, err.Error()
	}
	if err := m.send(ctx, c, answer); err != nil {
		m.log.Debug("room: roots", "peer", c.peer.Short(), "err", err)
	}
}

// onRoots hands an answer to the askroots waiting for it.
func (m *Messenger) onRoots(c *conn, w wire) {
	m.mu.Lock()
	ch := m.rooting[w.Key]
	m.mu.Unlock()
	if ch == nil {
		return
	}
	if t, mb := m.outOf(w.Key); t == nil || mb.id != c.peer {
		return
	}
	select {
	case ch <- w:
	default:
	}
}

// follow starts reading a member's announced successor of its book to
// this profile, if the book it would continue forked here; adopt decides
// once its genesis is here. Run off the port's reader.
func (m *Messenger) follow(ctx context.Context, c *conn, w wire) {
	t := m.task(w.Task)
	if t == nil || !m.isMember(t, c.peer) {
		return
	}
	books := m.inBooks(t, c.peer)
	m.mu.Lock()
	_, known := m.replica[w.Key]
	m.mu.Unlock()
	switch {
	case known || len(books) == 0:
		return
	case len(books) > maxSuccessors:
		m.log.Warn("room: too many successors of a member's book", "peer", c.peer.Short(), "task", t.id)
		return
	case books[len(books)-1].book.Fork() == nil:
		m.log.Info("room: a successor of a book that did not fork here: ignored", "peer", c.peer.Short(), "task", t.id)
		return
	}
	b, err := m.db.ReaderFrom(ctx, w.Key, c.peer)
	if err != nil {
		m.fail(fmt.Errorf("room: successor of %s: %w", c.peer.Short(), err))
		return
	}
	m.mu.Lock()
	m.replica[w.Key] = bookRef{task: t.id, peer: c.peer, gen: len(books)}
	m.mu.Unlock()
	if b.Info().Verified {
		m.adopt(ctx, t, c.peer, b, len(books))
	}
}

// adopt checks a member's successor whose genesis is here against the
// book it continues, and follows it if it holds: named as successor gen
// of this task to this profile, citing the last book followed (forked
// here), agreeing with this profile's root at the length it cites, and
// numbered past every message held of the member. Not holding, it is
// dropped (reported) and never read.
func (m *Messenger) adopt(ctx context.Context, t *task, peer identity.ID, b *journal.Book, gen int) {
	books := m.inBooks(t, peer)
	if len(books) != gen {
		return // adopted, or another, meanwhile
	}
	last := books[len(books)-1]
	shift, err := func() (uint64, error) {
		info := b.Info()
		if info.Name != succName(peer, m.person, t.id, gen) {
			return 0, fmt.Errorf("named %q", clip(info.Name))
		}
		meta, err := genesisOf(ctx, b)
		if err != nil {
			return 0, err
		}
		f := meta.Follows
		held := heldFrom0(last.book)
		switch {
		case meta.Task != t.id || meta.To != m.person:
			return 0, errors.New("its genesis names another task or reader")
		case f == nil || f.Book != last.key:
			return 0, errors.New("it does not continue the book followed")
		case last.book.Fork() == nil:
			return 0, errors.New("the book it continues did not fork here")
		case f.Length > held:
			return 0, fmt.Errorf("it agrees on %d pages, %d held here", f.Length, held)
		case f.First <= last.shift+max(held, 1)-1 || f.First > MaxClock:
			return 0, fmt.Errorf("its first message is %d, not past those held here", f.First)
		}
		if f.Length > 0 {
			root, err := rootAt(ctx, last.book, f.Length)
			if err != nil {
				return 0, err
			}
			if !bytes.Equal(root[:], f.Root) {
				return 0, fmt.Errorf("its root at %d is not the one held here", f.Length)
			}
		}
		return f.First - 1, nil
	}()
	if err != nil {
		m.mu.Lock()
		delete(m.replica, b.Key())
		m.forgetTakenLocked(b.Key())
		m.mu.Unlock()
		m.fail(fmt.Errorf("room: task %s: %s's successor book refused: %w", t.id, peer.Short(), err))
		return
	}
	if err := m.writeRecord(ctx, record{Op: opFollow, Task: t.id, Peer: peer, Key: b.Key(), Gen: gen, Mid: shift, From: 1}); err != nil {
		m.fail(err)
		return
	}
	m.mu.Lock()
	m.takenLocked(b.Key(), 1)
	if mb := t.members[peer]; mb != nil && len(mb.next) == gen-1 {
		mb.next = append(mb.next, &successor{key: b.Key(), gen: gen, shift: shift, book: b})
	}
	m.mu.Unlock()
	m.log.Info("room: following a member's successor book", "task", t.id, "member", peer.Short(), "gen", gen)
	m.emit(Event{Type: EventFork, Task: t.id, Peer: peer, State: "followed",
		Err: fmt.Errorf("%s wrote from two places at once (another browser or device, or an older backup): the messages of both are kept, and those you lacked follow", peer.Short())})
	m.rescan(ctx, b)
}

// checkRoots bounds the fields of askroots and roots: 1 to maxAskRoots
// lengths, increasing, each root 32 bytes or none, one per length.
func checkRoots(w wire) error {
	asks, answers := w.Type == wireAskRoots, w.Type == wireRoots
	switch {
	case !asks && !answers:
		if w.Lengths != nil || w.Roots != nil {
			return errors.New("room: roots out of place")
		}
		return nil
	case len(w.Lengths) == 0 || len(w.Lengths) > maxAskRoots:
		return fmt.Errorf("room: %d lengths, 1 to %d", len(w.Lengths), maxAskRoots)
	case asks && w.Roots != nil:
		return errors.New("room: roots in an askroots")
	case answers && w.Error == "" && len(w.Roots) != len(w.Lengths):
		return fmt.Errorf("room: %d roots for %d lengths", len(w.Roots), len(w.Lengths))
	}
	for i, k := range w.Lengths {
		if k == 0 || k > journal.MaxLength || i > 0 && k <= w.Lengths[i-1] {
			return errors.New("room: lengths not increasing from 1")
		}
	}
	for _, r := range w.Roots {
		if len(r) != 0 && len(r) != len(tlog.Hash{}) {
			return fmt.Errorf("room: a root of %d bytes", len(r))
		}
	}
	return nil
}
