package replication

import (
	"context"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// writeLoop sends, in this order of priority: control messages (hello,
// want), new heads of own books (have, with small appends pushed), and
// pages the peer asked for (data), one message at a time, round robin over
// books, built only when the port can take it.
func (s *Session) writeLoop(ctx context.Context) error {
	for {
		if err := s.resolveAdds(ctx); err != nil {
			return err
		}
		msg, ev, err := s.next(ctx)
		if err != nil {
			return err
		}
		if msg == nil {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ev.Bytes = len(msg)
		s.sendMu.Lock()
		if s.ended {
			// A bye went: nothing after it. The reader that sent it ends
			// the session with its error.
			s.sendMu.Unlock()
			<-ctx.Done()
			return ctx.Err()
		}
		err = s.port.Send(ctx, msg)
		s.sendMu.Unlock()
		if err != nil {
			return err
		}
		s.event(true, ev)
	}
}

// resolveAdds opens books the DB hook reported as new for this peer.
func (s *Session) resolveAdds(ctx context.Context) error {
	s.mu.Lock()
	s.takeHookedLocked()
	adds := s.adds
	s.adds = nil
	s.mu.Unlock()
	for _, key := range adds {
		b, err := s.db.Get(ctx, key)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if b.Writable() {
			if _, ok := s.own[key]; !ok {
				o := &ownBook{book: b, known: true}
				s.own[key] = o
				s.markDirtyLocked(key, o)
			}
		} else if _, ok := s.reps[key]; !ok {
			r := s.newRep(b)
			r.at, r.told = b.Len(), b.Len()
			s.reps[key] = r
			s.queueLocked(TypeHello, &Hello{Books: []HelloBook{{Prefix: key[:PrefixSize], Length: b.Len()}}}, Event{})
			s.wantLocked(r)
		}
		s.mu.Unlock()
	}
	return s.resolveOthers(ctx)
}

// resolveOthers takes note of replicas of other authors' books followed
// since the session began (version 2): books to serve, if the peer listed
// them already, or to follow through the peer.
func (s *Session) resolveOthers(ctx context.Context) error {
	s.mu.Lock()
	others := s.others
	s.others = nil
	s.mu.Unlock()
	var serve []listedBook
	for _, key := range others {
		b, err := s.db.Get(ctx, key)
		if err != nil {
			return err
		}
		info := b.Info()
		if !s.other(&info) {
			continue
		}
		via := s.cfg.FollowVia != nil && s.cfg.FollowVia(key, s.peer)
		s.mu.Lock()
		p := prefixOf(key)
		if s.cfg.Serve != nil {
			s.held[p] = key
			if n, ok := s.pending[p]; ok {
				delete(s.pending, p)
				serve = append(serve, listedBook{key, n})
			}
		}
		if _, ok := s.reps[key]; via && !ok && len(s.reps) < s.maxBooks {
			r := s.newRep(b)
			r.via = true
			s.reps[key], s.viaKeys[p] = r, key
			if s.agreed && s.peerServesLocked() {
				r.told = b.Len()
				s.queueLocked(TypeHello, &Hello{Books: []HelloBook{{Prefix: key[:PrefixSize], Length: r.told}}}, Event{})
			} else if !s.agreed {
				r.unlisted = true
			}
		}
		s.mu.Unlock()
	}
	return s.serveListed(ctx, serve, &Hello{})
}

// next builds the next message to send, or returns nil if there is none.
func (s *Session) next(ctx context.Context) ([]byte, Event, error) {
	s.mu.Lock()
	if len(s.ctrl) > 0 {
		q := s.ctrl[0]
		s.ctrl = s.ctrl[1:]
		s.mu.Unlock()
		return q.msg, q.ev, nil
	}
	if msg, ev, err := s.nextPreviewLocked(); msg != nil || err != nil {
		s.mu.Unlock()
		return msg, ev, err
	}
	for len(s.dirty) > 0 {
		key := s.dirty[0]
		s.dirty = s.dirty[1:]
		o := s.own[key]
		o.dirty = false
		if o.forked {
			continue // the peer proved a fork of it: offered no more
		}
		from, announce := o.peer, !o.listed
		s.mu.Unlock()
		msg, ev, err := s.buildHave(ctx, o, from, announce)
		if msg != nil || err != nil {
			return msg, ev, err
		}
		s.mu.Lock() // nothing to say of this one: the next
	}
	for len(s.serving) > 0 {
		key := s.serving[0]
		s.serving = s.serving[1:]
		o := s.own[key]
		if len(o.serve) == 0 {
			o.queued = false
			continue
		}
		first := o.serve[0]
		end := min(first.End, first.Start+MaxDataPages)
		// Proofs are against the head the peer has: the last one we sent.
		n := o.sent
		s.mu.Unlock()
		msg, ev, sent, err := s.buildData(ctx, key, o.book, first.Start, end, n)
		s.mu.Lock()
		o.serve = o.serve.Remove(first.Start, sent)
		s.serving = append(s.serving, key) // round robin; dropped above when empty
		s.mu.Unlock()
		return msg, ev, err
	}
	s.mu.Unlock()
	return nil, Event{}, nil
}

// nextPreviewLocked encodes a preview of the first append being written
// (Session.onWriting) to a book the peer follows and is level with, or
// returns nil if there is none. An append whose have went already, or
// larger than a push, goes with its have only. It must not ask the book
// (its lock is held while it is written). Called with mu held.
func (s *Session) nextPreviewLocked() ([]byte, Event, error) {
	s.hmu.Lock()
	ps := s.hWriting
	s.hWriting = nil
	s.hmu.Unlock()
	if s.ver.Load() < 3 {
		return nil, Event{}, nil
	}
	for i, p := range ps {
		o := s.own[p.Book]
		if o == nil || o.held || !o.known || o.forked || o.peer != p.Start || o.sent >= p.Head.Length ||
			len(p.Pages) > s.cfg.PushPages || size(p.Pages) > s.cfg.PushBytes {
			continue
		}
		if rest := ps[i+1:]; len(rest) > 0 {
			s.hmu.Lock()
			s.hWriting = append(rest, s.hWriting...)
			s.hmu.Unlock()
		}
		key := p.Head.Key
		pv := &Preview{Upgrade: journal.Upgrade{Head: p.Head, From: p.Start}, Push: &Data{Key: key[:], Start: p.Start, Length: p.Head.Length, Pages: p.Pages, Proof: p.Proof}}
		msg, err := s.encode(TypePreview, pv)
		return msg, Event{Type: TypePreview, Book: key, Start: p.Start, End: p.Head.Length, Pages: len(p.Pages), Hashes: p.Proof.Size()}, err
	}
	return nil, Event{}, nil
}

// shownLocked records that the head of length n goes to the peer: level
// with it after, the peer holds this head (had it another, it would have
// proved the fork).
func (s *Session) shownLocked(o *ownBook, n uint64) {
	if n == o.book.Len() {
		o.appended = false
		o.book.Shown(n)
	}
}

// buildHave encodes the book's head as an upgrade from the peer's length,
// pushing the new pages along when they are few. announce is set for a
// book the peer does not list.
func (s *Session) buildHave(ctx context.Context, o *ownBook, from uint64, announce bool) ([]byte, Event, error) {
	if o.held {
		n, ok := whole(o.book)
		if !ok || n < from {
			return nil, Event{}, nil
		}
		if n == from {
			return s.buildLevel(o, n)
		}
	}
	if n := o.book.Len(); n <= from {
		if n == 0 {
			return nil, Event{}, nil
		}
		// The peer holds as many pages as this profile wrote, or more, and
		// this profile has just written: they were written elsewhere (its
		// seed on another device, an old backup restored). The head goes
		// alone, from its own length, so the peer can compare it with its
		// own and prove the fork.
		up, err := o.book.MakeUpgrade(ctx, n)
		if err != nil {
			return nil, Event{}, err
		}
		msg, err := s.encode(TypeHave, &Have{Upgrade: *up})
		s.mu.Lock()
		s.shownLocked(o, up.Head.Length)
		// The book may have grown since n: the upgrade then runs from n
		// to the new head, which the peer at n takes and may ask under.
		o.sent = max(o.sent, up.Head.Length)
		s.mu.Unlock()
		return msg, Event{Type: TypeHave, Book: up.Head.Key, Start: up.Head.Length, End: up.Head.Length}, err
	}
	up, err := o.book.MakeUpgrade(ctx, from)
	if err != nil {
		return nil, Event{}, err
	}
	n := up.Head.Length
	if n <= from {
		return nil, Event{}, nil
	}
	have := &Have{Upgrade: *up}
	ev := Event{Type: TypeHave, Book: up.Head.Key, Start: from, End: n, Hashes: len(up.Proof)}
	// Push the new pages along when they are few. An announcement (a book
	// the peer does not list) always carries the genesis page, so the peer
	// can check who writes the book before following it.
	end := n
	if n-from > uint64(s.cfg.PushPages) {
		end = from
		if from == 0 && announce {
			end = 1
		}
	}
	if end > from {
		pages, err := o.book.GetRange(ctx, from, end)
		if err != nil {
			return nil, Event{}, err
		}
		if size(pages) > s.cfg.PushBytes {
			pages = pages[:0]
			if from == 0 && announce {
				pages = pages[:1]
			}
		}
		if len(pages) > 0 {
			proof, err := o.book.RangeProof(ctx, from, from+uint64(len(pages)), n)
			if err != nil {
				return nil, Event{}, err
			}
			key := up.Head.Key
			have.Push = &Data{Key: key[:], Start: from, Length: n, Pages: pages, Proof: *proof}
			ev.Pages, ev.Hashes = len(pages), ev.Hashes+proof.Size()
		}
	}
	msg, err := s.encode(TypeHave, have)
	if err != nil {
		return nil, Event{}, err
	}
	s.mu.Lock()
	o.peer, o.sent = n, max(o.sent, n)
	s.shownLocked(o, n)
	s.mu.Unlock()
	return msg, ev, nil
}

// buildLevel tells the peer that this profile, a holder, serves the book
// at the length the peer holds: a hello entry of that length, once.
func (s *Session) buildLevel(o *ownBook, n uint64) ([]byte, Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.told == n || o.forked {
		return nil, Event{}, nil
	}
	o.told, o.sent = n, max(o.sent, n)
	key := o.book.Key()
	msg, err := s.encode(TypeHello, &Hello{Books: []HelloBook{{Prefix: key[:PrefixSize], Length: n}}})
	return msg, Event{Type: TypeHello}, err
}

// buildData encodes pages [start, end) of book, cut to the message size,
// proven against length n. It returns the end actually sent.
func (s *Session) buildData(ctx context.Context, key identity.ID, book *journal.Book, start, end, n uint64) ([]byte, Event, uint64, error) {
	pages, err := readUpTo(ctx, book, start, end, s.cfg.DataBytes)
	if err != nil {
		return nil, Event{}, start, err
	}
	end = start + uint64(len(pages))
	proof, err := book.RangeProof(ctx, start, end, n)
	if err != nil {
		return nil, Event{}, start, err
	}
	msg, err := s.encode(TypeData, &Data{Key: key[:], Start: start, Length: n, Pages: pages, Proof: *proof})
	if err != nil {
		return nil, Event{}, start, err
	}
	if len(msg) > MaxMessageSize {
		return nil, Event{}, start, fmt.Errorf("replication: data message of %d bytes", len(msg))
	}
	return msg, Event{Type: TypeData, Book: key, Start: start, End: end, Pages: len(pages), Hashes: proof.Size()}, end, nil
}

// firstRead is how many pages readUpTo reads before it knows their size.
const firstRead = 32

// readUpTo returns pages [start, end) of book, cut after the last one that
// keeps their total within maxBytes (at least one page). It reads a few
// pages first, then as many as their average size says fit, so that a
// message of 256 KiB of 1 KiB pages reads about 256 pages, not the 4,096
// a want may cover.
func readUpTo(ctx context.Context, book *journal.Book, start, end uint64, maxBytes int) ([][]byte, error) {
	var pages [][]byte
	total := 0
	for next := start; next < end; {
		want := uint64(firstRead)
		if len(pages) > 0 {
			if total >= maxBytes {
				return pages, nil
			}
			avg := max(total/len(pages), 1)
			want = uint64((maxBytes-total)/avg) + 1
		}
		ps, err := book.GetRange(ctx, next, min(end, next+want))
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if total+len(p) > maxBytes && len(pages) > 0 {
				return pages, nil
			}
			total += len(p)
			pages = append(pages, p)
		}
		next += uint64(len(ps))
	}
	return pages, nil
}

func size(pages [][]byte) int {
	n := 0
	for _, p := range pages {
		n += len(p)
	}
	return n
}

// listViaLocked lists, once the peer's first hello came, the books
// followed through it after this session's own first hello went: that
// hello did not name them, and the peer would never serve them. Called
// with s.mu held.
func (s *Session) listViaLocked() {
	if !s.peerServesLocked() {
		return
	}
	h := &Hello{}
	for key, r := range s.reps {
		if r.unlisted {
			r.unlisted, r.told = false, r.book.Len()
			h.Books = append(h.Books, HelloBook{Prefix: key[:PrefixSize], Length: r.told})
		}
	}
	if len(h.Books) > 0 {
		s.queueLocked(TypeHello, h, Event{})
	}
}
