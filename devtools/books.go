package devtools

import (
	"bytes"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// maxProblems is how many verification failures a book keeps.
const maxProblems = 32

// applyChecked verifies a frame's head and pages against the book and
// records the outcome on the book, the peer's copy and the timeline.
// Called with s.mu held.
func (s *Server) applyChecked(p *peer, b *book, cp *copyState, c *checked) {
	f := c.f
	ev := &Event{PeerAt: c.at, Kind: "book", Type: f.Event, Book: b.key}
	if n := len(f.Pages); n > 0 {
		ev.Start, ev.End, ev.Pages = f.Start, f.Start+uint64(n), n
	}
	defer func() {
		ev.Status = cp.status
		s.event(p, b, ev)
		s.feed.publish(feedMsg{Type: "book", Key: b.key})
	}()
	if c.genesis != nil {
		s.bindGenesis(b, cp, p, c.genesis)
	} else if c.genErr != nil {
		s.problem(b, cp, p, 0, fmt.Errorf("genesis: %w", c.genErr))
	}
	if f.Writable {
		cp.role = roleAuthor
		if b.genesis != nil && b.author != p.id {
			s.problem(b, cp, p, 0, fmt.Errorf("claims to author a book by %s", b.author.Short()))
			return
		}
	}
	switch {
	case !c.hasHead:
		return
	case c.headErr != nil:
		s.problem(b, cp, p, c.head.Length, fmt.Errorf("head: %w", c.headErr))
		return
	case c.err != nil:
		s.problem(b, cp, p, c.head.Length, c.err)
		return
	case f.Start+uint64(len(f.Pages)) > c.head.Length:
		s.problem(b, cp, p, f.Start, fmt.Errorf("pages [%d, %d) beyond the head's length %d", f.Start, f.Start+uint64(len(f.Pages)), c.head.Length))
		return
	}
	h := &c.head
	if h.Length >= cp.head.Length {
		cp.head = *h
	}
	if len(f.Pages) > 0 {
		cp.have = cp.have.Add(f.Start, f.Start+uint64(len(f.Pages)))
	}

	// The pages and the tree first: pages that reach the head and extend
	// the verified tree prove the head with no proof at all.
	statuses := make([]Status, len(f.Pages))
	tried, pagesOK, rel, fork := b.growTree(c, s.cfg.MaxTreePages)
	var relErr error
	switch {
	case tried && pagesOK:
		fill(statuses, StatusVerified)
		if rel == relFork {
			fill(statuses, StatusUnverified)
		}
	case tried && c.proof != nil:
		if _, err := journal.VerifyRange(h, f.Start, f.Pages, c.proof); err == nil {
			// The pages are the head's, and the head contradicts the tree:
			// the upgrade, if any, gives the evidence.
			if rel, fork, _ = b.relate(h, c.up); rel != relFork {
				rel, fork = relFork, nil
			}
			fill(statuses, StatusUnverified)
		} else {
			s.problem(b, cp, p, f.Start, fmt.Errorf("pages: %w", err))
			fill(statuses, StatusInvalid)
		}
	case tried:
		s.problem(b, cp, p, f.Start, fmt.Errorf("pages [%d, %d) and head %d do not match the verified tree", f.Start, f.Start+uint64(len(f.Pages)), h.Length))
		fill(statuses, StatusInvalid)
	}
	if rel == relUnknown {
		rel, fork, relErr = b.relate(h, c.up)
	}

	switch rel {
	case relNew, relNewer:
		b.advance(h, c.up)
	case relFork:
		s.setFork(b, fork, fmt.Sprintf("head %d from %s contradicts the verified head %d", h.Length, p.id.Short(), b.cur.Length))
	case relBad:
		s.problem(b, cp, p, h.Length, relErr)
	}

	// Pages the tree did not settle: by their range proof (authors), or
	// against the verified pages (replicas cannot prove).
	var proofRef *ingestProof
	if len(f.Pages) > 0 && !tried {
		switch {
		case c.proof != nil:
			hashes, err := journal.VerifyRange(h, f.Start, f.Pages, c.proof)
			switch {
			case err != nil:
				s.problem(b, cp, p, f.Start, fmt.Errorf("pages: %w", err))
				fill(statuses, StatusInvalid)
			case rel.consistent():
				fill(statuses, StatusVerified)
				proofRef = &ingestProof{head: *h, start: f.Start, end: f.Start + uint64(len(f.Pages)), proof: c.proof}
				b.appendTree(f.Start, hashes, s.cfg.MaxTreePages)
			default:
				fill(statuses, StatusUnverified)
			}
		default:
			for i := range statuses {
				statuses[i] = s.compare(b, f.Start+uint64(i), c.leaves[i])
				if statuses[i] == StatusInvalid {
					s.problem(b, cp, p, f.Start+uint64(i), fmt.Errorf("page %d differs from the verified one", f.Start+uint64(i)))
				}
			}
		}
	}
	s.retain(b, p, c, statuses, proofRef)

	switch {
	case cp.status == StatusInvalid || cp.status == StatusForked:
	case rel == relFork:
		cp.status = StatusForked
	case rel == relBad || hasStatus(statuses, StatusInvalid):
		cp.status = StatusInvalid
	case rel.consistent():
		cp.status = StatusVerified
	default:
		cp.status = StatusUnverified
	}
	if rel == relNew || rel == relNewer || tried && pagesOK {
		s.recheck(b)
	}
}

func fill(st []Status, v Status) {
	for i := range st {
		st[i] = v
	}
}

func hasStatus(st []Status, v Status) bool {
	for _, s := range st {
		if s == v {
			return true
		}
	}
	return false
}

// compare checks a page a replica reported against the verified tree or
// the verified page retained at its index.
func (s *Server) compare(b *book, i uint64, leaf tlog.Hash) Status {
	if i < uint64(b.tree.n) {
		if b.tree.leaf(i) == leaf {
			return StatusVerified
		}
		return StatusInvalid
	}
	if pg, ok := b.pages.Get(i); ok && pg.status == StatusVerified {
		if pg.leaf == leaf {
			return StatusVerified
		}
		return StatusInvalid
	}
	return StatusUnverified
}

// retain keeps the frame's pages, within RetainPages per book.
func (s *Server) retain(b *book, p *peer, c *checked, statuses []Status, proof *ingestProof) {
	for i, data := range c.f.Pages {
		idx, st := c.f.Start+uint64(i), statuses[i]
		if st == StatusVerified {
			s.stats.Verified++
		} else if st == StatusInvalid {
			s.stats.Rejected++
		}
		pt := plainOf(c.f, i)
		pg, ok := b.pages.Get(idx)
		switch {
		case !ok:
		case pg.leaf == c.leaves[i]:
			if st == StatusVerified && pg.status != StatusVerified {
				pg.status, pg.err, pg.proof = st, "", proof
			}
			b.keepPlain(pg, p.id, pt)
			continue
		case pg.status == StatusVerified || st != StatusVerified:
			continue // keep the verified (or the first) version; the problem is recorded
		default:
			if cp := b.copies[pg.by]; cp != nil && pg.status == StatusUnverified {
				s.problem(b, cp, p, idx, fmt.Errorf("page %d reported by %s differs from the verified one", idx, pg.by.Short()))
				cp.status = StatusInvalid
			}
		}
		np := &page{index: idx, data: data, leaf: c.leaves[i], status: st, by: p.id, proof: proof}
		b.keepPlain(np, p.id, pt)
		switch st {
		case StatusInvalid:
			np.err = "failed verification"
		case StatusUnverified:
			b.pending = true
		}
		b.pages.Set(idx, np)
	}
	for b.pages.Len() > s.cfg.RetainPages {
		k, pg, _ := b.pages.PopMin()
		if k == 0 && b.pages.Len() > 0 {
			// The genesis stays: it binds the book to its author, so a
			// third party checks a long book from what is served.
			k, _, _ = b.pages.PopMin()
			b.pages.Set(0, pg)
		}
		b.droppedPages++
		b.droppedBelow = max(b.droppedBelow, k+1)
	}
}

// plainOf returns the plaintext a book frame carries for its page i: nil
// if none, or if the page is not sealed (a plain page needs no opening).
func plainOf(f *report.Book, i int) []byte {
	if i >= len(f.Plain) || f.Plain[i] == nil {
		return nil
	}
	if _, err := seal.Epoch(f.Pages[i]); err != nil {
		return nil
	}
	return f.Plain[i]
}

// keepPlain keeps pt, the plaintext peer by sent of pg, beside it: the
// first one sent, unless the book's author sends one (it wrote the page).
// Nothing checks pt against the sealed page: the server cannot open it.
func (b *book) keepPlain(pg *page, by identity.ID, pt []byte) {
	if pt == nil || pg.plain != nil && (by != b.author || pg.openedBy == b.author) {
		return
	}
	pg.plain, pg.openedBy = pt, by
}

// recheck settles what waited for the verified history to grow: copies
// whose head was not provable and pages that were not comparable.
func (s *Server) recheck(b *book) {
	for _, cp := range b.copies {
		if cp.status != StatusUnverified || cp.head.IsZero() {
			continue
		}
		switch rel, fork, _ := b.relate(&cp.head, nil); {
		case rel.consistent():
			cp.status = StatusVerified
		case rel == relFork:
			s.setFork(b, fork, fmt.Sprintf("head %d held by %s contradicts the verified history", cp.head.Length, cp.peer.Short()))
			cp.status = StatusForked
		}
	}
	if !b.pending {
		return
	}
	b.pending = false
	b.pages.Scan(func(i uint64, pg *page) bool {
		if pg.status == StatusUnverified && i >= uint64(b.tree.n) {
			b.pending = true
		}
		if pg.status == StatusUnverified && i < uint64(b.tree.n) {
			if pg.status = s.compare(b, i, pg.leaf); pg.status == StatusInvalid {
				pg.err = "differs from the verified page"
				if cp := b.copies[pg.by]; cp != nil {
					cp.status = StatusInvalid
					b.problems.push(&Problem{At: s.cfg.Now(), Peer: pg.by, Index: i, Error: pg.err}, maxProblems)
				}
			}
		}
		return true
	})
}

// bindGenesis binds the book to its author and name from a verified
// genesis page (signed by the author: it needs no head).
func (s *Server) bindGenesis(b *book, cp *copyState, p *peer, g *journal.Genesis) {
	data := g.Encode()
	switch {
	case b.genesis == nil:
		b.genesis, b.gen, b.name, b.author = data, g, g.Name, g.Author
		b.reader, b.task = nameParts(g.Name)
		// Retained as page 0, verified by its own signature, whatever
		// pages the peer reports (a long book's come from far past it).
		if _, ok := b.pages.Get(0); !ok {
			leaf := tlog.RecordHash(data)
			st := StatusVerified
			if b.tree.n > 0 && b.tree.leaf(0) != leaf {
				st = StatusInvalid
			}
			b.pages.Set(0, &page{index: 0, data: data, leaf: leaf, status: st, by: p.id})
		}
	case !bytes.Equal(b.genesis, data):
		s.problem(b, cp, p, 0, fmt.Errorf("%w: a second genesis for the book", journal.ErrBadGenesis))
	}
}

// setFork marks the book forked, keeping the first evidence that verifies.
func (s *Server) setFork(b *book, fk *journal.Fork, note string) {
	if fk != nil && fk.Verify() != nil {
		fk = nil
	}
	if b.forkNote == "" || b.fork == nil && fk != nil {
		b.fork, b.forkNote = fk, note
		s.log.Warn("devtools: book forked", "book", b.key.Short(), "name", b.name, "note", note, "evidence", fk != nil)
	}
}

// problem records a verification failure of p's copy of b.
func (s *Server) problem(b *book, cp *copyState, p *peer, index uint64, err error) {
	b.problems.push(&Problem{At: s.cfg.Now(), Peer: p.id, Index: index, Error: err.Error()}, maxProblems)
	cp.status, cp.problem = StatusInvalid, err.Error()
	s.log.Warn("devtools: verification failed", "peer", p.id.Short(), "book", b.key.Short(), "index", index, "err", err)
}

// nameParts reads the reader and the task from a room book's name:
// "${author}-${reader}-${task}" (a pair book) or "${author}-${task}" (the
// author's log of the task).
func nameParts(name string) (reader identity.ID, task string) {
	if _, ok := journal.NameAuthor(name); !ok {
		return reader, ""
	}
	rest := name[identity.TextSize+1:]
	if validTask(rest) {
		return reader, rest
	}
	reader, ok := journal.NameReader(name)
	if ok && len(rest) > identity.TextSize+1 && validTask(rest[identity.TextSize+1:]) {
		task = rest[identity.TextSize+1:]
	}
	return reader, task
}

func validTask(s string) bool {
	_, err := room.ParseTaskID(s)
	return err == nil
}
