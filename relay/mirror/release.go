//go:build !js

package mirror

import (
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// release deletes the books cl's peer authored and pins no more (package
// held's "release", issue #16): their pages leave the disk and the
// author's quota. A book of another author, or one not held, is skipped:
// a release frees only the sender's own books. A book the set's other
// mirrors still hold may come back with their next re-pin until the
// author's release reaches them too (it sends it to every mirror it
// lists).
func (m *Mirror) release(cl *client, books []identity.ID) error {
	for _, key := range books {
		b, err := m.db.Get(m.ctx, key)
		if err != nil {
			continue // not held (or unreadable: kept)
		}
		info := b.Info()
		if info.Author != cl.peer || info.Writable {
			m.log.Info("mirror: a release of a book the sender did not write ignored", "peer", cl.peer.Short(), "book", key.Short())
			continue
		}
		pages, size, err := m.pagesOf(b, info)
		if err == nil {
			_, err = m.db.DeleteBook(m.ctx, key)
		}
		if err != nil {
			// The port stays open: a release is the author's wish, not a
			// protocol error. The book stays, counted as it was.
			m.log.Warn("mirror: a release failed", "author", cl.peer.Short(), "book", key.Short(), "err", err)
			continue
		}
		m.unpin(info, pages, size)
		m.released.Add(1)
		m.log.Info("mirror: a book released by its author", "author", cl.peer.Short(), "book", key.Short(), "bytes", size)
	}
	return nil
}

// pagesOf counts the pages of b held from its first, and their bytes, as
// the quota counted them.
func (m *Mirror) pagesOf(b *journal.Book, info journal.BookInfo) (int64, int64, error) {
	n := heldFrom0(info.Have)
	var size int64
	for start := uint64(0); start < n; start += 1024 {
		pages, err := b.GetRange(m.ctx, start, min(start+1024, n))
		if err != nil {
			return 0, 0, err
		}
		for _, p := range pages {
			size += int64(len(p))
		}
	}
	return int64(n), size, nil
}

// unpin takes a deleted book out of its author's quota.
func (m *Mirror) unpin(info journal.BookInfo, pages, size int64) {
	author, ok := journal.NameAuthor(info.Name)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usageLocked(author)
	if pages > 0 {
		u.books = max(0, u.books-1)
	}
	u.pages = max(0, u.pages-pages)
	u.bytes = max(0, u.bytes-size)
}
