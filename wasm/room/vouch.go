package room

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	mirrorheld "github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// "On a mirror" (issue #13): a mirror tells this profile, on channel
// port.ChannelHeld of the port to it, how far it holds each of this
// profile's books, in statements signed with its identity key (package
// held). A statement counts only if its signature is the mirror's, its
// book is one of this profile's books to a member, and its root is that
// book's own tree hash at its length: a mirror can vouch only for pages
// this profile wrote, as it wrote them. Any other is ignored and logged.
// The messenger keeps, in memory, each mirror's highest word per member
// (the mirror tells everything it holds again on each port that opens) as
// the highest of this profile's messages it covers (MemberInfo.Mirrored,
// .Vouches), and reports it (EventReceipt, State "mirror").

// A Vouch is a mirror's verified word about this profile's book to a
// member: it holds the book from its first page up to Length, which
// covers this profile's messages up to Mid (their number in this
// profile's log).
type Vouch struct {
	Mirror identity.ID `json:"mirror"`
	Mid    uint64      `json:"mid"`
	Length uint64      `json:"length"`
	Time   int64       `json:"time"` // when the mirror said so: Unix ms, its clock
}

// readHeld takes the statements a mirror sends on ch until it closes.
func (m *Messenger) readHeld(mirror identity.ID, ch port.Port) {
	defer m.wg.Done()
	for {
		b, err := ch.Recv(m.ctx)
		if err != nil {
			return
		}
		ss, err := mirrorheld.Decode(b)
		if err != nil {
			m.log.Warn("room: a mirror's receipts ignored", "mirror", mirror.Short(), "err", err)
			continue
		}
		m.onVouched(m.ctx, mirror, ss)
	}
}

// outBook is one of this profile's books to a member.
type outBook struct {
	t    *task
	mb   *member
	book *journal.Book
	from uint64 // its page p holds the log's message from+p
}

// onVouched takes a mirror's statements: it keeps those that verify and
// reports the members whose messages a mirror now holds further.
func (m *Messenger) onVouched(ctx context.Context, mirror identity.ID, ss []mirrorheld.Statement) {
	m.mu.Lock()
	outs := make(map[identity.ID]outBook)
	for _, t := range m.tasks {
		for _, mb := range t.members {
			if mb.out != nil {
				outs[mb.out.Key()] = outBook{t, mb, mb.out, mb.outFrom}
			}
		}
	}
	m.mu.Unlock()
	var bad int
	var why error
	changed := make(map[*member]*task)
	for _, s := range ss {
		o, ok := outs[s.Book]
		if !ok {
			// A book of another profile, or of this one's no longer
			// written (before a successor): nothing to show.
			m.log.Debug("room: a mirror's receipt of a book not written to a member", "mirror", mirror.Short(), "book", s.Book.Short())
			continue
		}
		if err := verifyHeld(ctx, mirror, s, o.book); err != nil {
			bad++
			why = err
			continue
		}
		v := Vouch{Mirror: mirror, Mid: o.from + s.Length - 1, Length: s.Length, Time: s.Time}
		m.mu.Lock()
		if o.mb.vouches == nil {
			o.mb.vouches = make(map[identity.ID]Vouch)
		}
		if v.Mid > o.mb.vouches[mirror].Mid || o.mb.vouches[mirror].Length == 0 {
			o.mb.vouches[mirror] = v
			changed[o.mb] = o.t
		}
		m.mu.Unlock()
	}
	if bad > 0 {
		m.log.Warn("room: a mirror's receipts ignored", "mirror", mirror.Short(), "count", bad, "err", why)
	}
	for mb, t := range changed {
		m.emit(Event{Type: EventReceipt, Task: t.id, Peer: mb.id, State: "mirror"})
	}
}

// verifyHeld checks a statement of mirror about this profile's book: its
// signature, and its root against the book's own tree hash.
func verifyHeld(ctx context.Context, mirror identity.ID, s mirrorheld.Statement, book *journal.Book) error {
	if err := s.Verify(mirror); err != nil {
		return err
	}
	if n := book.Len(); s.Length > n {
		return fmt.Errorf("room: mirror %s says it holds %d pages of book %s, which has %d", mirror.Short(), s.Length, s.Book.Short(), n)
	}
	root, err := book.TreeHash(ctx, s.Length)
	if err != nil {
		return err
	}
	if root != s.Root {
		return fmt.Errorf("room: mirror %s holds book %s up to %d with another root than this profile wrote", mirror.Short(), s.Book.Short(), s.Length)
	}
	return nil
}

// vouchedLocked is how far mirrors vouch they hold this profile's
// messages to mb: the highest mid, and each mirror's word (by id). Called
// with Messenger.mu held.
func (mb *member) vouchedLocked() (uint64, []Vouch) {
	if len(mb.vouches) == 0 {
		return 0, nil
	}
	var top uint64
	vs := make([]Vouch, 0, len(mb.vouches))
	for _, v := range mb.vouches {
		top = max(top, v.Mid)
		vs = append(vs, v)
	}
	// By mirror (sort.Slice: one sort in the module for every element type, docs/benchmarks.md "Module size").
	sort.Slice(vs, func(i, j int) bool { return bytes.Compare(vs[i].Mirror[:], vs[j].Mirror[:]) < 0 })
	return top, vs
}
