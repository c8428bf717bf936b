package devtools

import (
	"time"

	"github.com/tidwall/btree"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Status is what the server could verify of a book or of a peer's copy.
type Status string

// Statuses, from best to worst (a book shows its worst copy's).
const (
	StatusVerified   Status = "verified"   // every head and page checked
	StatusUnverified Status = "unverified" // not (yet) checkable: no genesis, or a head the author has not proven
	StatusInvalid    Status = "invalid"    // something failed verification: a bad signature, proof or page
	StatusForked     Status = "forked"     // the author signed two heads that cannot both be true
)

func (s Status) rank() int {
	switch s {
	case StatusVerified:
		return 0
	case StatusUnverified:
		return 1
	case StatusInvalid:
		return 2
	}
	return 3
}

func worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Roles of a peer's copy of a book.
const (
	roleAuthor = "author"
	roleReader = "reader"
)

// A peer is a profile that reported to the server (connected or not).
// All its fields are guarded by Server.mu.
type peer struct {
	id        identity.ID
	alias     string
	agent     string
	conn      *conn // nil while offline
	since     time.Time
	seen      time.Time
	closed    string // why the last connection ended
	copies    map[identity.ID]*copyState
	events    ring[*Event] // timeline events with no book
	dropped   uint64       // events its reporter dropped, in all
	sessions  int
	lastFrame int64 // the peer's clock of its last frame (Unix ms)
}

// copyState is a peer's copy of a book, as it reported it.
type copyState struct {
	peer    identity.ID
	role    string
	head    journal.Head // the newest head it reported
	have    journal.Ranges
	status  Status
	problem string
}

// A book is everything the server knows of one book key, from every peer.
// Guarded by Server.mu.
type book struct {
	key     identity.ID
	name    string
	author  identity.ID      // from a verified genesis
	reader  identity.ID      // from the name, when it follows the convention
	task    string           // from the name, when it follows the convention
	genesis []byte           // the verified genesis page
	gen     *journal.Genesis // and decoded

	cur    journal.Head // the newest verified head
	links  []link       // the steps to cur from older verified heads, at most maxLinks
	tree   tree         // stored hashes of the verified prefix
	capped bool         // the tree reached Config.MaxTreePages

	pages        btree.Map[uint64, *page] // retained pages, at most Config.RetainPages
	droppedPages uint64                   // pages dropped from memory
	droppedBelow uint64                   // every page below this index was dropped or never seen
	pending      bool                     // some retained pages are unverified

	fork     *journal.Fork // verified evidence, if forked
	forkNote string        // why the book is forked, with or without evidence
	problems ring[*Problem]
	events   ring[*Event]
	copies   map[identity.ID]*copyState // by peer
}

// A page is a retained page of a book.
type page struct {
	index  uint64
	data   []byte
	leaf   tlog.Hash
	status Status
	by     identity.ID // the first peer that reported it
	err    string
	proof  *ingestProof // the range proof it was verified with, outside the tree
	// plain is the plaintext of a sealed page as a reporting tab that can
	// open it sent it (report.Book.Plain), and openedBy that tab: its
	// word, never verified (the server holds no key). Nil: none sent.
	plain    []byte
	openedBy identity.ID
}

// ingestProof is a range proof a page was verified with.
type ingestProof struct {
	head       journal.Head
	start, end uint64
	proof      *journal.RangeProof
}

// A Problem is a verification failure, kept with its book.
type Problem struct {
	At    time.Time   `json:"at"`
	Peer  identity.ID `json:"peer"`
	Index uint64      `json:"index"`
	Error string      `json:"error"`
}

// An Event is one entry of the timeline: what a peer reported.
type Event struct {
	Seq       uint64      `json:"seq"`
	At        int64       `json:"at"`               // server clock, Unix ms
	PeerAt    int64       `json:"peerAt,omitempty"` // the peer's clock
	Peer      identity.ID `json:"peer"`
	Kind      string      `json:"kind"` // connect, disconnect, sync, port, app, error, dropped, book
	Type      string      `json:"type,omitempty"`
	Remote    identity.ID `json:"remote,omitzero"`
	Send      bool        `json:"send,omitempty"`
	Book      identity.ID `json:"book,omitzero"`
	Start     uint64      `json:"start,omitempty"`
	End       uint64      `json:"end,omitempty"`
	Bytes     int         `json:"bytes,omitempty"`
	Pages     int         `json:"pages,omitempty"`
	Hashes    int         `json:"hashes,omitempty"`
	Transport string      `json:"transport,omitempty"`
	Open      bool        `json:"open,omitempty"`
	Status    Status      `json:"status,omitempty"`
	Text      string      `json:"text,omitempty"`
}

// ring keeps the last cap values pushed; it grows up to cap.
type ring[T any] struct {
	buf     []T
	head    int
	dropped uint64
}

func (r *ring[T]) push(v T, capacity int) {
	if len(r.buf) < capacity {
		r.buf = append(r.buf, v)
		return
	}
	if capacity <= 0 {
		r.dropped++
		return
	}
	r.buf[r.head] = v
	r.head = (r.head + 1) % len(r.buf)
	r.dropped++
}

// all returns the values, oldest first.
func (r *ring[T]) all() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.head:]...)
	return append(out, r.buf[:r.head]...)
}

func (r *ring[T]) len() int { return len(r.buf) }

// status is the book's status: its worst copy's, forked or invalid if so.
func (b *book) status() Status {
	if b.forkNote != "" {
		return StatusForked
	}
	st := StatusVerified
	if b.problems.len() > 0 {
		st = StatusInvalid
	}
	if b.genesis == nil || b.cur.IsZero() {
		st = worse(st, StatusUnverified)
	}
	for _, c := range b.copies {
		st = worse(st, c.status)
	}
	return st
}

// length is the book's verified length.
func (b *book) length() uint64 { return b.cur.Length }
