package room

import (
	"context"
	"sort"

	"golang.org/x/sync/errgroup"
)

// pageSourcesAtOnce bounds the sources a timeline page reads at once.
const pageSourcesAtOnce = 8

// A Source is one author's messages in a task, in the order written: the
// pages of one of the author's books of the task (the one addressed to
// this member, or this member's own), genesis excluded. Each author writes
// with a Lamport clock that only grows, so a source is sorted by Key.
type Source interface {
	Len(ctx context.Context) (int, error)
	Get(ctx context.Context, i int) (Message, error)
}

// A RangeSource also reads messages [start, end) at once.
type RangeSource interface {
	Source
	GetRange(ctx context.Context, start, end int) ([]Message, error)
}

// Page returns up to limit messages of the merged timeline of sources,
// oldest first: those just before the key before (nil: the newest). The
// order is by Key, the same on every member holding the same messages, and
// causal: a reply's clock is above its cause's, a message's above
// everything its author had seen. Reads are O(log n) per source to find
// the place plus O(limit) messages, so a room of a million messages opens
// as fast as one of ten. Receipt pages (TypeReceipt) are not timeline
// messages, nor are edits and deletes (edits.go): skipped.
func Page(ctx context.Context, sources []Source, before *Key, limit int) ([]Message, error) {
	type cursor struct {
		src      Source
		pos      int // messages [0, pos) are before the page's end
		head     *Message
		buf      []Message // messages [bufStart, bufStart+len(buf)), read ahead
		bufStart int
	}
	cs := make([]*cursor, len(sources))
	load := func(c *cursor) error {
		c.head = nil
		if c.pos == 0 {
			return nil
		}
		i := c.pos - 1
		if i < c.bufStart || i >= c.bufStart+len(c.buf) {
			// A page never takes more than limit messages from a source:
			// read them in one go where the source can.
			start := max(0, c.pos-limit)
			if r, ok := c.src.(RangeSource); ok {
				buf, err := r.GetRange(ctx, start, c.pos)
				if err != nil {
					return err
				}
				c.buf, c.bufStart = buf, start
			} else {
				m, err := c.src.Get(ctx, i)
				if err != nil {
					return err
				}
				c.buf, c.bufStart = []Message{m}, i
			}
		}
		c.head = &c.buf[i-c.bufStart]
		return nil
	}
	// Each source finds its place and reads its first messages side by
	// side with the others: a page waits on the store's round trips of one
	// source, not of every author's in turn.
	var g errgroup.Group
	g.SetLimit(pageSourcesAtOnce)
	for k, s := range sources {
		g.Go(func() error {
			n, err := s.Len(ctx)
			if err != nil {
				return err
			}
			pos := n
			if before != nil {
				var searchErr error
				pos = sort.Search(n, func(i int) bool {
					if searchErr != nil {
						return true
					}
					m, err := s.Get(ctx, i)
					if err != nil {
						searchErr = err
						return true
					}
					return m.Key().Compare(*before) >= 0
				})
				if searchErr != nil {
					return searchErr
				}
			}
			cs[k] = &cursor{src: s, pos: pos}
			return load(cs[k])
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []Message
	for len(out) < limit {
		var best *cursor
		for _, c := range cs {
			if c.head != nil && (best == nil || c.head.Key().Compare(best.head.Key()) > 0) {
				best = c
			}
		}
		if best == nil {
			break
		}
		if !hiddenType(best.head.Type) { // not a timeline line (receiptpage.go, edits.go)
			out = append(out, *best.head)
		}
		best.pos--
		if len(out) == limit {
			break // the page is full: nothing older is read for it
		}
		if err := load(best); err != nil {
			return nil, err
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
