package room

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Equivocation detection. Every chat log is one-way per pair, so an author
// could write different content under one mid for different readers. Each
// member tells the others what it holds of every third member's messages:
// a digest message per author, with the SHA-256 of each message as the
// author addressed it to all (head.to cleared, re-encoded), sent when
// messages arrive and, for the last digestOnConnect of each author, when a
// port to a member opens. A member that holds a message whose digest
// differs asks the sender for its copy (prove) and gets it with the
// author's signed head and range proofs (proof): both copies, verified,
// are an Equivocation, reported as EventEquivocation and listed in
// MemberInfo.Equivocations of the author.

const (
	digestOnConnect   = 64   // digests of each author's last messages sent when a port opens
	maxProving        = 1024 // copies asked for and not yet received
	maxProvingPerPeer = 16   // of those, asked of one member
	provingTTL        = 30 * time.Second
	proveWorkers      = 2 // copies made at once (each reads a whole book), over all ports
	maxCopyProof      = 64 * sha256.Size
	maxCopyHead       = 1 << 10
)

// A Copy is one reader's copy of an author's message, as evidence: the
// author's book to that reader (its key), the page at index (= the mid),
// the author's signed head of that book (CBOR, as journal.Head), the
// book's genesis (binding the key to the author, the reader and the task),
// and RFC 6962 record proofs (tlog.RecordProof, the hashes concatenated)
// of both pages against the head's root.
type Copy struct {
	Reader       identity.ID `json:"reader"`
	Book         identity.ID `json:"book"`
	Index        uint64      `json:"index"`
	Head         []byte      `json:"head"`
	Page         []byte      `json:"page"`
	Proof        []byte      `json:"proof"`
	Genesis      []byte      `json:"genesis"`
	GenesisProof []byte      `json:"genesisProof"`
}

// An Equivocation is the evidence that an author wrote two different
// messages under one mid of a task: two copies, each signed by the author,
// for two readers.
type Equivocation struct {
	Task   TaskID      `json:"task"`
	Author identity.ID `json:"author"`
	Mid    uint64      `json:"mid"`
	Copies [2]Copy     `json:"copies"` // this profile's, then the other reader's
}

// An Opener returns the payload of the sealed page index of a book of the
// task (sealing.go).
type Opener func(book identity.ID, index uint64, page []byte) ([]byte, error)

// Verify checks both copies and that they differ as messages, opening
// their pages with open (nil: plain pages).
func (e *Equivocation) Verify(open Opener) error {
	a, err := e.Copies[0].verify(e.Task, e.Author, e.Mid, open)
	if err != nil {
		return err
	}
	b, err := e.Copies[1].verify(e.Task, e.Author, e.Mid, open)
	if err != nil {
		return err
	}
	if a == b {
		return fmt.Errorf("%w: the two copies are the same message", ErrBadEvidence)
	}
	return nil
}

func (c *Copy) checkSizes() error {
	if len(c.Head) > maxCopyHead || len(c.Page) > maxPage || len(c.Genesis) > journal.MaxGenesisMeta+maxCopyHead ||
		len(c.Proof) > maxCopyProof || len(c.GenesisProof) > maxCopyProof {
		return fmt.Errorf("%w: a field is too large", ErrBadEvidence)
	}
	return nil
}

// verify checks a copy of author's message mid in task and returns the
// message's digest.
func (c *Copy) verify(task TaskID, author identity.ID, mid uint64, open Opener) (d [sha256.Size]byte, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w: copy for %s: %w", ErrBadEvidence, c.Reader.Short(), err)
		}
	}()
	if err := c.checkSizes(); err != nil {
		return d, err
	}
	head, err := journal.DecodeHead(c.Head)
	if err != nil {
		return d, err
	}
	if head.Key != c.Book || c.Index != mid || mid == 0 || mid >= head.Length {
		return d, errors.New("the head is not of that book, or does not hold the page")
	}
	for _, p := range []struct {
		at    uint64
		page  []byte
		proof []byte
	}{{0, c.Genesis, c.GenesisProof}, {c.Index, c.Page, c.Proof}} {
		if len(p.proof)%sha256.Size != 0 {
			return d, errors.New("a proof is not a list of hashes")
		}
		proof := make(tlog.RecordProof, len(p.proof)/sha256.Size)
		for i := range proof {
			copy(proof[i][:], p.proof[i*sha256.Size:])
		}
		if err := tlog.CheckRecord(proof, int64(head.Length), head.Root, int64(p.at), tlog.RecordHash(p.page)); err != nil {
			return d, fmt.Errorf("page %d: %w", p.at, err)
		}
	}
	g, err := journal.DecodeGenesis(c.Genesis)
	if err != nil {
		return d, err
	}
	if g.Author != author || g.Key != c.Book || g.Name != pairName(author, c.Reader, task) {
		return d, fmt.Errorf("the book is %q by %s", g.Name, g.Author.Short())
	}
	page := c.Page
	if open != nil {
		if page, err = open(c.Book, c.Index, page); err != nil {
			return d, err
		}
	}
	msg, err := decodeAt(page, author, mid)
	if err != nil {
		return d, err
	}
	return digest(msg), nil
}

// digest is the SHA-256 of a message as its author addressed it to all;
// zero for an invalid page (not compared: its bytes name its reader).
func digest(msg Message) [sha256.Size]byte {
	if msg.Type == TypeInvalid {
		return [sha256.Size]byte{}
	}
	msg.Head.To = identity.ID{}
	b, err := msg.Encode()
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(b)
}

// inBook returns the author's book to this profile in task t, nil if none.
func (m *Messenger) inBook(t *task, author identity.ID) *journal.Book {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mb := t.members[author]; mb != nil {
		return mb.in
	}
	return nil
}

// digests returns the digests of author's messages [start, start+n) this
// profile holds (fewer if it holds fewer).
func (m *Messenger) digests(ctx context.Context, t *task, author identity.ID, start, n uint64) []byte {
	if ds, ok := m.cachedDigests(t, author, start, n); ok {
		return ds
	}
	in := m.inBook(t, author)
	if in == nil {
		return nil
	}
	src := m.sourceOf(t, in, author, 0)
	if !m.replicaOK(t, src, 0) {
		return nil
	}
	held, _ := src.Len(ctx)
	end := min(start+n, uint64(held)+1)
	if start < 1 || start >= end {
		return nil
	}
	msgs, err := src.GetRange(ctx, int(start-1), int(end-1))
	if err != nil {
		return nil
	}
	out := make([]byte, 0, len(msgs)*sha256.Size)
	for _, msg := range msgs {
		d := digest(msg)
		out = append(out, d[:]...)
	}
	return out
}

// sendDigests sends c the digests of author's messages [start, start+n)
// in task t, in messages of at most maxDigests.
func (m *Messenger) sendDigests(ctx context.Context, c *conn, t *task, author identity.ID, start, n uint64) {
	for n > 0 {
		k := min(n, maxDigests)
		if ds := m.digests(ctx, t, author, start, k); len(ds) > 0 {
			if err := m.send(ctx, c, wire{Type: wireDigest, Task: t.id, Author: author, Start: start, Digests: ds}); err != nil {
				return
			}
		}
		start, n = start+k, n-k
	}
}

// peersFor returns the live replicating ports to the task's paired members
// other than author.
func (m *Messenger) peersFor(t *task, author identity.ID) []*conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cs []*conn
	for id, mb := range t.members {
		if c := m.conns[id]; id != author && c != nil && c.synced && mb.in != nil && mb.out != nil {
			cs = append(cs, c)
		}
	}
	return cs
}

// heldDigests are the digests of an author's messages received lately, so
// digests are sent and compared without reading the books again. Guarded
// by Messenger.mu.
type heldDigests struct {
	byMid            map[uint64][sha256.Size]byte // the last maxHeldDigests received
	pendFrom, pendTo uint64                       // mids received and not yet told: [from, to)
}

const maxHeldDigests = 1024 // per author and task: ~80 KiB

// holdDigestLocked records the digest of author's message mid, received
// just now (nil: not kept, an older message of a catch-up), to be told to
// the other members at the next flush. Called with m.mu held.
func (t *task) holdDigestLocked(author identity.ID, mid uint64, d *[sha256.Size]byte) {
	h := t.held[author]
	if h == nil {
		h = &heldDigests{byMid: make(map[uint64][sha256.Size]byte)}
		t.held[author] = h
	}
	if d != nil {
		h.byMid[mid] = *d
	}
	if mid >= maxHeldDigests {
		delete(h.byMid, mid-maxHeldDigests)
	}
	if h.pendTo == 0 {
		h.pendFrom, h.pendTo = mid, mid+1
	} else {
		h.pendFrom, h.pendTo = min(h.pendFrom, mid), max(h.pendTo, mid+1)
	}
}

// cachedDigests returns the held digests of author's messages
// [start, start+n), if every one is held.
func (m *Messenger) cachedDigests(t *task, author identity.ID, start, n uint64) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := t.held[author]
	if h == nil {
		return nil, false
	}
	out := make([]byte, 0, n*sha256.Size)
	for mid := start; mid < start+n; mid++ {
		d, ok := h.byMid[mid]
		if !ok {
			return nil, false
		}
		out = append(out, d[:]...)
	}
	return out, true
}

// flushDigests tells the other members, once per batch the worker took,
// the digests of what arrived from each author (one message per peer,
// author and up to maxDigests mids, built once). The sends run apart, so a
// slow port holds up no one.
func (m *Messenger) flushDigests() {
	type batch struct {
		t      *task
		author identity.ID
		start  uint64
		ds     []byte
	}
	var bs []batch
	m.mu.Lock()
	for _, t := range m.tasks {
		for author, h := range t.held {
			if h.pendTo == 0 {
				continue
			}
			from := max(h.pendFrom, h.pendTo-min(h.pendTo, maxHeldDigests))
			ds := make([]byte, 0, (h.pendTo-from)*sha256.Size)
			for mid := from; mid < h.pendTo; mid++ {
				d := h.byMid[mid] // zero if not held: not compared
				ds = append(ds, d[:]...)
			}
			bs = append(bs, batch{t, author, from, ds})
			h.pendFrom, h.pendTo = 0, 0
		}
	}
	m.mu.Unlock()
	for _, b := range bs {
		for _, c := range m.peersFor(b.t, b.author) {
			m.goSend(func(ctx context.Context) {
				for i := 0; i < len(b.ds); i += maxDigests * sha256.Size {
					chunk := b.ds[i:min(len(b.ds), i+maxDigests*sha256.Size)]
					start := b.start + uint64(i/sha256.Size)
					if err := m.send(ctx, c, wire{Type: wireDigest, Task: b.t.id, Author: b.author, Start: start, Digests: chunk}); err != nil {
						return
					}
				}
			})
		}
	}
}

// digestOnOpen sends a member whose port just opened the digests of the
// last digestOnConnect messages of every other author of the tasks they
// share.
func (m *Messenger) digestOnOpen(c *conn) {
	type job struct {
		t      *task
		author identity.ID
	}
	var jobs []job
	m.mu.Lock()
	for _, t := range m.tasks {
		if mb := t.members[c.peer]; mb == nil || mb.in == nil || mb.out == nil {
			continue
		}
		for id, mb := range t.members {
			if id != c.peer && mb.in != nil {
				jobs = append(jobs, job{t, id})
			}
		}
	}
	m.mu.Unlock()
	if len(jobs) == 0 {
		return
	}
	m.goSend(func(ctx context.Context) {
		for _, j := range jobs {
			in := m.inBook(j.t, j.author)
			if in == nil {
				continue // removed since the port opened
			}
			n, _ := BookSource{Book: in, Author: j.author}.Len(ctx)
			from := max(1, uint64(n)+1-min(uint64(n), digestOnConnect))
			m.sendDigests(ctx, c, j.t, j.author, from, uint64(n)+1-from)
		}
	})
}

// goSend runs a send in its own goroutine, bounded in time.
func (m *Messenger) goSend(f func(ctx context.Context)) {
	m.goWork(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		f(ctx)
	})
}

// goWork runs f in its own goroutine until it returns or the messenger
// closes (its ctx is the messenger's); Close waits for it. Nothing runs
// once the messenger closed.
func (m *Messenger) goWork(f func(ctx context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f(m.ctx)
	}()
}

type proveKey struct {
	task   TaskID
	author identity.ID
	mid    uint64
	peer   identity.ID
}

// memberTask returns task id if both c's peer and author are members of it
// (author may be this profile only if self is allowed).
func (m *Messenger) memberTask(c *conn, id TaskID, author identity.ID) *task {
	t := m.task(id)
	if t == nil || author == m.self || author == c.peer || !m.isMember(t, c.peer) || !m.isMember(t, author) {
		return nil
	}
	return t
}

// onDigest compares a member's digests of an author's messages with this
// profile's, and asks for the member's copy of any that differs.
func (m *Messenger) onDigest(c *conn, w wire) {
	t := m.memberTask(c, w.Task, w.Author)
	if t == nil {
		return
	}
	n := uint64(len(w.Digests) / sha256.Size)
	mine := m.digests(m.ctx, t, w.Author, w.Start, n)
	var zero [sha256.Size]byte
	for i := 0; i+sha256.Size <= len(mine); i += sha256.Size {
		a, b := mine[i:i+sha256.Size], w.Digests[i:i+sha256.Size]
		if bytes.Equal(a, b) || bytes.Equal(a, zero[:]) || bytes.Equal(b, zero[:]) {
			continue
		}
		mid := w.Start + uint64(i/sha256.Size)
		k := proveKey{t.id, w.Author, mid, c.peer}
		m.mu.Lock()
		ask := t.equiv[w.Author][mid] == nil && m.askLocked(k, time.Now())
		m.mu.Unlock()
		if ask {
			m.goSend(func(ctx context.Context) {
				_ = m.send(ctx, c, wire{Type: wireProve, Task: t.id, Author: w.Author, Start: mid})
			})
		}
	}
}

// askLocked reports whether to ask for a copy (k), recording it asked at
// now: not if it was asked within provingTTL, nor beyond maxProvingPerPeer
// asked of k.peer or maxProving in all. An ask expires after provingTTL
// (a copy that never comes), or when the port to its peer closes
// (dropProving), so no member can switch the detection off. Called with
// m.mu held.
func (m *Messenger) askLocked(k proveKey, now time.Time) bool {
	if at, ok := m.proving[k]; ok && now.Sub(at) < provingTTL {
		return false
	}
	n := 0
	for k2, at := range m.proving {
		switch {
		case now.Sub(at) >= provingTTL:
			delete(m.proving, k2)
		case k2.peer == k.peer:
			n++
		}
	}
	if n >= maxProvingPerPeer || len(m.proving) >= maxProving {
		return false
	}
	m.proving[k] = now
	return true
}

// dropProving forgets the copies asked of peer (its port closed: they
// are asked again on the next).
func (m *Messenger) dropProving(peer identity.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.proving {
		if k.peer == peer {
			delete(m.proving, k)
		}
	}
}

// proveLoop answers a port's proves (at most maxProves, queued in
// c.proveQ by the room reader, which never waits for one), proveWorkers
// at once over all ports. Runs in a goroutine the caller added to m.wg.
func (m *Messenger) proveLoop(c *conn) {
	defer m.wg.Done()
	for {
		select {
		case w := <-c.proveQ:
			select {
			case m.proveSem <- struct{}{}:
			case <-c.mux.Done():
				return
			case <-m.ctx.Done():
				return
			}
			m.onProve(c, w)
			<-m.proveSem
		case <-c.mux.Done():
			return
		case <-m.ctx.Done():
			return
		}
	}
}

// onProve answers with this profile's copy of an author's message.
func (m *Messenger) onProve(c *conn, w wire) {
	t := m.memberTask(c, w.Task, w.Author)
	if t == nil {
		return
	}
	if m.proveHook != nil {
		m.proveHook()
	}
	cp, err := m.copyOf(m.ctx, t, w.Author, w.Start)
	if err != nil {
		m.log.Debug("room: prove", "peer", c.peer.Short(), "err", err)
		return
	}
	m.goSend(func(ctx context.Context) {
		_ = m.send(ctx, c, wire{Type: wireProof, Task: t.id, Author: w.Author, Start: w.Start, Copy: cp})
	})
}

// copyOf returns this profile's copy of author's message mid in t. A
// replica serves no proofs (journal.Book.RangeProof), so the record
// proofs are computed here from the pages held, up to maxEvidencePages.
func (m *Messenger) copyOf(ctx context.Context, t *task, author identity.ID, mid uint64) (*Copy, error) {
	in := m.inBook(t, author)
	if in == nil {
		return nil, journal.ErrNotFound
	}
	head := in.Head()
	have := in.Have()
	switch {
	case mid == 0 || mid >= head.Length:
		return nil, fmt.Errorf("room: no message %d of %s held", mid, author.Short())
	case len(have) == 0 || have[0].Start != 0 || have[0].End < head.Length:
		return nil, fmt.Errorf("room: the book of %s is not held up to its head yet", author.Short())
	case head.Length > maxEvidencePages:
		return nil, fmt.Errorf("room: the book of %s is too long (%d pages) to prove from", author.Short(), head.Length)
	}
	cp := &Copy{Reader: m.person, Book: in.Key(), Index: mid}
	var err error
	if cp.Head, err = journal.Marshal(head); err != nil {
		return nil, err
	}
	if cp.Page, err = in.Get(ctx, mid); err != nil {
		return nil, err
	}
	if cp.Genesis, err = in.Get(ctx, 0); err != nil {
		return nil, err
	}
	hashes, err := treeOf(ctx, in, head.Length)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		at  uint64
		out *[]byte
	}{{mid, &cp.Proof}, {0, &cp.GenesisProof}} {
		proof, err := tlog.ProveRecord(int64(head.Length), int64(p.at), hashes)
		if err != nil {
			return nil, err
		}
		for _, h := range proof {
			*p.out = append(*p.out, h[:]...)
		}
	}
	return cp, nil
}

// maxEvidencePages bounds the books a copy is proven from (the proof is
// computed from every page: 64 bytes of hashes each).
const maxEvidencePages = 1 << 16

// treeOf returns the stored hashes of a book's first n pages, computed
// from the pages.
func treeOf(ctx context.Context, b *journal.Book, n uint64) (tlog.HashReader, error) {
	hashes := make([]tlog.Hash, 0, 2*n)
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, fmt.Errorf("room: hash %d of %d", x, len(hashes))
			}
			out[i] = hashes[x]
		}
		return out, nil
	})
	for start := uint64(0); start < n; start += 1024 {
		pages, err := b.GetRange(ctx, start, min(n, start+1024))
		if err != nil {
			return nil, err
		}
		for i, p := range pages {
			hs, err := tlog.StoredHashes(int64(start)+int64(i), p, r)
			if err != nil {
				return nil, err
			}
			hashes = append(hashes, hs...)
		}
	}
	return r, nil
}

// onProof takes a copy this profile asked for: if it verifies and differs
// from this profile's, the author equivocated.
func (m *Messenger) onProof(c *conn, w wire) {
	k := proveKey{w.Task, w.Author, w.Start, c.peer}
	m.mu.Lock()
	_, asked := m.proving[k]
	delete(m.proving, k)
	m.mu.Unlock()
	t := m.memberTask(c, w.Task, w.Author)
	if !asked || t == nil || w.Copy.Reader != m.PersonOf(c.peer) {
		return
	}
	mine, err := m.copyOf(m.ctx, t, w.Author, w.Start)
	if err != nil {
		return
	}
	e := &Equivocation{Task: t.id, Author: w.Author, Mid: w.Start, Copies: [2]Copy{*mine, *w.Copy}}
	if err := e.Verify(m.opener(t)); err != nil {
		m.log.Warn("room: evidence from "+c.peer.Short(), "err", err)
		return
	}
	m.mu.Lock()
	if t.equiv[w.Author] == nil {
		t.equiv[w.Author] = make(map[uint64]*Equivocation)
	}
	dup := t.equiv[w.Author][w.Start] != nil
	if !dup {
		t.equiv[w.Author][w.Start] = e
	}
	m.mu.Unlock()
	if !dup {
		m.log.Warn("room: a member equivocated", "author", w.Author.Short(), "task", t.id, "mid", w.Start)
		m.emit(Event{Type: EventEquivocation, Task: t.id, Peer: w.Author, Evidence: e})
	}
}
