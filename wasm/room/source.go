package room

import (
	"context"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// BookSource reads an author's messages from one of the author's books of
// the task: pages 1 on (page 0 is the genesis), as far as they are held
// from the start. Page p holds the message numbered (mid) p+Shift: Shift
// is 0 but in a successor book (successor.go). Seal opens its pages
// (sealing.go).
type BookSource struct {
	Book   *journal.Book
	Author identity.ID
	Shift  uint64
	Seal   pageSeal
	// Cap, if not 0, bounds the messages read: a removed member's book
	// is read as far as it was held at the removal (remove.go).
	Cap int
}

// Len implements Source.
func (s BookSource) Len(context.Context) (int, error) {
	have := s.Book.Have()
	if len(have) == 0 || have[0].Start != 0 || have[0].End < 1 {
		return 0, nil
	}
	if n := int(have[0].End - 1); s.Cap == 0 || n < s.Cap {
		return n, nil
	}
	return s.Cap, nil
}

// Get implements Source. A page that is not a valid message, or whose mid
// is not its page index, is TypeInvalid.
func (s BookSource) Get(ctx context.Context, i int) (Message, error) {
	p, err := s.Book.Get(ctx, uint64(i)+1)
	if err != nil {
		return Message{}, err
	}
	m, _ := s.Seal.decode(p, s.Author, uint64(i)+1, uint64(i)+1+s.Shift)
	return m, nil
}

// GetRange implements RangeSource: one read of the book.
func (s BookSource) GetRange(ctx context.Context, start, end int) ([]Message, error) {
	pages, err := s.Book.GetRange(ctx, uint64(start)+1, uint64(end)+1)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(pages))
	for i, p := range pages {
		out[i], _ = s.Seal.decode(p, s.Author, uint64(start+i)+1, uint64(start+i)+1+s.Shift)
	}
	return out, nil
}

// markedSource is a member's book with the pages the messenger refused
// (a clock too far ahead) shown as TypeInvalid, and its replies to this
// profile's messages that it numbers otherwise (moved) renumbered.
type markedSource struct {
	BookSource
	bad   map[uint64]string // by mid: why; read only
	moved renumbering
}

func (s markedSource) mark(m Message) Message {
	if why, ok := s.bad[m.Head.Mid]; ok && m.Type != TypeInvalid {
		raw, _ := m.Encode()
		return Message{Head: Head{By: s.Author, Mid: m.Head.Mid}, Type: TypeInvalid, Raw: raw, Reason: why}
	}
	return s.moved.apply(m)
}

// renumbering is how a member numbers this profile's messages after this
// profile's book to it forked: those of the log after from are numbered
// shift more (successor.go). The zero value renumbers nothing.
type renumbering struct {
	self        identity.ID
	from, shift uint64
}

// apply gives a member's message's cause, if one of this profile's
// messages, its number in this profile's log.
func (r renumbering) apply(m Message) Message {
	if c := m.Refs.Cause; r.shift != 0 && c != nil && c.By == r.self && c.Mid > r.from+r.shift {
		moved := *c
		moved.Mid -= r.shift
		m.Refs.Cause = &moved
	}
	return m
}

// Get implements Source.
func (s markedSource) Get(ctx context.Context, i int) (Message, error) {
	m, err := s.BookSource.Get(ctx, i)
	return s.mark(m), err
}

// GetRange implements RangeSource.
func (s markedSource) GetRange(ctx context.Context, start, end int) ([]Message, error) {
	ms, err := s.BookSource.GetRange(ctx, start, end)
	for i := range ms {
		ms[i] = s.mark(ms[i])
	}
	return ms, err
}
