package room

import (
	"context"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// BookSource reads an author's messages from one of the author's books of
// the task: pages 1 on (page 0 is the genesis), as far as they are held
// from the start.
type BookSource struct {
	Book   *journal.Book
	Author identity.ID
}

// Len implements Source.
func (s BookSource) Len(context.Context) (int, error) {
	have := s.Book.Have()
	if len(have) == 0 || have[0].Start != 0 || have[0].End < 1 {
		return 0, nil
	}
	return int(have[0].End - 1), nil
}

// Get implements Source. A page that is not a valid message, or whose mid
// is not its page index, is TypeInvalid.
func (s BookSource) Get(ctx context.Context, i int) (Message, error) {
	p, err := s.Book.Get(ctx, uint64(i)+1)
	if err != nil {
		return Message{}, err
	}
	m, _ := decodeAt(p, s.Author, uint64(i)+1)
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
		out[i], _ = decodeAt(p, s.Author, uint64(start+i)+1)
	}
	return out, nil
}

// markedSource is a member's book with the pages the messenger refused
// (a clock too far ahead) shown as TypeInvalid.
type markedSource struct {
	BookSource
	bad map[uint64]string // by mid: why; read only
}

func (s markedSource) mark(m Message) Message {
	if why, ok := s.bad[m.Head.Mid]; ok && m.Type != TypeInvalid {
		raw, _ := m.Encode()
		return Message{Head: Head{By: s.Author, Mid: m.Head.Mid}, Type: TypeInvalid, Raw: raw, Reason: why}
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
