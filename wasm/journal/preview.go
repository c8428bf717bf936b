package journal

import (
	"bytes"
	"sync"
)

// Preview verifies pages [start, start+len(pages)) of a replica, proven
// with proof against up's head — the head's signature and the pages'
// inclusion under its root — and, if they verify, tells the Verified
// hooks (an EventPut with no Name), without taking the book's lock: a
// reader shows a page pushed to it while an earlier write of the book is
// still in flight. Nothing is stored or changed. The pages are checked
// again, against the pages held, when they are stored (AcceptHeadPages),
// and they may never be: a head older than the replica's or one that
// forks it is refused then, as before. Page 0 (the genesis) is not
// previewed. It reports whether the hooks were told, and why the head or
// the pages do not verify if they were checked and do not (nothing is
// checked with no hook, for the genesis or for no pages).
func (b *Book) Preview(up *Upgrade, start uint64, pages [][]byte, proof *RangeProof) (bool, error) {
	if start == 0 || len(pages) == 0 || proof == nil || !b.db.previewed() {
		return false, nil
	}
	if err := b.checkUpgrade(up); err != nil {
		return false, err
	}
	if _, err := VerifyRange(&up.Head, start, pages, proof); err != nil {
		return false, err
	}
	b.db.emitVerified(&Event{Type: EventPut, Book: b.key, Index: start, Pages: pages, Head: up.Head})
	return true, nil
}

// previewed reports whether a Verified hook is registered.
func (db *DB) previewed() bool {
	db.hookMu.Lock()
	defer db.hookMu.Unlock()
	return len(db.verified) > 0
}

// verifiedHeads remembers the last heads whose signatures a book verified:
// a head previewed is verified once, not again when its pages are stored
// (a session previews up to a few messages ahead of the one it stores).
type verifiedHeads struct {
	mu    sync.Mutex
	heads [8]Head // a ring; Sig is a copy
	next  int
}

// verify checks h's signature, unless it is one of the heads verified last.
func (v *verifiedHeads) verify(h *Head) error {
	v.mu.Lock()
	for i := range v.heads {
		k := &v.heads[i]
		if k.Key == h.Key && k.Length == h.Length && k.Root == h.Root && len(h.Sig) > 0 && bytes.Equal(k.Sig, h.Sig) {
			v.mu.Unlock()
			return nil
		}
	}
	v.mu.Unlock()
	if err := h.Verify(); err != nil {
		return err
	}
	v.mu.Lock()
	v.heads[v.next] = Head{Key: h.Key, Length: h.Length, Root: h.Root, Sig: bytes.Clone(h.Sig)}
	v.next = (v.next + 1) % len(v.heads)
	v.mu.Unlock()
	return nil
}
