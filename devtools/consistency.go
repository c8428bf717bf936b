package devtools

import (
	"encoding/hex"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/journal"
)

// maxLinks is how many steps of a book's verified head history are kept.
const maxLinks = 64

// A link is one verified step of a book's head history: the consistency
// proof from one verified signed head to the next.
type link struct {
	from, to journal.Head
	proof    tlog.TreeProof
}

// advance makes h the verified head, keeping the step from the old one
// with its consistency proof: from the tree when it reaches h, else the
// author's upgrade. A step with no proof starts the history anew.
// Called with s.mu held.
func (b *book) advance(h *journal.Head, up *journal.Upgrade) {
	old := b.cur
	b.cur = *h
	if old.IsZero() || old.Length == h.Length {
		return
	}
	var proof tlog.TreeProof
	switch {
	case h.Length <= uint64(b.tree.n):
		p, err := tlog.ProveTree(int64(h.Length), int64(old.Length), &b.tree)
		if err != nil {
			b.links = nil
			return
		}
		proof = p
	case up != nil && up.From == old.Length:
		proof = up.Proof
	default:
		b.links = nil
		return
	}
	if len(b.links) == maxLinks {
		b.links = append(b.links[:0], b.links[1:]...)
	}
	b.links = append(b.links, link{from: old, to: *h, proof: proof})
}

// signedWithin returns the longest verified signed head whose length is
// in (i, n]: one a page i of the tree [0, n) can be proven against.
func (b *book) signedWithin(i, n uint64) (journal.Head, bool) {
	var best journal.Head
	consider := func(h *journal.Head) {
		if h.Length > i && h.Length <= n && h.Length > best.Length {
			best = *h
		}
	}
	consider(&b.cur)
	for k := range b.links {
		consider(&b.links[k].from)
		consider(&b.links[k].to)
	}
	return best, !best.IsZero()
}

// consistency proves the verified head from h (a verified signed head,
// or the tree's root) on: one step from the tree when it reaches the
// head, else the kept history's steps from h. ok is false when neither
// reaches h.
func (b *book) consistency(length uint64, root tlog.Hash) (steps []ConsistencyView, ok bool) {
	cur := b.cur
	if length == cur.Length && root == cur.Root {
		return nil, true
	}
	if cur.Length <= uint64(b.tree.n) && length < cur.Length {
		if r, _ := b.tree.root(length); r != root {
			return nil, false
		}
		p, err := tlog.ProveTree(int64(cur.Length), int64(length), &b.tree)
		if err != nil {
			return nil, false
		}
		return []ConsistencyView{stepView(length, root, &cur, p)}, true
	}
	for k := len(b.links) - 1; k >= 0; k-- {
		l := &b.links[k]
		if l.from.Length == length && l.from.Root == root {
			for _, l := range b.links[k:] {
				steps = append(steps, stepView(l.from.Length, l.from.Root, &l.to, l.proof))
			}
			return steps, true
		}
	}
	return nil, false
}

func stepView(length uint64, root tlog.Hash, to *journal.Head, p tlog.TreeProof) ConsistencyView {
	return ConsistencyView{From: length, FromRoot: hex.EncodeToString(root[:]), To: headView(to), Proof: hexs(p)}
}
