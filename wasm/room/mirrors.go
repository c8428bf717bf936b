package room

import (
	"slices"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// Mirrors (issue #13). A profile keeps a port open to each mirror of
// Config.Mirrors (relay/mirror) and runs replication on it: it pins every
// book it writes to a member (Session.Share: the mirror takes a book only
// from its author) and follows through the mirror every member's book it
// reads (replication version 2's FollowVia). So a member that is offline
// gets this profile's new messages from the mirror when it comes online,
// and this profile gets the messages members wrote while it was away,
// verified as from their authors: the mirror can neither forge nor hide a
// page without being refused. The mirror's port carries replication and
// the mirror's signed receipts of what it holds (vouch.go): the room
// protocol is between members.

// isMirror reports whether peer is one of Config.Mirrors.
func (m *Messenger) isMirror(peer identity.ID) bool {
	return slices.Contains(m.cfg.Mirrors, peer)
}

// startMirrors starts a loop per mirror that keeps a session to it.
func (m *Messenger) startMirrors() {
	for _, id := range m.cfg.Mirrors {
		if id == m.self {
			continue
		}
		m.wg.Add(1)
		go m.mirrorLoop(id)
	}
}

// mirrorLoop keeps a replication session with a mirror, dialling again
// after a failure or a drop, backing off like the members' dial loops.
func (m *Messenger) mirrorLoop(id identity.ID) {
	defer m.wg.Done()
	wait := m.cfg.Retry
	for m.ctx.Err() == nil {
		start := time.Now()
		if err := m.mirrorSession(id); err != nil && m.ctx.Err() == nil {
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
func (m *Messenger) mirrorSession(id identity.ID) error {
	p, err := m.cfg.Dial(m.ctx, id)
	if err != nil {
		return err
	}
	mux := port.NewMux(p, port.ChannelSync, port.ChannelHeld)
	defer mux.Close()
	m.wg.Add(1)
	go m.readHeld(id, mux.Channel(port.ChannelHeld)) // ends as the port closes
	cfg := m.cfg.Sync
	cfg.Accept = func(identity.ID) bool { return false } // a mirror announces nothing
	cfg.FollowVia = func(book, holder identity.ID) bool { return holder == id && m.reads(book) }
	cfg.OnFork = nil // a fork is told by the member who reads the book
	sess := replication.NewSession(m.db, mux.Channel(port.ChannelSync), cfg)
	for _, b := range m.pinned() {
		sess.Share(b)
	}
	m.mu.Lock()
	m.mirrors[id] = sess
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.mirrors[id] == sess {
			delete(m.mirrors, id)
		}
		m.mu.Unlock()
	}()
	return sess.Run(m.ctx)
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

// pin offers a new book to the mirrors this profile has a session with.
func (m *Messenger) pin(b *journal.Book) {
	m.mu.Lock()
	sessions := make([]*replication.Session, 0, len(m.mirrors))
	for _, s := range m.mirrors {
		sessions = append(sessions, s)
	}
	m.mu.Unlock()
	for _, s := range sessions {
		s.Share(b)
	}
}
