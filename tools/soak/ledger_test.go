//go:build !js

package soak

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// A sent is a message acknowledged to its sender.
type sent struct {
	ID   string // the message's id (by/mid)
	Text string
	Peer int
	Task int
	Ack  time.Time
	Edit string // the text of its acknowledged edit, "" if none
}

// The ledger records what was sent and acknowledged; its methods are safe
// for the schedule's goroutines.
type ledger struct {
	mu      sync.Mutex
	tried   int                  // guarded by mu: sends and edits called
	failed  int                  // guarded by mu: of them, those that returned an error
	acked   []*sent              // guarded by mu
	byTask  [tasks][]*sent       // guarded by mu
	editing map[msgKey]bool      // guarded by mu: an edit is under way or done
	counts  map[string]int       // guarded by mu: actions run, by kind
	errs    map[string]int       // guarded by mu: errors of sends and edits, by text
	down    map[int][]span       // guarded by mu: when each peer was closed
	joined  map[[2]int]time.Time // guarded by mu: (peer, task) → when its join returned
	left    map[[2]int]time.Time // guarded by mu: (peer, task) → when its leave was called
	start   time.Time            // immutable
	taskIDs [tasks]room.TaskID   // immutable once the tasks are made
}

func newLedger() *ledger {
	return &ledger{editing: make(map[msgKey]bool), counts: make(map[string]int),
		errs: make(map[string]int), down: make(map[int][]span), start: time.Now(),
		joined: make(map[[2]int]time.Time), left: make(map[[2]int]time.Time)}
}

// try counts a send or edit called, and its outcome.
func (l *ledger) try(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tried++
	if err != nil {
		l.failed++
		l.errs[err.Error()]++
	}
}

func (l *ledger) ack(s *sent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked = append(l.acked, s)
	l.byTask[s.Task] = append(l.byTask[s.Task], s)
}

// pick returns the acknowledged message of task at index r mod their
// number, nil if none: with own set, one of peer's not yet edited, marked
// as being edited; else one peer has (its own, or one it saw).
func (l *ledger) pick(task, peer int, r uint64, own bool, seen *sightings) *sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cands []*sent
	for _, s := range l.byTask[task] {
		mine := s.Peer == peer
		if own && mine && !l.editing[msgKey{l.taskIDs[task], s.ID}] || !own && (mine || seen.has(l.taskIDs[task], s.ID, peer)) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	s := cands[r%uint64(len(cands))]
	if own {
		l.editing[msgKey{l.taskIDs[task], s.ID}] = true
	}
	return s
}

func (l *ledger) edited(s *sent, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.Edit = text
}

// moved records that peer joined (returned) or is leaving task.
func (l *ledger) moved(peer, task int, join bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if join {
		l.joined[[2]int{peer, task}] = time.Now()
	} else {
		l.left[[2]int{peer, task}] = time.Now()
	}
}

// members are task's members now: those of the plan's start, then those
// who joined, less those who left.
func (l *ledger) members(start []int, task int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.membersLocked(start, task)
}

func (l *ledger) membersLocked(start []int, task int) []int {
	var out []int
	for _, m := range start {
		if _, gone := l.left[[2]int{m, task}]; !gone {
			out = append(out, m)
		}
	}
	for pt := range l.joined {
		if pt[1] == task && !slices.Contains(out, pt[0]) {
			out = append(out, pt[0])
		}
	}
	return out
}

// A span is a time a peer was closed; To is zero while it still is.
type span struct{ From, To time.Time }

// closed records that peer is being closed, opened that it was opened.
func (l *ledger) closed(peer int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down[peer] = append(l.down[peer], span{From: time.Now()})
}

func (l *ledger) opened(peer int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.down[peer]; len(d) > 0 && d[len(d)-1].To.IsZero() {
		d[len(d)-1].To = time.Now()
	}
}

// spansLocked describes when peer was closed, from the start.
func (l *ledger) spansLocked(peer int) string {
	var out []string
	for _, s := range l.down[peer] {
		to := "-"
		if !s.To.IsZero() {
			to = s.To.Sub(l.start).Truncate(time.Millisecond).String()
		}
		out = append(out, s.From.Sub(l.start).Truncate(time.Millisecond).String()+"–"+to)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// upBetweenLocked says whether peer was open all the time from a to b.
func (l *ledger) upBetweenLocked(peer int, a, b time.Time) bool {
	return !overlaps(l.down[peer], a, b)
}

// did counts an action run and returns its line of the log: its time
// and what it is.
func (l *ledger) did(kind, what string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[kind]++
	return time.Since(l.start).Truncate(time.Millisecond).String() + " " + what
}

// sightings records when each peer first saw each message in an event:
// the delivery times, and where a message was last seen.
type sightings struct {
	mu      sync.Mutex
	first   map[msgKey]map[int]time.Time // guarded by mu: message → peer → first event
	bulk    int                          // guarded by mu: catch-up events (a count, no message)
	off     map[int][]span               // guarded by mu: when each peer's App was not online
	pending map[msgKey]map[int]bool      // guarded by mu: message → peers that saw it pending
}

// A msgKey names a message: its id (by/mid) is unique in its task only.
type msgKey struct {
	task room.TaskID
	id   string
}

func newSightings() *sightings {
	return &sightings{first: make(map[msgKey]map[int]time.Time), off: make(map[int][]span), pending: make(map[msgKey]map[int]bool)}
}

// event is a peer's App's subscriber: it must not block.
func (s *sightings) event(peer int, self identity.ID, ev app.Event) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Type == room.EventPeer && ev.Peer == self {
		s.connection(peer, ev.State == app.StateOnline, now)
		return
	}
	if ev.Type != room.EventMessage {
		return
	}
	if ev.Message == nil {
		s.bulk++
		return
	}
	if ev.Message.Message == nil || ev.Message.Type != room.TypeChat {
		return
	}
	k := msgKey{ev.Task, ev.Message.ID}
	if ev.Message.Pending {
		if s.pending[k] == nil {
			s.pending[k] = make(map[int]bool)
		}
		s.pending[k][peer] = true
		return
	}
	m := s.first[k]
	if m == nil {
		m = make(map[int]time.Time)
		s.first[k] = m
	}
	if _, ok := m[peer]; !ok {
		m[peer] = now
	}
}

// connection records that peer's App went online or not online at now;
// an App starts not online.
func (s *sightings) connection(peer int, online bool, now time.Time) {
	spans := s.off[peer]
	open := len(spans) > 0 && spans[len(spans)-1].To.IsZero()
	switch {
	case online && open:
		spans[len(spans)-1].To = now
	case !online && !open:
		s.off[peer] = append(spans, span{From: now})
	}
}

// startOffline records that peer's App starts, not online yet.
func (s *sightings) startOffline(peer int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connection(peer, false, time.Now())
}

// onlineBetween says whether peer's App was online all the time from a
// to b.
func (s *sightings) onlineBetween(peer int, a, b time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !overlaps(s.off[peer], a, b)
}

// overlaps says whether a span of spans overlaps the time from a to b.
func overlaps(spans []span, a, b time.Time) bool {
	for _, s := range spans {
		if s.From.Before(b) && (s.To.IsZero() || s.To.After(a)) {
			return true
		}
	}
	return false
}

// sawPending says whether peer saw message id pending.
func (s *sightings) sawPending(task room.TaskID, id string, peer int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[msgKey{task, id}][peer]
}

// has says whether peer saw message id.
func (s *sightings) has(task room.TaskID, id string, peer int) bool {
	_, ok := s.at(task, id, peer)
	return ok
}

// at returns when peer first saw message id, and whether it did.
func (s *sightings) at(task room.TaskID, id string, peer int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.first[msgKey{task, id}][peer]
	return t, ok
}

func (s *sightings) bulkCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bulk
}
