package devtools

import (
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// connected registers a peer's new connection (replacing an older one)
// and returns its welcome: the verified length of each book it authors.
func (s *Server) connected(c *conn, h *report.Hello, at int64) (*report.Welcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[h.ID]
	if p == nil {
		if len(s.peers) >= s.cfg.MaxPeers && !s.evictPeer() {
			return nil, &closeError{code: 1013, reason: "too many peers"}
		}
		p = &peer{id: h.ID, copies: make(map[identity.ID]*copyState)}
		s.peers[h.ID] = p
	}
	if p.conn != nil {
		p.conn.cancel(errReplaced)
	}
	now := s.cfg.Now()
	p.conn, p.alias, p.agent, p.since, p.seen, p.closed = c, h.Alias, h.Agent, now, now, ""
	p.sessions++
	w := &report.Welcome{Books: []report.Known{}}
	for key, cp := range p.copies {
		cp.status, cp.problem = StatusUnverified, "" // the new session reports anew
		if b := s.books[key]; b != nil && b.author == h.ID && !b.cur.IsZero() && b.forkNote == "" {
			w.Books = append(w.Books, report.Known{Key: key, Length: b.verifiedPages(), Head: b.cur.Length})
		}
	}
	s.event(p, nil, &Event{Kind: "connect", PeerAt: at, Text: h.Alias})
	s.feed.publish(feedMsg{Type: "peer", ID: h.ID})
	return w, nil
}

// verifiedPages is how far the peer need not send pages again: the
// verified head's length once its last page is verified (in the tree, or
// retained verified by its range proof), else the verified tree's length.
// A head alone (its pages lost with the connection) is not enough: the
// pages would never be sent again.
func (b *book) verifiedPages() uint64 {
	n := b.cur.Length
	if n <= uint64(b.tree.n) {
		return n
	}
	if pg, ok := b.pages.Get(n - 1); ok && pg.status == StatusVerified {
		return n
	}
	return uint64(b.tree.n)
}

// evictPeer forgets the offline peer seen longest ago, if any.
func (s *Server) evictPeer() bool {
	var old *peer
	for _, p := range s.peers {
		if p.conn == nil && (old == nil || p.seen.Before(old.seen)) {
			old = p
		}
	}
	if old == nil {
		return false
	}
	for key := range old.copies {
		if b := s.books[key]; b != nil {
			delete(b.copies, old.id)
		}
	}
	delete(s.peers, old.id)
	return true
}

// disconnected marks the peer offline, if c is still its connection.
func (s *Server) disconnected(c *conn, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[c.id]
	if p == nil || p.conn != c {
		return
	}
	p.conn = nil
	p.seen = s.cfg.Now()
	p.closed = cause.Error()
	s.event(p, nil, &Event{Kind: "disconnect", Text: p.closed})
	s.feed.publish(feedMsg{Type: "peer", ID: c.id})
	c.log.Info("devtools: peer disconnected", "cause", cause)
}

// reject counts a frame the server refused, on the peer's timeline.
func (s *Server) reject(c *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Rejected++
	if p := s.peers[c.id]; p != nil {
		s.event(p, nil, &Event{Kind: "error", Type: "rejected", Text: err.Error()})
	}
	c.log.Warn("devtools: bad frame", "err", err)
}

// ingest takes one frame from a welcomed peer. It fails only on frames the
// protocol forbids; what fails verification is recorded, not refused.
func (s *Server) ingest(c *conn, f *report.Frame) error {
	switch body := f.Body.(type) {
	case *report.Result:
		c.result(body)
		return nil
	case *report.Book:
		ck := check(body, f.At)
		return s.fromPeer(c, f, func(p *peer) { s.applyBook(p, ck) })
	case *report.Books:
		cks := make([]*checked, len(body.Books))
		for i := range body.Books {
			cks[i] = checkInfo(&body.Books[i], f.At)
		}
		return s.fromPeer(c, f, func(p *peer) {
			if c.listed == nil {
				c.listed = make(map[identity.ID]bool)
			}
			for i, ck := range cks {
				c.listed[body.Books[i].Key] = true
				s.applyInfo(p, &body.Books[i], ck)
			}
			if body.Done {
				s.forgetUnlisted(p, c.listed)
				c.listed = nil
			}
		})
	case *report.Sync, *report.Port, *report.App, *report.Error, *report.Dropped:
		return s.fromPeer(c, f, func(p *peer) { s.ioEvent(p, f) })
	}
	return fmt.Errorf("%w: %s frame from a peer", report.ErrBadFrame, f.Type)
}

// frameFrom counts a frame in and returns its peer, or nil if c is a
// replaced connection whose peer was forgotten since. Called with s.mu held.
// fromPeer runs fn, with s.mu held, on the peer a frame came from, or
// returns errGone if that peer is gone.
func (s *Server) fromPeer(c *conn, f *report.Frame, fn func(p *peer)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.frameFrom(c, f)
	if p == nil {
		return errGone
	}
	fn(p)
	return nil
}

func (s *Server) frameFrom(c *conn, f *report.Frame) *peer {
	s.stats.Frames++
	p := s.peers[c.id]
	if p != nil {
		p.seen = s.cfg.Now()
		p.lastFrame = f.At
	}
	return p
}

// forgetUnlisted drops p's copies of books its books frames did not list:
// it no longer has them (a reset, say).
func (s *Server) forgetUnlisted(p *peer, listed map[identity.ID]bool) {
	for key := range p.copies {
		if !listed[key] {
			delete(p.copies, key)
			if b := s.books[key]; b != nil {
				delete(b.copies, p.id)
				s.feed.publish(feedMsg{Type: "book", Key: key})
			}
		}
	}
}

// ioEvent records a sync, port, app, error or dropped frame.
func (s *Server) ioEvent(p *peer, f *report.Frame) {
	ev := &Event{PeerAt: f.At, Kind: string(f.Type)}
	var b *book
	switch v := f.Body.(type) {
	case *report.Sync:
		ev.Type, ev.Remote, ev.Send, ev.Book = v.Type, v.Peer, v.Send, v.Book
		ev.Start, ev.End, ev.Bytes, ev.Pages, ev.Hashes = v.Start, v.End, v.Bytes, v.Pages, v.Hashes
		b = s.books[v.Book]
	case *report.Port:
		ev.Remote, ev.Open, ev.Transport = v.Peer, v.Open, v.Transport
		ev.Type = "close"
		if v.Open {
			ev.Type = "open"
		}
	case *report.App:
		ev.Type, ev.Remote, ev.Send, ev.Bytes = v.Type, v.Peer, v.Send, v.Bytes
	case *report.Error:
		ev.Text = v.Text
	case *report.Dropped:
		p.dropped = v.Total
		ev.Text = fmt.Sprintf("the peer's queue dropped %d events (%d in all)", v.Count, v.Total)
	}
	s.event(p, b, ev)
}

// event numbers ev and keeps it with its book, or its peer, and publishes
// it on the feed. Called with s.mu held.
func (s *Server) event(p *peer, b *book, ev *Event) {
	s.seq++
	ev.Seq, ev.At, ev.Peer = s.seq, s.cfg.Now().UnixMilli(), p.id
	if b != nil {
		b.events.push(ev, s.cfg.RetainEvents)
	} else {
		p.events.push(ev, s.cfg.RetainEvents)
	}
	s.feed.publish(feedMsg{Type: "event", Event: ev})
}

// bookFor returns the book of key, creating it within MaxBooks.
func (s *Server) bookFor(key identity.ID) *book {
	b := s.books[key]
	if b == nil && len(s.books) < s.cfg.MaxBooks {
		b = &book{key: key, copies: make(map[identity.ID]*copyState)}
		s.books[key] = b
	}
	return b
}

// copyOf returns p's copy of b.
func copyOf(p *peer, b *book) *copyState {
	cp := p.copies[b.key]
	if cp == nil {
		cp = &copyState{peer: p.id, role: roleReader, status: StatusUnverified}
		p.copies[b.key] = cp
		b.copies[p.id] = cp
	}
	return cp
}

// checkInfo checks a book of a books frame as a frame with its head.
func checkInfo(bi *report.BookInfo, at int64) *checked {
	c := check(&report.Book{Key: bi.Key, Event: "backfill", Writable: bi.Writable, Head: bi.Head}, at)
	if len(bi.Genesis) > 0 {
		c.genesis, c.genErr = decodeGenesis(bi.Genesis, c.f)
	}
	return c
}

// applyInfo records a book of a books frame.
func (s *Server) applyInfo(p *peer, bi *report.BookInfo, c *checked) {
	b := s.bookFor(bi.Key)
	if b == nil {
		s.event(p, nil, &Event{Kind: "error", Type: "limit", Book: bi.Key, Text: "book limit reached"})
		return
	}
	cp := copyOf(p, b)
	cp.have = nil
	for _, r := range bi.Have {
		cp.have = cp.have.Add(r[0], r[1])
	}
	if bi.Forked {
		cp.problem = "the peer holds fork evidence for this book"
	}
	s.applyChecked(p, b, cp, c)
}

// applyBook records a book frame.
func (s *Server) applyBook(p *peer, c *checked) {
	f := c.f
	b := s.bookFor(f.Key)
	if b == nil {
		s.event(p, nil, &Event{Kind: "error", Type: "limit", Book: f.Key, Text: "book limit reached"})
		return
	}
	cp := copyOf(p, b)
	s.stats.Pages += uint64(len(f.Pages))
	switch journal.EventType(f.Event) {
	case journal.EventFork:
		ev := &Event{PeerAt: c.at, Kind: "book", Type: f.Event}
		if c.fork != nil {
			s.setFork(b, c.fork, fmt.Sprintf("%s reported fork evidence: heads %d and %d", p.id.Short(), c.fork.Old.Length, c.fork.New.Length))
			cp.status = StatusForked
		} else {
			s.problem(b, cp, p, 0, fmt.Errorf("fork evidence: %v", c.err))
		}
		ev.Status = cp.status
		s.event(p, b, ev)
		return
	case journal.EventFollow:
		cp.role = roleReader
		s.event(p, b, &Event{PeerAt: c.at, Kind: "book", Type: f.Event, Remote: f.Peer, Status: cp.status})
		return
	}
	s.applyChecked(p, b, cp, c)
}
