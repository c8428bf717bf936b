package dbcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// ErrNotServed: a db-only writer was asked for a messenger call.
var ErrNotServed = errors.New("this profile is written by a page that opened its db only (tm.vault or tm.DB, e.g. the debug page)")

// ErrClosed: the service is closed.
var ErrClosed = errors.New("this tab no longer writes the profile (it closed it, or handed it to another tab as the call started): try again")

// Service is a profile's db alone as a tabs.Service: Do carries out the
// db methods, Subscribe gives every journal event as Event's JSON.
type Service struct {
	db    *journal.DB
	close func() error

	mu     sync.RWMutex // held (read) by calls in flight; Close waits for them
	closed bool
}

// NewService serves db; close is called once by Close (it closes the
// db's store).
func NewService(db *journal.DB, close func() error) *Service {
	return &Service{db: db, close: close}
}

// DB is the db served.
func (s *Service) DB() *journal.DB { return s.db }

// Do carries out a db method; any other method is ErrNotServed.
func (s *Service) Do(ctx context.Context, method string, args json.RawMessage) (json.RawMessage, error) {
	if !Is(method) {
		return nil, fmt.Errorf("%s: %w: it serves no messenger call (the messenger takes the profile over from it as it opens)", method, ErrNotServed)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return Do(ctx, s.db, method, args)
}

// Subscribe calls fn with every journal event, as Event's JSON.
func (s *Service) Subscribe(fn func(json.RawMessage)) (cancel func()) {
	return s.db.Subscribe(func(e journal.Event) { fn(Event(e)) })
}

// ID is the profile's id.
func (s *Service) ID() identity.ID { return s.db.ID() }

// State is "": a db alone does not go online.
func (s *Service) State() string { return "" }

// Close waits for the calls in flight, then closes the db's store.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.close()
}
