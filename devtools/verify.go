package devtools

import (
	"bytes"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// checked is a book frame decoded and checked before the server's lock is
// taken: CBOR decoded, signatures verified, leaf hashes computed.
type checked struct {
	f       *report.Book
	at      int64
	head    journal.Head
	hasHead bool
	headErr error // the head does not decode or its signature fails
	up      *journal.Upgrade
	proof   *journal.RangeProof
	fork    *journal.Fork
	err     error // the upgrade, proof or fork evidence is malformed or wrong
	leaves  []tlog.Hash
	genesis *journal.Genesis // page 0, if the frame carries it
	genErr  error
}

// check decodes and checks what a book frame carries.
func check(f *report.Book, at int64) *checked {
	c := &checked{f: f, at: at}
	if len(f.Head) > 0 {
		c.hasHead = true
		c.head, c.headErr = journal.DecodeHead(f.Head)
		if c.headErr == nil && c.head.Key != f.Key {
			c.headErr = fmt.Errorf("head of book %s", c.head.Key.Short())
		}
	}
	if len(f.Upgrade) > 0 {
		var up journal.Upgrade
		switch err := journal.Unmarshal(f.Upgrade, &up); {
		case err != nil:
			c.err = fmt.Errorf("upgrade: %w", err)
		case !sameHead(&up.Head, &c.head):
			c.err = fmt.Errorf("upgrade to another head than the frame's")
		default:
			c.up = &up
		}
	}
	if len(f.Proof) > 0 {
		var p journal.RangeProof
		if err := journal.Unmarshal(f.Proof, &p); err != nil {
			c.err = fmt.Errorf("range proof: %w", err)
		} else {
			c.proof = &p
		}
	}
	if len(f.Fork) > 0 {
		var fk journal.Fork
		switch err := journal.Unmarshal(f.Fork, &fk); {
		case err != nil:
			c.err = fmt.Errorf("fork evidence: %w", err)
		case fk.Old.Key != f.Key:
			c.err = fmt.Errorf("fork evidence of book %s", fk.Old.Key.Short())
		default:
			if err := fk.Verify(); err != nil {
				c.err = err
			} else {
				c.fork = &fk
			}
		}
	}
	c.leaves = make([]tlog.Hash, len(f.Pages))
	for i, p := range f.Pages {
		c.leaves[i] = tlog.RecordHash(p)
	}
	if f.Start == 0 && len(f.Pages) > 0 {
		c.genesis, c.genErr = decodeGenesis(f.Pages[0], f)
	}
	return c
}

// decodeGenesis decodes and checks a genesis page of book f.Key.
func decodeGenesis(page []byte, f *report.Book) (*journal.Genesis, error) {
	g, err := journal.DecodeGenesis(page)
	if err == nil && g.Key != f.Key {
		err = fmt.Errorf("%w: genesis of book %s", journal.ErrBadGenesis, g.Key.Short())
	}
	return g, err
}

func sameHead(a, b *journal.Head) bool {
	return a.Key == b.Key && a.Length == b.Length && a.Root == b.Root && bytes.Equal(a.Sig, b.Sig)
}

// relation is how a signed head relates to the book's verified history.
type relation int

const (
	relUnknown relation = iota // cannot tell: no proof reaches it
	relNew                     // the first head of the book
	relNewer                   // extends the verified head, proven
	relSame                    // the verified head
	relOlder                   // a prefix of the verified history
	relFork                    // contradicts the verified history
	relBad                     // came with a proof that does not check
)

func (r relation) consistent() bool { return r >= relNew && r <= relOlder }

// relate places h against the book's verified head and tree, with the
// upgrade (consistency proof) the author sent, if any. For a fork it
// returns the journal's evidence when the server can build it.
func (b *book) relate(h *journal.Head, up *journal.Upgrade) (relation, *journal.Fork, error) {
	cur := b.cur
	switch {
	case cur.IsZero():
		return relNew, nil, nil
	case h.Length == cur.Length:
		if h.Root == cur.Root {
			return relSame, nil, nil
		}
		return relFork, &journal.Fork{Old: cur, New: *h, FromRoot: h.Root}, nil
	case h.Length < cur.Length:
		root, ok := b.tree.root(h.Length)
		if !ok {
			return relUnknown, nil, nil
		}
		if root == h.Root {
			return relOlder, nil, nil
		}
		fk := &journal.Fork{Old: *h, New: cur, FromRoot: root}
		if cur.Length <= uint64(b.tree.n) {
			if p, err := tlog.ProveTree(int64(cur.Length), int64(h.Length), &b.tree); err == nil {
				fk.Proof = p
				return relFork, fk, nil
			}
		}
		return relFork, nil, nil
	case up == nil || up.From != cur.Length:
		return relUnknown, nil, nil
	case tlog.CheckTree(up.Proof, int64(h.Length), h.Root, int64(cur.Length), cur.Root) == nil:
		return relNewer, nil, nil
	case up.FromRoot != cur.Root && tlog.CheckTree(up.Proof, int64(h.Length), h.Root, int64(cur.Length), up.FromRoot) == nil:
		return relFork, &journal.Fork{Old: cur, New: *h, FromRoot: up.FromRoot, Proof: up.Proof}, nil
	}
	return relBad, nil, fmt.Errorf("%w: head %d not consistent with %d", journal.ErrBadProof, h.Length, cur.Length)
}

// growTree extends the verified tree with the frame's pages when they
// start within it and end exactly at the head. tried says whether it
// could try; then pagesOK says whether the pages hash to the head's root.
// If they do, the tree keeps them when the head agrees with the verified
// head (rel is new, newer or same), or rel is a fork, with the evidence.
func (b *book) growTree(c *checked, maxTree int) (tried, pagesOK bool, rel relation, fork *journal.Fork) {
	h := &c.head
	start, end := c.f.Start, c.f.Start+uint64(len(c.leaves))
	n := b.tree.n
	if len(c.leaves) == 0 || end != h.Length || start > uint64(n) || end <= uint64(n) || end > uint64(maxTree) {
		return false, false, relUnknown, nil
	}
	cur := b.cur
	if !cur.IsZero() && cur.Length > end || cur.IsZero() && start > 0 {
		return false, false, relUnknown, nil // the tree would not reach the verified head
	}
	root, err := b.tree.extend(start, c.leaves)
	switch {
	case err != nil || root != h.Root:
		b.tree.truncate(n)
		return true, false, relUnknown, nil
	case cur.IsZero():
		return true, true, relNew, nil
	}
	curRoot, _ := b.tree.root(cur.Length)
	if curRoot == cur.Root {
		if h.Length == cur.Length {
			return true, true, relSame, nil
		}
		return true, true, relNewer, nil
	}
	fk := &journal.Fork{Old: cur, New: *h, FromRoot: curRoot}
	if cur.Length < h.Length {
		fk.Proof, _ = tlog.ProveTree(int64(h.Length), int64(cur.Length), &b.tree)
	} else {
		fk.FromRoot = h.Root
	}
	b.tree.truncate(n)
	return true, true, relFork, fk
}

// appendTree adds the stored hashes VerifyRange returned for pages that
// start exactly at the tree's end, under a head consistent with it.
func (b *book) appendTree(start uint64, hashes [][]tlog.Hash, maxTree int) {
	if start != uint64(b.tree.n) || start+uint64(len(hashes)) > uint64(maxTree) {
		return
	}
	for _, hs := range hashes {
		b.tree.hashes = append(b.tree.hashes, hs...)
		b.tree.n++
	}
}
