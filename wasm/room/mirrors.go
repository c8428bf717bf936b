package room

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	mirrorheld "github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// Mirrors (issue #13). A profile keeps a port open to each mirror of
// Config.Mirrors (relay/mirror) and runs replication on it: it follows
// through every mirror every member's book it reads (replication version
// 2's FollowVia), and pins every book it writes to a member to MaxPinned
// of them, the first of mirrorheld.Rank(self, mirrors) that are up
// (Session.Share: the mirror takes a book only from its author).
// So a member that is offline gets this profile's new messages from a
// mirror when it comes online, and this profile gets the messages members
// wrote while it was away, verified as from their authors: a mirror can
// neither forge nor change a page without being refused. The mirror's port
// carries replication and the mirror's signed receipts of what it holds
// (vouch.go): the room protocol is between members.
//
// Health (MirrorStatus, EventMirror): a mirror is online while a session
// with it is up, and gone once it has been unreachable for mirrorGrace
// (Dial waits while a peer is offline, so a mirror that is gone is never
// an error: only its status says so). A mirror that serves a copy failing
// verification (a tampered page or head: journal.VerifyError) ends its
// session; the book is then not followed through that mirror for
// mirrorRefusal, and EventMirror "refused" says why. Any other failure (a
// protocol violation, a drop) only ends the session, dialled again with a
// back-off. The other mirrors, and the author when online, go on serving
// the book meanwhile (a mirror that withholds a book only delays it).

// MaxPinned is how many mirrors a profile pins its books to: "two when
// there are two", as blind peers do. Readers follow books through every
// mirror listed, so two copies survive one mirror going away.
const MaxPinned = 2

// EventMirror: a mirror's health changed (Peer is the mirror). State:
// "online", "offline" (its session ended), "gone" (unreachable for a
// while: it is skipped for pins), "refused" (it served a copy of a book
// of Task that failed verification; Err says why: that book is not read
// through it for a while). See MirrorStatus.
const EventMirror EventType = "mirror"

// mirrorRefusal is how long a book whose copy a mirror served bad data is
// not followed through that mirror (and that mirror not pinned to).
const mirrorRefusal = 10 * time.Minute

// MirrorInfo is the health of one mirror of Config.Mirrors.
type MirrorInfo struct {
	ID     identity.ID `json:"id"`
	Online bool        `json:"online"` // a session with it is up
	Gone   bool        `json:"gone"`   // unreachable for a while: skipped for pins
	// Pinning: one of the MaxPinned mirrors this profile pins its books
	// to; Pinned counts the books given to its live session.
	Pinning bool   `json:"pinning"`
	Pinned  int    `json:"pinned"`
	Err     string `json:"error,omitempty"` // why its last session failed, if it did
	// Refused are the books not followed through it for a while, because
	// it served a copy that failed verification.
	Refused []MirrorRefusal `json:"refused,omitempty"`
}

// MirrorRefusal is a book a mirror served bad data of.
type MirrorRefusal struct {
	Book   identity.ID `json:"book"`
	Task   TaskID      `json:"task"`   // the task of the book, if this profile still reads it
	Author identity.ID `json:"author"` // the member who wrote the book
	Reason string      `json:"reason"`
	Until  time.Time   `json:"until"` // the book is followed through the mirror again after
}

// mirrorState is what the messenger keeps of a mirror. Guarded by
// Messenger.mu.
type mirrorState struct {
	sess    *replication.Session // the live session; nil while offline
	held    port.Port            // its port's held channel, once this device introduced itself (devices)
	shared  bool                 // sess was given the pinned books
	pinning bool                 // a pin target (repin)
	gone    bool                 // unreachable for mirrorGrace
	lastErr string
	refused map[identity.ID]*MirrorRefusal // by book
}

// refusing reports whether the mirror is refused anything at now: it is
// then no pin target (a mirror that serves bad data is no place to keep
// this profile's books either).
func (st *mirrorState) refusing(now time.Time) bool {
	for _, r := range st.refused {
		if now.Before(r.Until) {
			return true
		}
	}
	return false
}

// isMirror reports whether peer is one of Config.Mirrors.
func (m *Messenger) isMirror(peer identity.ID) bool {
	return slices.Contains(m.cfg.Mirrors, peer)
}

// mirrorIDs returns Config.Mirrors in order, without repeats nor this
// profile.
func (m *Messenger) mirrorIDs() []identity.ID {
	out := make([]identity.ID, 0, len(m.cfg.Mirrors))
	for _, id := range m.cfg.Mirrors {
		if id != m.self && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// mirrorGrace is how long a mirror may be unreachable before it is gone
// and the next one listed takes its pins: the members' longest dial
// back-off (10 s by default).
func (m *Messenger) mirrorGrace() time.Duration { return maxRetries * m.cfg.Retry }

// startMirrors starts a loop per mirror that keeps a session to it.
func (m *Messenger) startMirrors() {
	ids := m.mirrorIDs()
	m.mu.Lock()
	for _, id := range ids {
		m.mirrors[id] = &mirrorState{refused: make(map[identity.ID]*MirrorRefusal)}
	}
	m.repinLocked()
	m.mu.Unlock()
	for _, id := range ids {
		m.wg.Add(1)
		go m.mirrorLoop(id)
	}
}

// mirrorLoop keeps a replication session with a mirror, dialling again
// after a failure or a drop, backing off like the members' dial loops. The
// mirror is gone once it has not been reached for mirrorGrace: from the
// start, or since its last session ended.
func (m *Messenger) mirrorLoop(id identity.ID) {
	defer m.wg.Done()
	gone := time.AfterFunc(m.mirrorGrace(), func() { m.mirrorGone(id) })
	defer gone.Stop()
	wait := m.cfg.Retry
	for m.ctx.Err() == nil {
		start := time.Now()
		reached, err := m.mirrorSession(id, gone)
		if reached {
			gone.Reset(m.mirrorGrace())
		}
		if err != nil && m.ctx.Err() == nil {
			m.log.Debug("room: mirror", "mirror", id.Short(), "err", err)
		}
		if time.Since(start) >= maxRetries*m.cfg.Retry {
			wait = m.cfg.Retry
		}
		select {
		case <-m.ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, maxRetries*m.cfg.Retry)
	}
}

// mirrorSession runs one session with a mirror until its port closes.
// reached: the mirror was reached (gone is stopped then).
func (m *Messenger) mirrorSession(id identity.ID, gone *time.Timer) (reached bool, err error) {
	p, err := m.cfg.Dial(m.ctx, id)
	if err != nil {
		return false, err
	}
	gone.Stop()
	mux := port.NewMux(p, port.ChannelSync, port.ChannelHeld)
	defer mux.Close()
	m.wg.Add(1)
	go m.readHeld(id, mux.Channel(port.ChannelHeld)) // ends as the port closes
	if err := m.introduce(id, mux.Channel(port.ChannelHeld)); err != nil {
		return true, err
	}
	cfg := m.cfg.Sync
	cfg.Accept = func(identity.ID) bool { return false } // a mirror announces nothing
	cfg.FollowVia = func(book, holder identity.ID) bool {
		return holder == id && m.reads(book) && !m.refusedVia(id, book)
	}
	cfg.OnFork = nil // a fork is told by the member who reads the book
	sess := replication.NewSession(m.db, mux.Channel(port.ChannelSync), cfg)
	m.mirrorUp(id, sess)
	err = sess.Run(m.ctx)
	m.mirrorDown(id, sess, err)
	return true, err
}

// mirrorUp records a mirror's new session and pins to it if it is a
// target.
func (m *Messenger) mirrorUp(id identity.ID, sess *replication.Session) {
	m.mu.Lock()
	st := m.mirrors[id]
	st.sess, st.shared, st.gone, st.lastErr = sess, false, false, ""
	share := m.repinLocked()
	m.mu.Unlock()
	m.share(share)
	m.emit(Event{Type: EventMirror, Peer: id, State: "online"})
}

// mirrorDown records the end of a mirror's session: a copy that failed
// verification refuses that book through the mirror for a while.
func (m *Messenger) mirrorDown(id identity.ID, sess *replication.Session, err error) {
	now := time.Now()
	var ve *journal.VerifyError
	var refusal *MirrorRefusal
	m.mu.Lock()
	st := m.mirrors[id]
	if st.sess == sess {
		st.sess, st.shared, st.held = nil, false, nil
	}
	if m.ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	if err != nil {
		st.lastErr = err.Error()
	}
	if errors.As(err, &ve) {
		refusal = &MirrorRefusal{Book: ve.Book, Reason: "it served a copy that failed verification: " + err.Error(), Until: now.Add(mirrorRefusal)}
		if ref, ok := m.replica[ve.Book]; ok {
			refusal.Task, refusal.Author = ref.task, ref.peer
		}
		st.refused[ve.Book] = refusal
	}
	share := m.repinLocked()
	m.mu.Unlock()
	m.share(share)
	if refusal != nil {
		time.AfterFunc(mirrorRefusal, m.repin) // the mirror may be a pin target again
		m.log.Warn("room: a mirror served a copy that failed verification: that book is not read through it for a while",
			"mirror", id.Short(), "book", ve.Book.Short(), "until", refusal.Until, "err", err)
		m.emit(Event{Type: EventMirror, Peer: id, Task: refusal.Task, State: "refused", Err: err})
		return
	}
	if err != nil {
		m.log.Warn("room: a mirror's session failed", "mirror", id.Short(), "err", err)
	}
	m.emit(Event{Type: EventMirror, Peer: id, State: "offline", Err: err})
}

// mirrorGone marks a mirror unreachable for mirrorGrace: the next one
// ranked takes its pins.
func (m *Messenger) mirrorGone(id identity.ID) {
	m.mu.Lock()
	st := m.mirrors[id]
	if st == nil || st.sess != nil || st.gone || m.closed {
		m.mu.Unlock()
		return
	}
	st.gone = true
	share := m.repinLocked()
	m.mu.Unlock()
	m.share(share)
	m.emit(Event{Type: EventMirror, Peer: id, State: "gone"})
}

// repinLocked chooses the pin targets: the first MaxPinned mirrors of
// mirrorheld.Rank(self, Config.Mirrors) that are neither gone nor
// refusing. The rank depends only on this profile's id and the mirrors,
// not on the list's order, and is the one the mirrors re-pin by
// (relay/mirror: a set of mirrors keeps each author's books on the first
// R of the same rank over the live mirrors), so a book lands on the
// mirrors that keep it whichever connects first (a mirror not reached yet
// is waited for, mirrorGrace, before it is skipped); and a mirror gone or
// serving bad data does not leave this profile's new pages on fewer than
// MaxPinned while another one is up. It returns the live sessions of new
// targets, for share. A mirror that stops being a target keeps what its
// live session was given (replication cannot take a pin back) but gets
// no new book. Called with mu held.
func (m *Messenger) repinLocked() []*replication.Session {
	now := time.Now()
	var share []*replication.Session
	n := 0
	for _, id := range mirrorheld.Rank(m.self, m.mirrorIDs()) {
		st := m.mirrors[id]
		st.pinning = n < MaxPinned && !st.gone && !st.refusing(now)
		if !st.pinning {
			st.shared = false
			continue
		}
		n++
		if st.sess != nil && !st.shared {
			st.shared = true
			share = append(share, st.sess)
		}
	}
	return share
}

// repin chooses the pin targets again, once a refusal ran out.
func (m *Messenger) repin() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	share := m.repinLocked()
	m.mu.Unlock()
	m.share(share)
}

// share gives sessions every book this profile pins.
func (m *Messenger) share(sessions []*replication.Session) {
	if len(sessions) == 0 {
		return
	}
	books := m.pinned()
	for _, s := range sessions {
		for _, b := range books {
			s.Share(b)
		}
	}
}

// refusedVia reports whether book is refused through mirror id.
func (m *Messenger) refusedVia(id, book identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.mirrors[id]
	if st == nil {
		return false
	}
	r, ok := st.refused[book]
	return ok && time.Now().Before(r.Until)
}

// reads reports whether book is a member's book this profile reads.
func (m *Messenger) reads(book identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.replica[book]
	return ok
}

// pinned returns the books this profile writes to members: its books to
// them, successors included.
func (m *Messenger) pinned() []*journal.Book {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pinnedLocked()
}

func (m *Messenger) pinnedLocked() []*journal.Book {
	var out []*journal.Book
	for _, t := range m.tasks {
		for _, mb := range t.members {
			if mb.out != nil {
				out = append(out, mb.out)
			}
		}
	}
	return out
}

// pin offers a new book to the live sessions of the pin targets.
func (m *Messenger) pin(b *journal.Book) {
	m.mu.Lock()
	var sessions []*replication.Session
	for _, st := range m.mirrors {
		if st.pinning && st.sess != nil {
			sessions = append(sessions, st.sess)
		}
	}
	m.mu.Unlock()
	for _, s := range sessions {
		s.Share(b)
	}
}

// MirrorStatus returns the health of each mirror of Config.Mirrors, in
// their order.
func (m *Messenger) MirrorStatus() []MirrorInfo {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.mirrorIDs()
	out := make([]MirrorInfo, 0, len(ids))
	for _, id := range ids {
		st := m.mirrors[id]
		if st == nil {
			continue
		}
		info := MirrorInfo{ID: id, Online: st.sess != nil, Gone: st.gone, Pinning: st.pinning, Err: st.lastErr}
		if st.pinning && st.sess != nil {
			info.Pinned = len(m.pinnedLocked())
		}
		for book, r := range st.refused {
			if !now.Before(r.Until) {
				delete(st.refused, book)
				continue
			}
			info.Refused = append(info.Refused, *r)
		}
		// By book (sort.Slice: one sort in the module for every element type, docs/benchmarks.md "Module size").
		rs := info.Refused
		sort.Slice(rs, func(i, j int) bool { return bytes.Compare(rs[i].Book[:], rs[j].Book[:]) < 0 })
		out = append(out, info)
	}
	return out
}

// Devices (issue #14). On every port to a mirror, before its replication
// session starts, a device that is not its person's first presents its
// certificate (the mirror then serves it the books named for its person,
// and those its siblings wrote), then the latest revocations of its
// person it knows; each revocation it takes later goes to every mirror
// online (tellMirrors). A mirror serves a revoked device nothing and
// takes no more of its pages (relay/mirror).

// maxMirrorRevocations is the most revocations a device tells a mirror on
// a new port: the latest, well within what a mirror takes on one
// (mirrorheld.MaxClientMessages).
const maxMirrorRevocations = mirrorheld.MaxClientMessages / 2

// introduce presents this device to mirror id on ch, a new port's held
// channel: its certificate, then its person's revocations. ch is then kept
// for the revocations taken later.
func (m *Messenger) introduce(id identity.ID, ch port.Port) error {
	if !m.me.IsFirst() {
		if err := ch.Send(m.ctx, mirrorheld.EncodeDevice(m.me)); err != nil {
			return err
		}
	}
	m.mu.Lock()
	if st := m.mirrors[id]; st != nil {
		st.held = ch
	}
	var own []*device.Revocation
	for _, rv := range m.revoked {
		if rv.Person == m.person {
			own = append(own, rv)
		}
	}
	slices.SortFunc(own, func(a, b *device.Revocation) int { return cmpInt64(b.Created, a.Created) })
	var msgs [][]byte
	for _, rv := range own[:min(len(own), maxMirrorRevocations)] {
		if msg := m.mirrorRevokeLocked(rv); msg != nil {
			msgs = append(msgs, msg)
		}
	}
	m.mu.Unlock()
	for _, msg := range msgs {
		if err := ch.Send(m.ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mirrorRevokeLocked is the message telling a mirror of rv, with the
// certificates it needs to verify it; nil when this profile lacks them (a
// mirror closes the port of a revocation it cannot verify). Called with
// m.mu held.
func (m *Messenger) mirrorRevokeLocked(rv *device.Revocation) []byte {
	var by, target *device.Cert
	if rv.By != rv.Person {
		if by = m.certs[rv.By]; by == nil {
			return nil
		}
	}
	if rv.Device != rv.Person {
		target = m.certs[rv.Device]
	}
	if target == nil && rv.By != rv.Person && rv.By != rv.Device {
		return nil
	}
	return mirrorheld.EncodeRevoke(rv, by, target)
}

// tellMirrors sends a revocation this profile took to every mirror
// online, so that they stop serving the revoked device and its books.
func (m *Messenger) tellMirrors(rv *device.Revocation) {
	m.mu.Lock()
	msg := m.mirrorRevokeLocked(rv)
	var chs []port.Port
	for _, st := range m.mirrors {
		if st.held != nil {
			chs = append(chs, st.held)
		}
	}
	if m.closed || msg == nil {
		chs = nil
	}
	m.wg.Add(len(chs))
	m.mu.Unlock()
	for _, ch := range chs {
		go func() {
			defer m.wg.Done()
			if err := ch.Send(m.ctx, msg); err != nil {
				m.log.Debug("room: a revocation not sent to a mirror", "device", rv.Device.Short(), "err", err)
			}
		}()
	}
}
