package devtools

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// API bounds.
const (
	defaultPages    = 100
	maxPagesLimit   = 1000
	defaultTimeline = 500
	maxTimeline     = 5000
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail answers err with the status its sentinel calls for.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnknownPeer), errors.Is(err, ErrUnknownBook), errors.Is(err, ErrNoProof):
		status = http.StatusNotFound
	case errors.Is(err, ErrBadQuery):
		status = http.StatusBadRequest
	case errors.Is(err, ErrOffline):
		status = http.StatusConflict
	case errors.Is(err, ErrCommand):
		status = http.StatusBadGateway
	case errors.Is(err, ErrTimeout):
		status = http.StatusGatewayTimeout
	case errors.Is(err, ErrClosed):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, strings.TrimPrefix(err.Error(), "devtools: "))
}

// pathID parses the {name} path variable; a malformed id names nothing.
func pathID(r *http.Request, name string, unknown error) (identity.ID, error) {
	id, err := identity.ParseID(mux.Vars(r)[name])
	if err != nil {
		return id, fmt.Errorf("%w: %v", unknown, err)
	}
	return id, nil
}

// queryID parses an optional id query parameter.
func queryID(r *http.Request, name string) (identity.ID, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return identity.ID{}, false, nil
	}
	id, err := identity.ParseID(v)
	if err != nil {
		return id, false, fmt.Errorf("%w: %s: %v", ErrBadQuery, name, err)
	}
	return id, true, nil
}

// queryTask parses an optional task id query parameter.
func queryTask(r *http.Request) (string, error) {
	v := r.URL.Query().Get("task")
	if v == "" {
		return "", nil
	}
	if _, err := room.ParseTaskID(v); err != nil {
		return "", fmt.Errorf("%w: task: %v", ErrBadQuery, err)
	}
	return v, nil
}

// filter is the task and peer query parameters of /api/books and
// /api/timeline.
type filter struct {
	task   string // "" for every task
	peer   identity.ID
	byPeer bool
}

func queryFilter(r *http.Request) (filter, error) {
	task, err := queryTask(r)
	if err != nil {
		return filter{}, err
	}
	pid, byPeer, err := queryID(r, "peer")
	return filter{task: task, peer: pid, byPeer: byPeer}, err
}

// keepsBook reports whether b is of the task and involves the peer asked for.
func (f filter) keepsBook(b *book) bool {
	return (f.task == "" || b.task == f.task) && (!f.byPeer || b.involves(f.peer))
}

// queryUint parses an optional number in [lo, hi].
func queryUint(r *http.Request, name string, def, lo, hi uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s must be a whole number in [%d, %d]", ErrBadQuery, name, lo, hi)
	}
	return n, nil
}

func (s *Server) apiPeers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]PeerView, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, s.peerView(p))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerView) int { return strings.Compare(a.Alias+a.ID.String(), b.Alias+b.ID.String()) })
	writeJSON(w, http.StatusOK, map[string]any{"peers": out})
}

func (s *Server) apiPeer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", ErrUnknownPeer)
	if err != nil {
		fail(w, err)
		return
	}
	s.mu.Lock()
	p := s.peers[id]
	if p == nil {
		s.mu.Unlock()
		fail(w, fmt.Errorf("%w %s", ErrUnknownPeer, id.Short()))
		return
	}
	d := &PeerDetail{PeerView: s.peerView(p), Copies: []CopyView{}, Events: p.events.all(), EventsDropped: p.events.dropped}
	for key, cp := range p.copies {
		if b := s.books[key]; b != nil {
			d.Copies = append(d.Copies, s.copyView(b, cp))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(d.Copies, func(a, b CopyView) int { return strings.Compare(a.Name+a.Key.String(), b.Name+b.Key.String()) })
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiBooks(w http.ResponseWriter, r *http.Request) {
	f, err := queryFilter(r)
	if err != nil {
		fail(w, err)
		return
	}
	s.mu.Lock()
	out := []BookView{}
	for _, b := range s.books {
		if f.keepsBook(b) {
			out = append(out, s.bookView(b))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b BookView) int { return strings.Compare(a.Name+a.Key.String(), b.Name+b.Key.String()) })
	writeJSON(w, http.StatusOK, map[string]any{"books": out})
}

// involves reports whether peer id authors, reads or holds b.
func (b *book) involves(id identity.ID) bool {
	_, holds := b.copies[id]
	return holds || b.author == id || b.reader == id
}

// lookBook runs fn on the book named by the {key} path variable with the
// lock held, then answers with what the function fn returned builds, once
// the lock is released.
func (s *Server) lookBook(w http.ResponseWriter, r *http.Request, fn func(*book) (func() any, error)) {
	key, err := pathID(r, "key", ErrUnknownBook)
	if err != nil {
		fail(w, err)
		return
	}
	s.mu.Lock()
	b := s.books[key]
	var build func() any
	if b == nil {
		err = fmt.Errorf("%w %s", ErrUnknownBook, key.Short())
	} else {
		build, err = fn(b)
	}
	s.mu.Unlock()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, build())
}

// value returns a builder of v, for lookBook.
func value(v any) func() any { return func() any { return v } }

func (s *Server) apiBook(w http.ResponseWriter, r *http.Request) {
	s.lookBook(w, r, func(b *book) (func() any, error) { return value(s.bookDetail(b)), nil })
}

func (s *Server) apiPages(w http.ResponseWriter, r *http.Request) {
	from, err := queryUint(r, "from", 0, 0, journal.MaxLength)
	if err != nil {
		fail(w, err)
		return
	}
	limit, err := queryUint(r, "limit", defaultPages, 1, maxPagesLimit)
	if err != nil {
		fail(w, err)
		return
	}
	var (
		author identity.ID
		pages  []page // copies, parsed once the lock is released
		next   *uint64
		ret    RetentionView
	)
	s.lookBook(w, r, func(b *book) (func() any, error) {
		author, ret = b.author, s.retention(b)
		b.pages.Ascend(from, func(i uint64, pg *page) bool {
			if uint64(len(pages)) == limit {
				next = &i
				return false
			}
			pages = append(pages, *pg)
			return true
		})
		return func() any {
			views := make([]PageView, len(pages))
			for i := range pages {
				views[i] = pageView(author, &pages[i])
			}
			return map[string]any{"from": from, "limit": limit, "next": next, "pages": views, "retention": ret}
		}, nil
	})
}

func (s *Server) apiProof(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("index") == "" {
		fail(w, fmt.Errorf("%w: index is required", ErrBadQuery))
		return
	}
	i, err := queryUint(r, "index", 0, 0, journal.MaxLength)
	if err != nil {
		fail(w, err)
		return
	}
	s.lookBook(w, r, func(b *book) (func() any, error) {
		p, err := b.proof(i)
		return value(p), err
	})
}

// proof proves page i: from the verified tree against the signed head
// (or, while the head is past the tree, the longest verified signed head
// the tree reaches, else the tree's root), else with the range proof the
// page was verified with. A proof against anything but the current
// signed head comes with the consistency proof from it to that head.
func (b *book) proof(i uint64) (*ProofView, error) {
	var pv *ProofView
	if i < uint64(b.tree.n) {
		n, signed := b.cur.Length, true
		var head *HeadView
		if n > uint64(b.tree.n) {
			if h, ok := b.signedWithin(i, uint64(b.tree.n)); ok {
				n, head = h.Length, headView(&h)
			} else {
				n, signed = uint64(b.tree.n), false
			}
		} else {
			head = headView(&b.cur)
		}
		root, _ := b.tree.root(n)
		leaf := b.tree.leaf(i)
		p, err := tlog.ProveRecord(int64(n), int64(i), &b.tree)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoProof, err)
		}
		if !signed {
			head = &HeadView{Length: n, Root: hex.EncodeToString(root[:])}
		}
		pv = &ProofView{Index: i, Leaf: hex.EncodeToString(leaf[:]), Kind: "inclusion", Head: head, Signed: signed, Proof: hexs(p),
			Verified: tlog.CheckRecord(p, int64(n), root, int64(i), leaf) == nil}
		pv.addConsistency(b, n, root)
		return pv, nil
	}
	pg, ok := b.pages.Get(i)
	if !ok || pg.proof == nil {
		return nil, fmt.Errorf("%w: page %d", ErrNoProof, i)
	}
	ip := pg.proof
	pv = &ProofView{Index: i, Leaf: hex.EncodeToString(pg.leaf[:]), Kind: "range", Head: headView(&ip.head), Signed: true,
		Start: ip.start, End: ip.end, Left: hexs(ip.proof.Left), Tree: hexs(ip.proof.Tree), Verified: pg.status == StatusVerified}
	pv.addConsistency(b, ip.head.Length, ip.head.Root)
	return pv, nil
}

// addConsistency adds the consistency proof from the tree of length n and
// root to the current signed head, or says why there is none.
func (pv *ProofView) addConsistency(b *book, n uint64, root tlog.Hash) {
	steps, ok := b.consistency(n, root)
	pv.Consistency = steps
	if !ok {
		pv.ConsistencyNote = fmt.Sprintf("no consistency proof held from length %d to the signed head %d (the history kept does not reach it)", n, b.cur.Length)
	}
}

func (s *Server) apiTimeline(w http.ResponseWriter, r *http.Request) {
	f, err := queryFilter(r)
	if err != nil {
		fail(w, err)
		return
	}
	limit, err := queryUint(r, "limit", defaultTimeline, 1, maxTimeline)
	if err != nil {
		fail(w, err)
		return
	}
	since, err := queryUint(r, "since", 0, 0, 1<<62)
	if err != nil {
		fail(w, err)
		return
	}
	s.mu.Lock()
	evs, dropped := s.timeline(f, since)
	s.mu.Unlock()
	if len(evs) > int(limit) {
		evs = evs[len(evs)-int(limit):]
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs, "dropped": dropped})
}

// timeline gathers the events matching the filters, in order, and the
// number of events the rings it read have dropped.
func (s *Server) timeline(f filter, since uint64) ([]*Event, uint64) {
	task := f.task
	members := map[identity.ID]bool{}
	if task != "" {
		for _, b := range s.books {
			if b.task == task {
				members[b.author], members[b.reader] = true, true
			}
		}
	}
	keep := func(ev *Event) bool {
		if ev.Seq <= since || f.byPeer && ev.Peer != f.peer && ev.Remote != f.peer {
			return false
		}
		if task == "" {
			return true
		}
		if !ev.Book.IsZero() {
			b := s.books[ev.Book]
			return b != nil && b.task == task
		}
		return members[ev.Peer] && (ev.Remote.IsZero() || members[ev.Remote])
	}
	var out []*Event
	var dropped uint64
	for _, b := range s.books {
		if !f.keepsBook(b) {
			continue
		}
		dropped += b.events.dropped
		for _, ev := range b.events.all() {
			if keep(ev) {
				out = append(out, ev)
			}
		}
	}
	for _, p := range s.peers {
		dropped += p.events.dropped
		for _, ev := range p.events.all() {
			if keep(ev) {
				out = append(out, ev)
			}
		}
	}
	slices.SortFunc(out, func(a, b *Event) int { return cmp.Compare(a.Seq, b.Seq) })
	if out == nil {
		out = []*Event{}
	}
	return out, dropped
}

// apiToken gives the devtools page the token of its state-changing
// requests. The guard let the request through: the Host is this server's,
// and a browser's Origin, if any, the page's; no other page can read it
// (no CORS headers are ever sent).
func (s *Server) apiToken(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"token": s.guard.token, "header": TokenHeader})
}

func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}
