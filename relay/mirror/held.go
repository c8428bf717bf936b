//go:build !js

package mirror

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Receipts ("on a mirror", issue #13): on each port from an author the
// mirror tells the author, on channel port.ChannelHeld, how far it holds
// each of the author's books, signed with its identity key (package held):
// every book it holds when the port opens, then each book whose pages it
// stores. Statements are coalesced: at most one message per
// Config.HeldEvery on a port, with the latest length of each book changed
// meanwhile, and a length already told is not told again. The author
// sends nothing on that channel: what arrives is dropped.

// A teller tells one author, on one port, what the mirror holds of its
// books.
type teller struct {
	author identity.ID
	ch     port.Port
	kick   chan struct{} // capacity 1: a book was marked

	mu    sync.Mutex
	dirty map[identity.ID]bool // guarded by mu: books stored since the last message
}

// mark notes that book's pages were stored. It does not block (it runs in
// the DB's hook).
func (tl *teller) mark(book identity.ID) {
	tl.mu.Lock()
	tl.dirty[book] = true
	tl.mu.Unlock()
	select {
	case tl.kick <- struct{}{}:
	default:
	}
}

// take returns the books marked, in order, and clears them.
func (tl *teller) take() []identity.ID {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	books := make([]identity.ID, 0, len(tl.dirty))
	for b := range tl.dirty {
		books = append(books, b)
	}
	clear(tl.dirty)
	slices.SortFunc(books, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
	return books
}

// startTeller registers a teller of peer's books on ch, marks every book
// of peer held, and runs it until ctx ends.
func (m *Mirror) startTeller(ctx context.Context, peer identity.ID, ch port.Port) {
	tl := &teller{author: peer, ch: ch, kick: make(chan struct{}, 1), dirty: make(map[identity.ID]bool)}
	m.mu.Lock()
	if m.tellers[peer] == nil {
		m.tellers[peer] = make(map[*teller]bool)
	}
	m.tellers[peer][tl] = true
	m.mu.Unlock()
	if infos, err := m.db.Books(ctx); err == nil {
		for _, b := range infos {
			if b.Author == peer && !b.Writable && heldFrom0(b.Have) > 0 {
				tl.mark(b.Key)
			}
		}
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		drain(ctx, ch)
	}()
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.tellers[peer], tl)
			if len(m.tellers[peer]) == 0 {
				delete(m.tellers, peer)
			}
			m.mu.Unlock()
		}()
		m.tell(ctx, tl)
	}()
}

// drain drops what arrives on ch until it closes.
func drain(ctx context.Context, ch port.Port) {
	for {
		if _, err := ch.Recv(ctx); err != nil {
			return
		}
	}
}

// tell sends tl's author a message of statements each time books are
// marked, at most one per Config.HeldEvery, until ctx ends or a send
// fails.
func (m *Mirror) tell(ctx context.Context, tl *teller) {
	told := make(map[identity.ID]uint64) // the length last told of each book
	for {
		select {
		case <-ctx.Done():
			return
		case <-tl.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.HeldEvery): // coalesce what is stored meanwhile
		}
		ss := m.statements(ctx, tl.take(), told)
		for len(ss) > 0 {
			n := min(len(ss), heldBatch)
			msg, err := held.Encode(ss[:n])
			if err == nil {
				err = tl.ch.Send(ctx, msg)
			}
			if err != nil {
				m.log.Debug("mirror: receipts not sent", "author", tl.author.Short(), "err", err)
				return
			}
			for _, s := range ss[:n] {
				told[s.Book] = s.Length
			}
			ss = ss[n:]
		}
	}
}

// heldBatch is the most statements in one message.
const heldBatch = held.MaxStatements

// statements are the signed statements of books whose length held from
// the first page grew past what was told.
func (m *Mirror) statements(ctx context.Context, books []identity.ID, told map[identity.ID]uint64) []held.Statement {
	var ss []held.Statement
	for _, k := range books {
		b, err := m.db.Get(ctx, k)
		if err != nil {
			continue
		}
		n := heldFrom0(b.Have())
		if n == 0 || n <= told[k] {
			continue
		}
		root, err := b.TreeHash(ctx, n)
		if err != nil {
			m.log.Debug("mirror: no root for a receipt", "book", k.Short(), "length", n, "err", err)
			continue
		}
		s := held.Statement{Book: k, Length: n, Root: root, Time: time.Now().UnixMilli()}
		s.Sign(m.key)
		ss = append(ss, s)
	}
	return ss
}
