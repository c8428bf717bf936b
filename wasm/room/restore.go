package room

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// Restore from the seed alone (a recovery code): the profile has its seed
// and none of its books. Its "tasks" book and its logs were private, but
// each member still holds the profile's book to it, and its own books to
// the profile, and dials it as soon as it is online (same peer id). So the
// restoring profile asks every peer whose port opens what it holds of its
// own, verifies the answer, imports its books, and rebuilds its tasks and
// logs from them; it writes nothing to a shared book until the restore is
// finished, so a restore never forks. See doc.go, "Restore".

// Errors of a restore.
var (
	// ErrRestoring: a write (a message, a task, a join, a pairing) while
	// the profile waits for its peers' copies of its books.
	ErrRestoring = errors.New("restoring: waiting for your peers")
	// ErrBadRestore: a member's answer to a restore that does not prove
	// what it claims, or breaks a bound: refused whole, nothing written.
	ErrBadRestore = errors.New("room: bad restore answer")
)

// Room message types of a restore.
const (
	wireRestore  = "restore"  // asks the peer what it holds of the sender's
	wireHeld     = "held"     // one task and (part of) the asker's book in it
	wireRestored = "restored" // the answer is complete
)

// Bounds of a restore answer.
const (
	maxHeldTasks = 1024     // tasks in one answer
	maxHeldBytes = 64 << 20 // bytes of pages in one answer
	// maxHeldInflight bounds the bytes of all answers being received at
	// once (while restoring, every port is asked, a stranger's too).
	maxHeldInflight = 2 * maxHeldBytes
	maxHeldPages    = 1024 // pages in one held message
	maxHeldPage     = maxPage + journal.MaxGenesisMeta + 1<<10
	heldChunk       = 160 << 10 // bytes of pages a member puts in one held message
)

// Record ops of a restore, in the tasks book: the profile was restored
// from its seed (its books come from its peers), and the restore finished.
const (
	opRestoring = "restoring"
	opRestored  = "restored"
)

// RestoreStatus is where a restore stands.
type RestoreStatus struct {
	// ID is the profile's id (a restore made it the recovery code's).
	ID identity.ID `json:"id"`
	// Active: the profile waits for its peers; writes fail with
	// ErrRestoring.
	Active bool `json:"active"`
	// Restored: the profile was restored from its seed (its books came
	// from its peers), finished or not.
	Restored bool `json:"restored"`
	// Answered are the peers that sent what they hold, Waiting the
	// members named in the answers that have not yet.
	Answered []identity.ID `json:"answered"`
	Waiting  []identity.ID `json:"waiting"`
	// Tasks and Books recovered so far; Messages: the pages of this
	// profile's logs restored.
	Tasks    int    `json:"tasks"`
	Books    int    `json:"books"`
	Messages uint64 `json:"messages"`
}

// restoreState is a messenger's restore. Guarded by Messenger.mu; its
// answers are taken one at a time (take).
type restoreState struct {
	take     sync.Mutex // held while an answer is imported
	restored bool       // a restoring record is in the tasks book
	active   bool       // restored and not finished
	answered map[identity.ID]bool
	expected map[identity.ID]bool // members named by answers
	tasks    map[TaskID]bool
	books    int
	messages uint64
	inflight int // bytes of the answers being received (heldAnswer.bytes)
}

func newRestoreState() *restoreState {
	return &restoreState{answered: make(map[identity.ID]bool), expected: make(map[identity.ID]bool), tasks: make(map[TaskID]bool)}
}

// applyRestore applies a restore record. Called with m.mu held or before
// the messenger runs.
func (m *Messenger) applyRestore(r record) {
	switch r.Op {
	case opRestoring:
		m.restore.restored, m.restore.active = true, true
	case opRestored:
		m.restore.active = false
	}
}

// startRestore records that the profile restores from its seed (Config.Restore):
// only on a profile without tasks, once.
func (m *Messenger) startRestore(ctx context.Context) error {
	m.mu.Lock()
	skip := m.restore.restored || len(m.tasks) > 0
	m.mu.Unlock()
	if skip {
		return nil
	}
	if err := m.keepRecord(ctx, record{Op: opRestoring, Date: m.cfg.Now().UnixMilli()}); err != nil {
		return fmt.Errorf("room: restore: %w", err)
	}
	return nil
}

// Restoring is where the profile's restore stands.
func (m *Messenger) Restoring() RestoreStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restoreStatusLocked()
}

func (m *Messenger) restoreStatusLocked() RestoreStatus {
	if m.recall.armed {
		return m.recallStatusLocked()
	}
	rs := m.restore
	st := RestoreStatus{ID: m.self, Active: rs.active, Restored: rs.restored, Answered: []identity.ID{}, Waiting: []identity.ID{},
		Tasks: len(rs.tasks), Books: rs.books, Messages: rs.messages}
	for id := range rs.answered {
		st.Answered = append(st.Answered, id)
	}
	for id := range rs.expected {
		if !rs.answered[id] {
			st.Waiting = append(st.Waiting, id)
		}
	}
	sortIDs(st.Answered)
	sortIDs(st.Waiting)
	return st
}

func sortIDs(ids []identity.ID) {
	slices.SortFunc(ids, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
}

// FinishRestore ends the restore: the user's choice to stop waiting for
// the peers that have not answered. Writes are allowed from then on; a
// member that answers later still gives back what it holds (its port is
// asked while a pair with it is incomplete), but a task only such a
// member shares is unknown until it does.
func (m *Messenger) FinishRestore(ctx context.Context) error {
	m.FinishRecall()
	return m.finishRestore(ctx, "the user chose to stop waiting")
}

func (m *Messenger) finishRestore(ctx context.Context, why string) error {
	m.mu.Lock()
	active := m.restore.active
	m.mu.Unlock()
	if !active {
		return nil
	}
	r := record{Op: opRestored, Date: m.cfg.Now().UnixMilli(), Why: why}
	if err := m.writeRecord(ctx, r); err != nil {
		return fmt.Errorf("room: finish the restore: %w", err)
	}
	m.mu.Lock()
	m.applyRestore(r)
	st := m.restoreStatusLocked()
	m.mu.Unlock()
	m.log.Info("room: restore finished", "why", why, "tasks", st.Tasks, "books", st.Books)
	m.emit(Event{Type: EventRestore, State: "done", Restore: &st})
	return nil
}

// checkRestoring is ErrRestoring while the restore waits.
func (m *Messenger) checkRestoring() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.restore.active {
		return ErrRestoring
	}
	return nil
}

// pairBlocked says why this profile may not create its book to peer in t
// yet: while restoring, a book that is not back from the peer could fork
// the copy the peer holds.
func (m *Messenger) pairBlocked(ctx context.Context, t *task, peer identity.ID) error {
	if m.checkRestoring() == nil {
		return nil
	}
	if _, err := m.db.Get(ctx, m.db.BookKey(pairName(m.self, m.PersonOf(peer), t.id))); err == nil {
		return nil
	}
	return fmt.Errorf("%w: your book to %s in task %s is not back yet", ErrRestoring, peer.Short(), t.id)
}

// askRestore asks a new port's peer what it holds of this profile's:
// while restoring, and after (once per peer while the messenger runs) a
// peer that may hold a book of this profile's not back yet: a member whose
// pair is incomplete (offline during the restore), or a peer that shares
// no task with it and that it is not joining through (a member of a task
// only such members shared). Sent before anything else on the port, so the
// answer comes before any pairing.
func (m *Messenger) askRestore(c *conn) {
	m.mu.Lock()
	ask := m.restore.restored && !m.restore.answered[c.peer] && (m.restore.active || m.mayHoldLocked(c.peer))
	if ask {
		c.restoreAsked = true
	}
	stranger := !c.synced
	m.mu.Unlock()
	switch {
	case !ask:
	case stranger:
		// A port the peer opened unasked holds little unread (peerio's
		// stranger bounds): ask for it (Dial), so the answer fits, then
		// ask for the restore. Nothing else is sent on a stranger's port
		// meanwhile, so the ask still comes first.
		m.goSend(func(ctx context.Context) {
			if p, err := m.cfg.Dial(ctx, c.peer); err != nil {
				m.log.Debug("room: ask for a restore", "peer", c.peer.Short(), "err", err)
				return
			} else if p != c.p {
				m.accept(p) // a newer port: asked in turn
				return
			}
			m.sendAsk(ctx, c)
		})
	default:
		m.sendAsk(m.ctx, c)
	}
}

func (m *Messenger) sendAsk(ctx context.Context, c *conn) {
	if err := m.send(ctx, c, wire{Type: wireRestore}); err != nil {
		m.log.Debug("room: ask for a restore", "peer", c.peer.Short(), "err", err)
	}
}

// mayHoldLocked reports whether peer, after the restore, may still hold a
// book of this profile's that is not back: see askRestore. Called with
// m.mu held.
func (m *Messenger) mayHoldLocked(peer identity.ID) bool {
	for k := range m.pending {
		if k.peer == peer {
			return false // joining through it: a stranger to it, which would close the port
		}
	}
	member := false
	for _, t := range m.tasks {
		if mb := t.members[peer]; mb != nil {
			member = true
			if mb.out == nil && !t.lazy { // a lazy task's books were opened before
				return true
			}
		}
	}
	return !member
}

// strangerMayRestore reports whether a message from a peer not trusted
// yet is part of the restore this profile asked it for (or one it sends
// a member in passing: a digest): kept, not a reason to close the port.
func (m *Messenger) strangerMayRestore(c *conn, w wire) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !c.restoreAsked {
		return false
	}
	switch w.Type {
	case wireHeld, wireRestored:
		return true
	case wireDigest:
		return m.restore.active
	}
	return false
}

// onRestoreAsk answers a member's restore: every task this profile shares
// with it, its book to the member's key, and the member's book to this
// profile as held here (signed head and every page, in chunks), then
// restored. Answered once per port, on the port's reader, so the answer
// is on the wire before anything this profile says after.
func (m *Messenger) onRestoreAsk(ctx context.Context, c *conn) {
	if c.restoreAnswered {
		return
	}
	c.restoreAnswered = true
	m.ensureWith(c.peer, func(*task, *member) bool { return true })
	type job struct {
		w  wire
		in *journal.Book
	}
	var jobs []job
	m.mu.Lock()
	for _, id := range m.order {
		t := m.tasks[id]
		mb := t.members[c.peer]
		if t.log == nil || mb == nil {
			continue
		}
		w := wire{Type: wireHeld, Task: t.id, Title: t.title, Parent: t.parent, Host: t.host, Clock: t.clock, TaskSecret: t.secrets[0],
			Epochs: t.epochsLocked(), Creator: t.creatorLocked()}
		if mb.out != nil {
			w.Key = mb.out.Key()
		}
		for other := range t.members {
			if other != c.peer && len(w.Members) < MaxMembers {
				w.Members = append(w.Members, other)
			}
		}
		jobs = append(jobs, job{w, mb.in})
		if len(jobs) == maxHeldTasks {
			break
		}
	}
	m.mu.Unlock()
	sent := 0
	for _, j := range jobs {
		if err := m.sendHeld(ctx, c, j.w, j.in, &sent); err != nil {
			m.log.Debug("room: answer a restore", "peer", c.peer.Short(), "err", err)
			return
		}
	}
	if err := m.send(ctx, c, wire{Type: wireRestored}); err != nil {
		m.log.Debug("room: answer a restore", "peer", c.peer.Short(), "err", err)
	}
}

// sendHeld sends one task of a restore answer: its first held message with
// the book's head, then the book's pages in chunks. A book not held whole
// (a head ahead of the pages, a fork), or past the answer's maxHeldBytes
// (sent counts them), is left out: the task is still sent.
func (m *Messenger) sendHeld(ctx context.Context, c *conn, w wire, in *journal.Book, sent *int) error {
	head, pages, err := heldPages(ctx, in, maxHeldBytes-*sent)
	if err != nil {
		return err
	}
	if pages != nil {
		if w.Head, err = journal.Marshal(head); err != nil {
			return err
		}
	}
	start, size := 0, 0
	for i, p := range pages {
		*sent += len(p)
		if i > start && (size+base64.StdEncoding.EncodedLen(len(p)) > heldChunk || i-start == maxHeldPages) {
			w.Start, w.Pages = uint64(start), pages[start:i]
			if err := m.send(ctx, c, w); err != nil {
				return err
			}
			w = wire{Type: wireHeld, Task: w.Task}
			start, size = i, 0
		}
		size += base64.StdEncoding.EncodedLen(len(p))
	}
	w.Start, w.Pages = uint64(start), pages[start:]
	return m.send(ctx, c, w)
}

// heldPages returns the head of a member's book to this profile and every
// page up to it, if it holds them all (from 0, not forked) in at most
// budget bytes; else no pages.
func heldPages(ctx context.Context, in *journal.Book, budget int) (journal.Head, [][]byte, error) {
	if in == nil {
		return journal.Head{}, nil, nil
	}
	info := in.Info()
	n := info.Head.Length
	if !info.Verified || info.Forked || n == 0 || len(info.Have) == 0 || info.Have[0].Start != 0 || info.Have[0].End < n {
		return journal.Head{}, nil, nil
	}
	var pages [][]byte
	for i := uint64(0); i < n; i += 256 {
		got, err := in.GetRange(ctx, i, min(i+256, n))
		if err != nil {
			return journal.Head{}, nil, err
		}
		for _, p := range got {
			if budget -= len(p); budget < 0 {
				return journal.Head{}, nil, nil
			}
		}
		pages = append(pages, got...)
	}
	return info.Head, pages, nil
}

// heldAnswer is a restore answer being received on a port (the room
// reader's).
type heldAnswer struct {
	tasks []*heldTask
	bytes int
	err   error // the first bound broken: the answer is refused at its end
}

// heldTask is one task of an answer.
type heldTask struct {
	w     wire // the first held message, pages taken out
	pages [][]byte
}

// onHeld takes one held message of the answer the port's peer sends.
func (m *Messenger) onHeld(c *conn, w wire) {
	if !c.restoreAsked {
		return
	}
	if c.held == nil {
		c.held = &heldAnswer{}
	}
	a := c.held
	if a.err != nil {
		return
	}
	var last *heldTask
	if len(a.tasks) > 0 {
		last = a.tasks[len(a.tasks)-1]
	}
	switch {
	case w.Start == 0:
		if len(a.tasks) >= maxHeldTasks {
			m.dropHeld(c, fmt.Errorf("%w: more than %d tasks", ErrBadRestore, maxHeldTasks))
			return
		}
		last = &heldTask{w: w}
		last.w.Pages = nil
		a.tasks = append(a.tasks, last)
	case last == nil || last.w.Task != w.Task || w.Start != uint64(len(last.pages)) || w.Head != nil:
		m.dropHeld(c, fmt.Errorf("%w: pages out of order", ErrBadRestore))
		return
	}
	n := 0
	for _, p := range w.Pages {
		n += len(p)
	}
	m.mu.Lock()
	switch {
	case a.bytes+n > maxHeldBytes:
		a.err = fmt.Errorf("%w: more than %d bytes", ErrBadRestore, maxHeldBytes)
	case m.restore.inflight+n > maxHeldInflight:
		a.err = fmt.Errorf("%w: more than %d bytes of answers at once (asked again on its next port)", ErrBadRestore, maxHeldInflight)
	default:
		a.bytes += n
		m.restore.inflight += n
	}
	m.mu.Unlock()
	if a.err != nil {
		m.dropHeld(c, a.err)
		return
	}
	last.pages = append(last.pages, w.Pages...)
}

// dropHeld lets go of the pages of the answer being received on c,
// keeping err (nil: none) for when it ends. The room reader calls it, and
// so does the reader's end.
func (m *Messenger) dropHeld(c *conn, err error) {
	if c.held == nil {
		return
	}
	m.mu.Lock()
	m.restore.inflight -= c.held.bytes
	m.mu.Unlock()
	c.held = &heldAnswer{err: err}
	if err == nil {
		c.held = nil
	}
}

// onRestored takes a complete answer: verified, then imported; refused
// whole (with the reason, as an EventRestore "refused") if any of it fails.
func (m *Messenger) onRestored(ctx context.Context, c *conn) {
	if !c.restoreAsked {
		return
	}
	a := c.held
	if a == nil {
		a = &heldAnswer{}
	}
	err := a.err
	if err == nil {
		err = m.takeHeld(ctx, c.peer, a.tasks)
	}
	m.dropHeld(c, nil)

	if err != nil {
		m.log.Warn("room: restore answer refused", "peer", c.peer.Short(), "err", err)
		m.mu.Lock()
		st := m.restoreStatusLocked()
		m.mu.Unlock()
		m.emit(Event{Type: EventRestore, Peer: c.peer, State: "refused", Err: err, Restore: &st})
		return
	}
	// A pair the answer left incomplete (the member had no book of this
	// profile's) is asked for now, as on a new port.
	m.pairAll(c)
}

// verifiedHeld is a task of an answer, checked: its book of this profile
// (nil if the member sent none) and the messages of the log it carries.
type verifiedHeld struct {
	w    wire
	book *journal.ExportBook
	log  [][]byte // pages 1… of the log, as copied from the book (to cleared)
}

// heldSecrets are the task secrets a held answer gives, to open this
// profile's pages in the member's copy with.
func heldSecrets(w wire) secrets {
	out := make(secrets, len(w.Epochs)+1)
	if len(w.TaskSecret) == seal.KeySize {
		out[0] = w.TaskSecret
	}
	for _, e := range w.Epochs {
		out[e.Epoch] = e.Secret
	}
	return out
}

// checkHeld verifies one task of peer's answer without writing anything:
// the head signed by the book key this profile's seed derives for
// "${self}-${peer}-${task}", every page proven against it, the genesis
// authored by this profile under that name, and each message this
// profile's, addressed to peer.
func (m *Messenger) checkHeld(peer identity.ID, h *heldTask) (*verifiedHeld, error) {
	w := h.w
	name := pairName(m.self, peer, w.Task)
	switch {
	case !w.Key.IsZero() && w.Key.Check() != nil:
		return nil, errors.New("the member's book key is not a valid key")
	case w.Key == m.db.BookKey(name):
		return nil, errors.New("the member's book key is this profile's own book")
	case w.Host.IsZero():
		return nil, errors.New("no host")
	}
	if _, err := checkTitle(w.Title); err != nil {
		return nil, err
	}
	v := &verifiedHeld{w: w}
	if w.Head == nil {
		if len(h.pages) > 0 {
			return nil, errors.New("pages without a head")
		}
		return v, nil
	}
	head, err := journal.DecodeHead(w.Head)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	switch {
	case head.Key != m.db.BookKey(name):
		return nil, fmt.Errorf("the head is not of your book %q", name)
	case head.Length == 0 || uint64(len(h.pages)) != head.Length:
		return nil, fmt.Errorf("a head of %d pages with %d pages", head.Length, len(h.pages))
	}
	if _, err := journal.VerifyRange(&head, 0, h.pages, &journal.RangeProof{}); err != nil {
		return nil, err
	}
	g, err := journal.DecodeGenesis(h.pages[0])
	if err != nil {
		return nil, err
	}
	if g.Author != m.self || g.Key != head.Key || g.Name != name {
		return nil, fmt.Errorf("the genesis is not yours: by %s, named %q", g.Author.Short(), clip(g.Name))
	}
	ps := pageSeal{book: head.Key, secrets: heldSecrets(w), cache: &m.keys}
	for i, p := range h.pages[1:] {
		msg, err := ps.decode(p, m.self, uint64(i+1), uint64(i+1))
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i+1, err)
		}
		if msg.Head.To != peer {
			return nil, fmt.Errorf("page %d is addressed to %s", i+1, msg.Head.To.Short())
		}
		msg.Head.To = identity.ID{}
		b, err := msg.Encode()
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i+1, err)
		}
		v.log = append(v.log, b)
	}
	v.book = &journal.ExportBook{Key: head.Key, Name: name, Author: m.self, Head: w.Head, Pages: h.pages}
	return v, nil
}

// takeHeld verifies peer's whole answer, imports its books in one write
// (journal.DB.Import: all or nothing), then rebuilds each task: its
// record, its log (from the longest of its books), the member and its
// book to this profile, followed from then on.
func (m *Messenger) takeHeld(ctx context.Context, peer identity.ID, held []*heldTask) error {
	m.restore.take.Lock()
	defer m.restore.take.Unlock()
	vs := make([]*verifiedHeld, 0, len(held))
	seen := make(map[TaskID]bool, len(held))
	ex := &journal.Export{Format: journal.ExportFormat, Version: 1, Profile: m.self, Date: m.cfg.Now().UnixMilli()}
	for _, h := range held {
		if seen[h.w.Task] {
			return fmt.Errorf("%w from %s: task %s twice", ErrBadRestore, peer.Short(), h.w.Task)
		}
		seen[h.w.Task] = true
		v, err := m.checkHeld(peer, h)
		if err != nil {
			return fmt.Errorf("%w from %s: task %s: %w", ErrBadRestore, peer.Short(), h.w.Task, err)
		}
		vs = append(vs, v)
		if v.book != nil {
			ex.Books = append(ex.Books, *v.book)
		}
	}
	if len(ex.Books) > 0 {
		if _, err := m.db.Import(ctx, ex); err != nil {
			return fmt.Errorf("%w from %s: %w", ErrBadRestore, peer.Short(), err)
		}
	}
	var messages uint64
	for _, v := range vs {
		n, err := m.rebuild(ctx, peer, v)
		if err != nil {
			return fmt.Errorf("room: restore task %s from %s: %w", v.w.Task, peer.Short(), err)
		}
		messages += n
	}
	m.mu.Lock()
	rs := m.restore
	rs.answered[peer] = true
	rs.expected[peer] = true
	for _, v := range vs {
		rs.tasks[v.w.Task] = true
		if v.book != nil {
			rs.books++
		}
		for _, id := range v.w.Members {
			if id != m.self && id.Check() == nil && len(rs.expected) < MaxMembers*4 {
				rs.expected[id] = true
			}
		}
	}
	rs.messages += messages
	st := m.restoreStatusLocked()
	m.mu.Unlock()
	m.log.Info("room: restore answer taken", "peer", peer.Short(), "tasks", len(vs), "books", len(ex.Books))
	m.emit(Event{Type: EventRestore, Peer: peer, State: "answered", Restore: &st})
	if st.Active && st.Tasks > 0 && len(st.Waiting) == 0 {
		return m.finishRestore(ctx, "every member answered")
	}
	return nil
}

// rebuild makes one verified task of an answer this profile's again: the
// task's record and log (extended to the book's messages), then the pair
// with peer. It returns how many messages the log gained.
func (m *Messenger) rebuild(ctx context.Context, peer identity.ID, v *verifiedHeld) (uint64, error) {
	t, created, err := m.ensureTask(ctx, v.w.Task, v.w.Title, v.w.Parent, v.w.Host, v.w.Creator, v.w.TaskSecret)
	if err != nil {
		return 0, err
	}
	if err := m.learnEpochs(ctx, t, v.w.Epochs); err != nil {
		return 0, err
	}
	var added uint64
	t.wmu.Lock()
	if have := t.log.Len(); uint64(len(v.log))+1 > have {
		pages := v.log[have-1:]
		for len(pages) > 0 {
			n := min(len(pages), MaxBatch)
			if _, err := t.log.Append(ctx, pages[:n]...); err != nil {
				t.wmu.Unlock()
				return added, err
			}
			pages, added = pages[n:], added+uint64(n)
		}
		clock := lastClock(ctx, m.logSource(t.log))
		m.mu.Lock()
		t.raiseLocked(m.self, min(clock, MaxClock))
		m.mu.Unlock()
	}
	t.wmu.Unlock()
	if !v.w.Key.IsZero() {
		if _, err := m.ensurePair(ctx, t, peer, v.w.Key, identity.ID{}); err != nil {
			return added, err
		}
	} else if _, _, err := m.admit(ctx, t, peer, identity.ID{}); err != nil {
		return added, err
	}
	m.seen(t, peer, 0, v.w.Clock)
	if created || added > 0 {
		m.emit(Event{Type: EventTask, Task: t.id})
	}
	return added, nil
}

// checkHeldWire checks the bounds of a restore message, and that no other
// message carries a held's fields (decodeWire).
func checkHeldWire(w *wire) error {
	held := w.Type == wireHeld
	restore := held || w.Type == wireRestore || w.Type == wireRestored
	switch {
	case !held && (w.Head != nil || w.Pages != nil || !w.Host.IsZero()):
		return fmt.Errorf("%w: a %s with the pages of a held", ErrBadRestore, clip(w.Type))
	case restore && !held && (!w.Key.IsZero() || w.Title != "" || len(w.Members) > 0):
		return fmt.Errorf("%w: a %s with fields of a held", ErrBadRestore, w.Type)
	case len(w.Head) > maxCopyHead:
		return fmt.Errorf("%w: a head of %d bytes", ErrBadRestore, len(w.Head))
	case len(w.Pages) > maxHeldPages:
		return fmt.Errorf("%w: %d pages in one message, at most %d", ErrBadRestore, len(w.Pages), maxHeldPages)
	case held && w.Start == 0 && w.Host.IsZero():
		return fmt.Errorf("%w: a task without its host", ErrBadRestore)
	}
	for _, p := range w.Pages {
		if len(p) == 0 || len(p) > maxHeldPage {
			return fmt.Errorf("%w: a page of %d bytes", ErrBadRestore, len(p))
		}
	}
	return nil
}
