package devtools

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// The API's JSON views. Builders run with s.mu held.

// PeerView is a peer in GET /api/peers.
type PeerView struct {
	ID        identity.ID `json:"id"`
	Alias     string      `json:"alias"`
	Agent     string      `json:"agent,omitempty"`
	Connected bool        `json:"connected"`
	Since     time.Time   `json:"since"`
	Seen      time.Time   `json:"seen"`
	Closed    string      `json:"closed,omitempty"`
	Sessions  int         `json:"sessions"`
	Books     int         `json:"books"`
	Dropped   uint64      `json:"dropped"` // events its reporter dropped
	Status    Status      `json:"status"`  // its worst copy's
}

// PeerDetail is GET /api/peers/{id}: the peer, its books and its recent
// events with no book.
type PeerDetail struct {
	PeerView
	Copies        []CopyView `json:"books"`
	Events        []*Event   `json:"events"`
	EventsDropped uint64     `json:"eventsDropped"`
}

// CopyView is a peer's copy of a book.
type CopyView struct {
	Key     identity.ID   `json:"key"`
	Name    string        `json:"name,omitempty"`
	Author  identity.ID   `json:"author,omitzero"`
	Task    string        `json:"task,omitempty"`
	Peer    identity.ID   `json:"peer"`
	Alias   string        `json:"alias,omitempty"`
	Role    string        `json:"role"` // author or reader
	Length  uint64        `json:"length"`
	Have    []report.Span `json:"have"`
	Status  Status        `json:"status"`
	Problem string        `json:"problem,omitempty"`
}

// BookView is a book in GET /api/books.
type BookView struct {
	Key     identity.ID   `json:"key"`
	Name    string        `json:"name"`
	Author  identity.ID   `json:"author,omitzero"`
	Reader  identity.ID   `json:"reader,omitzero"`
	Task    string        `json:"task,omitempty"`
	Length  uint64        `json:"length"`
	Status  Status        `json:"status"`
	Readers []identity.ID `json:"readers"` // peers that reported a replica
}

// BookDetail is GET /api/books/{key}.
type BookDetail struct {
	BookView
	Head      *HeadView      `json:"head"`
	Tree      int64          `json:"tree"` // pages of the verified tree the server holds
	Genesis   *GenesisView   `json:"genesis"`
	Copies    []CopyView     `json:"copies"`
	Fork      *ForkView      `json:"fork"`
	Problems  []*Problem     `json:"problems"`
	Retention RetentionView  `json:"retention"`
	Events    EventCountView `json:"events"`
}

// HeadView is a signed head.
type HeadView struct {
	Length uint64 `json:"length"`
	Root   string `json:"root"` // hex
	Sig    string `json:"sig"`  // hex
}

// GenesisView is a book's verified page 0.
type GenesisView struct {
	Author identity.ID `json:"author"`
	Name   string      `json:"name"`
	Meta   string      `json:"meta,omitempty"` // as text, if it is
}

// ForkView says why a book is forked, with the evidence if held.
type ForkView struct {
	Note     string    `json:"note"`
	Evidence bool      `json:"evidence"` // journal.Fork evidence, verified
	Old      *HeadView `json:"old,omitempty"`
	New      *HeadView `json:"new,omitempty"`
}

// RetentionView says what the server keeps of a book's pages.
type RetentionView struct {
	Pages        int    `json:"pages"`
	Genesis      bool   `json:"genesis"` // page 0 is held: it always is, once verified
	First        uint64 `json:"first"`   // the first page held after the genesis (0: none)
	Last         uint64 `json:"last"`
	Dropped      uint64 `json:"dropped"`
	DroppedBelow uint64 `json:"droppedBelow"`
	Cap          int    `json:"cap"`
	Note         string `json:"note,omitempty"`
}

// EventCountView counts a book's timeline events.
type EventCountView struct {
	Kept    int    `json:"kept"`
	Dropped uint64 `json:"dropped"`
}

// PageView is a retained page.
type PageView struct {
	Index   uint64       `json:"index"`
	Status  Status       `json:"status"`
	Size    int          `json:"size"`
	Leaf    string       `json:"leaf"` // hex
	By      identity.ID  `json:"by"`
	Error   string       `json:"error,omitempty"`
	Data    []byte       `json:"data"`           // raw, base64
	Text    *string      `json:"text,omitempty"` // the page as text, if it is UTF-8 (never for a sealed page)
	Message *MessageView `json:"message,omitempty"`
	Genesis *GenesisView `json:"genesis,omitempty"`
	Note    string       `json:"note,omitempty"` // why it is not parsed as a message
	// Sealed says the page is sealed (wasm/seal: its first byte is
	// seal.Version): Data is the ciphertext, verified like any page, and
	// Epoch the epoch of the secret it was sealed with.
	Sealed bool   `json:"sealed,omitempty"`
	Epoch  uint32 `json:"epoch,omitempty"`
	// OpenedBy is the reporting tab whose plaintext of a sealed page is
	// shown: Plain, PlainText and Message are its word, not verified (the
	// server holds no key). Zero: no reporting tab could open the page.
	OpenedBy  identity.ID `json:"openedBy,omitzero"`
	Plain     []byte      `json:"plain,omitempty"`     // base64
	PlainText *string     `json:"plainText,omitempty"` // Plain as text, if it is UTF-8
}

// MessageView is a page in the messenger's standard message format,
// {head: [by, to, mid], refs: {cause: [by, mid]}, type, data, meta: {date, clock}},
// as fields.
type MessageView struct {
	By    identity.ID     `json:"by"`
	To    identity.ID     `json:"to,omitzero"`
	Mid   uint64          `json:"mid"`
	Cause *room.Ref       `json:"cause,omitempty"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data,omitempty"`
	Date  int64           `json:"date"`
	Clock uint64          `json:"clock"`
}

// ProofView is a page's proof: an inclusion proof against a head from
// the verified tree, or the range proof it was verified with.
type ProofView struct {
	Index    uint64    `json:"index"`
	Leaf     string    `json:"leaf"`
	Kind     string    `json:"kind"` // inclusion or range
	Head     *HeadView `json:"head"`
	Signed   bool      `json:"signed"` // Head is the book's signed head (else the tree's root at that length)
	Proof    []string  `json:"proof,omitempty"`
	Start    uint64    `json:"start,omitempty"` // range: the pages proven together
	End      uint64    `json:"end,omitempty"`
	Left     []string  `json:"left,omitempty"` // range: the subtree hashes left of start
	Tree     []string  `json:"tree,omitempty"` // range: consistency proof to the head
	Verified bool      `json:"verified"`
	// Consistency proves the book's current signed head from Head when
	// Head is not it: steps, each a consistency proof (RFC 6962, as
	// tlog.CheckTree) from a tree of From pages with root FromRoot to a
	// signed head; the first starts at Head, the last ends at the current
	// signed head. Empty when Head is the current signed head.
	Consistency []ConsistencyView `json:"consistency,omitempty"`
	// ConsistencyNote says why no consistency proof is served, if one
	// should be and is not.
	ConsistencyNote string `json:"consistencyNote,omitempty"`
}

// ConsistencyView is one step of a consistency proof.
type ConsistencyView struct {
	From     uint64    `json:"from"`
	FromRoot string    `json:"fromRoot"` // hex
	To       *HeadView `json:"to"`
	Proof    []string  `json:"proof"` // hex
}

func hexs(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i := range hs {
		out[i] = hex.EncodeToString(hs[i][:])
	}
	return out
}

func headView(h *journal.Head) *HeadView {
	if h.IsZero() {
		return nil
	}
	return &HeadView{Length: h.Length, Root: hex.EncodeToString(h.Root[:]), Sig: hex.EncodeToString(h.Sig)}
}

func (s *Server) peerView(p *peer) PeerView {
	v := PeerView{ID: p.id, Alias: p.alias, Agent: p.agent, Connected: p.conn != nil, Since: p.since, Seen: p.seen,
		Closed: p.closed, Sessions: p.sessions, Books: len(p.copies), Dropped: p.dropped, Status: StatusVerified}
	for _, cp := range p.copies {
		v.Status = worse(v.Status, cp.status)
	}
	return v
}

func (s *Server) copyView(b *book, cp *copyState) CopyView {
	v := CopyView{Key: b.key, Name: b.name, Author: b.author, Task: b.task, Peer: cp.peer, Role: cp.role,
		Length: cp.head.Length, Have: []report.Span{}, Status: cp.status, Problem: cp.problem}
	if p := s.peers[cp.peer]; p != nil {
		v.Alias = p.alias
	}
	for _, r := range cp.have {
		v.Have = append(v.Have, report.Span{r.Start, r.End})
	}
	return v
}

func (s *Server) bookView(b *book) BookView {
	v := BookView{Key: b.key, Name: b.name, Author: b.author, Reader: b.reader, Task: b.task, Length: b.length(), Status: b.status(), Readers: []identity.ID{}}
	for id, cp := range b.copies {
		if cp.role == roleReader {
			v.Readers = append(v.Readers, id)
		}
	}
	slices.SortFunc(v.Readers, func(a, b identity.ID) int { return strings.Compare(a.String(), b.String()) })
	return v
}

func (s *Server) bookDetail(b *book) *BookDetail {
	d := &BookDetail{BookView: s.bookView(b), Head: headView(&b.cur), Tree: b.tree.n, Copies: []CopyView{}, Problems: b.problems.all()}
	if b.gen != nil {
		d.Genesis = genesisView(b.gen)
	}
	for _, cp := range b.copies {
		d.Copies = append(d.Copies, s.copyView(b, cp))
	}
	slices.SortFunc(d.Copies, func(x, y CopyView) int { return strings.Compare(x.Role+x.Peer.String(), y.Role+y.Peer.String()) })
	if b.forkNote != "" {
		d.Fork = &ForkView{Note: b.forkNote, Evidence: b.fork != nil}
		if b.fork != nil {
			d.Fork.Old, d.Fork.New = headView(&b.fork.Old), headView(&b.fork.New)
		}
	}
	d.Retention = s.retention(b)
	d.Events = EventCountView{Kept: b.events.len(), Dropped: b.events.dropped}
	return d
}

func (s *Server) retention(b *book) RetentionView {
	r := RetentionView{Pages: b.pages.Len(), Dropped: b.droppedPages, DroppedBelow: b.droppedBelow, Cap: s.cfg.RetainPages}
	_, r.Genesis = b.pages.Get(0)
	b.pages.Ascend(1, func(k uint64, _ *page) bool {
		r.First = k
		return false
	})
	if k, _, ok := b.pages.Max(); ok {
		r.Last = k
	}
	if r.Dropped > 0 {
		r.Note = fmt.Sprintf("%d older pages were dropped from memory (cap %d pages per book); pages below %d are not held, but for the genesis (page 0)", r.Dropped, r.Cap, r.DroppedBelow)
	}
	return r
}

func genesisView(g *journal.Genesis) *GenesisView {
	v := &GenesisView{Author: g.Author, Name: g.Name}
	if utf8.Valid(g.Meta) {
		v.Meta = string(g.Meta)
	} else if len(g.Meta) > 0 {
		v.Meta = "0x" + hex.EncodeToString(g.Meta)
	}
	return v
}

// noPlain is the note of a sealed page no reporting tab could open.
const noPlain = "sealed: no reporting tab can open it"

// pageView shows a page of a book by author raw, as text, and parsed:
// the genesis for page 0, a standard message for the others. A sealed
// page is parsed from the plaintext a reporting tab sent, if any. It runs
// without the lock, on a copy of the page.
func pageView(author identity.ID, pg *page) PageView {
	v := PageView{Index: pg.index, Status: pg.status, Size: len(pg.data), Leaf: hex.EncodeToString(pg.leaf[:]), By: pg.by, Error: pg.err, Data: pg.data}
	if pg.index == 0 {
		v.Text = text(pg.data)
		if g, err := journal.DecodeGenesis(pg.data); err == nil {
			v.Genesis = genesisView(g)
		}
		return v
	}
	data := pg.data
	if epoch, err := seal.Epoch(pg.data); err == nil {
		v.Sealed, v.Epoch = true, epoch
		if pg.plain == nil {
			v.Note = noPlain
			return v
		}
		v.OpenedBy, v.Plain, v.PlainText = pg.openedBy, pg.plain, text(pg.plain)
		data = pg.plain
	} else {
		v.Text = text(pg.data)
	}
	if len(data) == 0 || data[0] != '{' {
		return v
	}
	if author.IsZero() {
		v.Note = "author unknown: not parsed"
		return v
	}
	m, err := room.Decode(data, author)
	if err != nil {
		v.Note = err.Error()
		return v
	}
	v.Message = &MessageView{By: m.Head.By, To: m.Head.To, Mid: m.Head.Mid, Cause: m.Refs.Cause, Type: m.Type, Data: m.Data, Date: m.Meta.Date, Clock: m.Meta.Clock}
	return v
}

// text returns b as text, if it is UTF-8.
func text(b []byte) *string {
	if !utf8.Valid(b) {
		return nil
	}
	t := string(b)
	return &t
}
