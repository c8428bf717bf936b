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

// Get implements Source. A page that is not a message is TypeInvalid.
func (s BookSource) Get(ctx context.Context, i int) (Message, error) {
	p, err := s.Book.Get(ctx, uint64(i)+1)
	if err != nil {
		return Message{}, err
	}
	m, _ := Decode(p, s.Author)
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
		out[i], _ = Decode(p, s.Author)
	}
	return out, nil
}
