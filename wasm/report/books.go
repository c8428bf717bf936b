package report

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// eventBackfill marks the pages reported at connect.
const eventBackfill = "backfill"

// sendBooks lists every book, then reports each one's pages: authors from
// the length the server has, replicas the pages they hold, each at most
// Backfill pages.
func (s *session) sendBooks(ctx context.Context) error {
	infos, err := s.r.cfg.DB.Books(ctx)
	if err != nil {
		return fmt.Errorf("report: books: %w", err)
	}
	for first := true; first || len(infos) > 0; first = false {
		n := min(len(infos), MaxBooks)
		frame := &Books{Books: make([]BookInfo, 0, n), Done: n == len(infos)}
		for _, info := range infos[:n] {
			bi, err := s.bookInfo(ctx, &info)
			if err != nil {
				return err
			}
			frame.Books = append(frame.Books, bi)
		}
		if err := s.write(ctx, TypeBooks, s.r.now(), frame); err != nil {
			return err
		}
		for _, info := range infos[:n] {
			// A server that knew nothing of the book takes the head just
			// listed: the backfill proves its head from that one (it may
			// have grown meanwhile, and a longer head needs the proof).
			if info.Writable && !info.Head.IsZero() && s.books[info.Key] == nil {
				s.books[info.Key] = &sent{head: info.Head.Length}
			}
		}
		for _, info := range infos[:n] {
			if err := s.report(ctx, s.r.now(), info.Key, eventBackfill, uint64(s.r.cfg.Backfill)); err != nil {
				return err
			}
		}
		infos = infos[n:]
	}
	return nil
}

// bookInfo describes one book for a books frame, with its genesis page.
func (s *session) bookInfo(ctx context.Context, info *journal.BookInfo) (BookInfo, error) {
	bi := BookInfo{Key: info.Key, Name: info.Name, Author: info.Author, Writable: info.Writable, Forked: info.Forked}
	for _, r := range info.Have {
		if len(bi.Have) == MaxBooks {
			break
		}
		bi.Have = append(bi.Have, Span{r.Start, r.End})
	}
	if info.Head.IsZero() {
		return bi, nil
	}
	var err error
	if bi.Head, err = journal.Marshal(info.Head); err != nil {
		return bi, err
	}
	if info.Have.Contains(0) {
		b, err := s.r.cfg.DB.Get(ctx, info.Key)
		if err != nil {
			return bi, fmt.Errorf("report: book %s: %w", info.Key.Short(), err)
		}
		if bi.Genesis, err = b.Get(ctx, 0); err != nil {
			return bi, fmt.Errorf("report: book %s: %w", info.Key.Short(), err)
		}
	}
	return bi, nil
}

// bookItem reports a queued change to a book: fork evidence and follows
// as they are, pages and heads once per flush (done).
func (s *session) bookItem(ctx context.Context, at int64, bi *bookItem, done map[identity.ID]bool) error {
	switch bi.event {
	case journal.EventFork:
		var head, fork []byte
		if bi.fork != nil {
			var err error
			if fork, err = journal.Marshal(bi.fork); err != nil {
				return err
			}
			if head, err = journal.Marshal(bi.fork.New); err != nil {
				return err
			}
		}
		if err := s.write(ctx, TypeBook, at, &Book{Key: bi.key, Event: string(bi.event), Head: head, Fork: fork}); err != nil {
			return err
		}
	case journal.EventFollow:
		if err := s.write(ctx, TypeBook, at, &Book{Key: bi.key, Event: string(bi.event), Peer: bi.peer}); err != nil {
			return err
		}
	}
	if done[bi.key] {
		return nil
	}
	done[bi.key] = true
	return s.report(ctx, at, bi.key, string(bi.event), math.MaxUint64)
}

// report sends what the server lacks of book key: at most the newest
// limit pages.
func (s *session) report(ctx context.Context, at int64, key identity.ID, event string, limit uint64) error {
	b, err := s.r.cfg.DB.Get(ctx, key)
	if errors.Is(err, journal.ErrNotFound) {
		return nil // gone (a reset): nothing to say
	}
	if err != nil {
		return fmt.Errorf("report: book %s: %w", key.Short(), err)
	}
	st := s.books[key]
	if st == nil {
		st = &sent{}
		s.books[key] = st
	}
	if b.Writable() {
		return s.reportAuthor(ctx, at, b, event, st, limit)
	}
	return s.reportReplica(ctx, at, b, event, st, limit)
}

// reportAuthor sends pages [st.length, head) with their range proofs, the
// first frame with the upgrade (consistency proof) from st.head.
func (s *session) reportAuthor(ctx context.Context, at int64, b *journal.Book, event string, st *sent, limit uint64) error {
	from, upFrom := st.length, max(st.head, st.length)
	if upFrom > b.Len() {
		from, upFrom = 0, 0 // the server holds more than this book: report it anew
	}
	up, err := b.MakeUpgrade(ctx, upFrom)
	if err != nil {
		return err
	}
	n := up.Head.Length
	if n == 0 || n == from {
		return nil
	}
	head, err := journal.Marshal(up.Head)
	if err != nil {
		return err
	}
	first := &Book{Key: b.Key(), Event: event, Writable: true, Head: head}
	if upFrom > 0 && upFrom < n {
		if first.Upgrade, err = journal.Marshal(up); err != nil {
			return err
		}
	}
	start := from
	if n-start > limit {
		first.Skipped = &Span{start, n - limit}
		start = n - limit
	}
	var spans []Span
	if from == 0 && start > 0 {
		spans = append(spans, Span{0, 1}) // the genesis binds the book
	}
	spans = append(spans, Span{start, n})
	err = s.sendPages(ctx, at, b, first, spans, n, true)
	if err == nil {
		st.length, st.head = n, n
	}
	return err
}

// reportReplica sends the replica's head and the pages it holds that were
// not reported yet (at most limit, the newest), without proofs: only
// authors can prove; the server checks them against the author's.
func (s *session) reportReplica(ctx context.Context, at int64, b *journal.Book, event string, st *sent, limit uint64) error {
	info := b.Info()
	n := info.Head.Length
	if info.Head.IsZero() {
		return nil
	}
	var spans []Span
	floor := uint64(0)
	if n > limit {
		floor = n - limit
	}
	first := &Book{Key: b.Key(), Event: event}
	for _, r := range info.Have {
		for _, m := range st.have.Missing(r.Start, r.End) {
			if m.Start < floor {
				if first.Skipped == nil {
					first.Skipped = &Span{m.Start, min(m.End, floor)}
				} else {
					first.Skipped[1] = min(m.End, floor)
				}
				if m.End <= floor {
					continue
				}
				m.Start = floor
			}
			spans = append(spans, Span{m.Start, m.End})
		}
	}
	if len(spans) == 0 && n == st.length {
		return nil
	}
	head, err := journal.Marshal(info.Head)
	if err != nil {
		return err
	}
	first.Head = head
	if err := s.sendPages(ctx, at, b, first, spans, n, false); err != nil {
		return err
	}
	st.length = n
	for _, r := range info.Have {
		st.have = st.have.Add(r.Start, r.End)
	}
	return nil
}

// sendPages sends the pages of spans in frames within MaxPages and
// MaxPageBytes (plaintexts included), each with the head of first (and,
// from authors, its range proof against the head of length n) and the
// plaintexts of the sealed pages Config.Open opens; the first frame
// carries first's upgrade and skipped range. With no spans it sends first
// alone.
func (s *session) sendPages(ctx context.Context, at int64, b *journal.Book, first *Book, spans []Span, n uint64, prove bool) error {
	f := first
	if len(spans) == 0 {
		return s.write(ctx, TypeBook, at, f)
	}
	for _, sp := range spans {
		for start := sp[0]; start < sp[1]; {
			end := min(sp[1], start+MaxPages)
			pages, err := b.GetRange(ctx, start, end)
			if err != nil {
				return fmt.Errorf("report: book %s: %w", b.Key().Short(), err)
			}
			fits, plain := s.fit(b.Key(), start, pages)
			pages, end = pages[:fits], start+uint64(fits)
			f.Start, f.Pages, f.Plain = start, pages, plain
			if prove {
				proof, err := b.RangeProof(ctx, start, end, n)
				if err != nil {
					return err
				}
				if f.Proof, err = journal.Marshal(proof); err != nil {
					return err
				}
			}
			if err := s.write(ctx, TypeBook, at, f); err != nil {
				return err
			}
			f = &Book{Key: first.Key, Event: first.Event, Writable: first.Writable, Head: first.Head}
			start = end
		}
	}
	return nil
}

// fit returns how many of pages, the first at index start of book key,
// fit in one frame with their plaintexts, and those plaintexts (nil if it
// opened none of them). The first page always fits: a page and its
// plaintext are at most twice journal.MaxPageSize, MaxPageBytes.
func (s *session) fit(key identity.ID, start uint64, pages [][]byte) (int, [][]byte) {
	var plain [][]byte
	size := 0
	for i, p := range pages {
		pt := s.open(key, start+uint64(i), p)
		if size += len(p) + len(pt); size > MaxPageBytes && i > 0 {
			if plain != nil {
				plain = plain[:i]
			}
			return i, plain
		}
		if pt != nil {
			if plain == nil {
				plain = make([][]byte, len(pages))
			}
			plain[i] = pt
		}
	}
	return len(pages), plain
}

// open returns the plaintext of a sealed page through Config.Open, or nil:
// no hook, the genesis, a page that is not sealed, one the hook cannot
// open, or a plaintext longer than its page (the frame would be refused).
func (s *session) open(key identity.ID, index uint64, page []byte) []byte {
	if s.r.cfg.Open == nil || index == 0 {
		return nil
	}
	if _, err := seal.Epoch(page); err != nil {
		return nil
	}
	pt := s.r.cfg.Open(key, index, page)
	if len(pt) > len(page) {
		return nil
	}
	return pt
}
