//go:build !js

package mirror

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/task-messenger/task-messenger/relay/mirrorset"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A set of mirrors (issue #15; doc.go "A set of mirrors"). With
// Config.NATS, the mirror announces itself (package mirrorset), follows
// the live set, and keeps each author's books on the first Config.Replicas
// of held.Rank(author, live): it tells each of them that is not itself to
// hold the books (a hold message on NATS), and it follows the books it
// holds through the other mirrors of their rank (replication version 2's
// FollowVia, over a port through the relay), so a mirror that returns
// catches up and a new target copies what the surviving ones hold.

// Bounds of a hold message (untrusted input).
const (
	// HoldVersion is the version of the hold message.
	HoldVersion = 1
	// MaxHoldBooks is the most books one hold message names.
	MaxHoldBooks = 1024
	// MaxHoldMessage is the most bytes of a hold message (~140 a book).
	MaxHoldMessage = 256 << 10
)

// ErrBadHold: a hold message out of bounds, of another version, or naming
// bad ids.
var ErrBadHold = errors.New("mirror: bad hold message")

// holdSubject is where mirror id takes hold messages.
func holdSubject(id identity.ID) string {
	return "tm.mirror." + hex.EncodeToString(id[:]) + ".hold"
}

// A holdBook is a book a mirror asks another to hold, and its author.
type holdBook struct {
	Key, Author identity.ID
}

type holdWire struct {
	V     int            `json:"v"`
	From  string         `json:"from"`
	Books []holdBookWire `json:"books"`
}

type holdBookWire struct {
	Key    string `json:"key"`
	Author string `json:"author"`
}

func encodeHold(from identity.ID, books []holdBook) []byte {
	w := holdWire{V: HoldVersion, From: hex.EncodeToString(from[:]), Books: make([]holdBookWire, len(books))}
	for i, b := range books {
		w.Books[i] = holdBookWire{Key: hex.EncodeToString(b.Key[:]), Author: hex.EncodeToString(b.Author[:])}
	}
	out, _ := json.Marshal(w)
	return out
}

func decodeHold(b []byte) (from identity.ID, books []holdBook, err error) {
	if len(b) > MaxHoldMessage {
		return from, nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadHold, len(b), MaxHoldMessage)
	}
	var w holdWire
	if err := json.Unmarshal(b, &w); err != nil {
		return from, nil, fmt.Errorf("%w: %v", ErrBadHold, err)
	}
	if w.V != HoldVersion {
		return from, nil, fmt.Errorf("%w: version %d (this is %d)", ErrBadHold, w.V, HoldVersion)
	}
	if len(w.Books) == 0 || len(w.Books) > MaxHoldBooks {
		return from, nil, fmt.Errorf("%w: %d books (1 to %d)", ErrBadHold, len(w.Books), MaxHoldBooks)
	}
	if from, err = hexID(w.From); err != nil {
		return from, nil, fmt.Errorf("%w: from: %v", ErrBadHold, err)
	}
	books = make([]holdBook, len(w.Books))
	for i, bw := range w.Books {
		if books[i].Key, err = hexID(bw.Key); err == nil {
			books[i].Author, err = hexID(bw.Author)
		}
		if err != nil {
			return from, nil, fmt.Errorf("%w: book %d: %v", ErrBadHold, i, err)
		}
	}
	return from, books, nil
}

func hexID(s string) (identity.ID, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return identity.ID{}, err
	}
	return identity.IDFromBytes(b)
}

// startSet joins the set of mirrors on cfg.NATS: takes hold messages,
// follows the live set, announces itself, and runs the re-pin loop.
func (m *Mirror) startSet() error {
	nc := m.cfg.NATS
	sub, err := nc.Subscribe(holdSubject(m.ID()), func(msg *nats.Msg) { m.onHold(msg.Data) })
	if err != nil {
		return fmt.Errorf("mirror: nats: %w", err)
	}
	_ = sub.SetPendingLimits(256, 64<<20)
	m.holdSub = sub
	scfg := mirrorset.Config{Every: m.cfg.SetEvery, Logger: m.log, OnChange: m.onSet}
	if m.set, err = mirrorset.Watch(nc, scfg); err != nil {
		return fmt.Errorf("mirror: nats: %w", err)
	}
	m.announcer = mirrorset.Announce(nc, m.key, scfg)
	m.wg.Add(1)
	go m.repinLoop()
	return nil
}

// stopSet leaves the set: says so, and stops taking its messages.
func (m *Mirror) stopSet() {
	if m.announcer != nil {
		m.announcer.Close()
	}
	if m.holdSub != nil {
		_ = m.holdSub.Unsubscribe()
	}
	if m.set != nil {
		m.set.Close()
	}
}

// onSet takes a new live set (the watcher's goroutine). The ports of a
// mirror that just joined, opened before it was known as one, are closed:
// their sessions neither serve it nor follow through it (replication asks
// its hooks when a session starts), and the dial loops open new ones.
func (m *Mirror) onSet(live []identity.ID) {
	var stale []*client
	m.mu.Lock()
	was := m.live
	m.live = make(map[identity.ID]bool, len(live))
	for _, id := range live {
		m.live[id] = true
		if was[id] || id == m.ID() {
			continue
		}
		for cl := range m.clients[id] {
			if !cl.fellow {
				stale = append(stale, cl)
			}
		}
	}
	for id := range m.told {
		if !m.live[id] {
			delete(m.told, id) // told again when it returns: it may have lost them
		}
	}
	m.mu.Unlock()
	for _, cl := range stale {
		cl.close()
	}
	m.kickRepin()
}

func (m *Mirror) kickRepin() {
	select {
	case m.repinKick <- struct{}{}:
	default:
	}
}

// fellow reports whether peer is another live mirror of the set: it is
// served every book held, and books are followed through it.
func (m *Mirror) fellow(peer identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return peer != m.ID() && m.live[peer]
}

// repinLoop re-pins whenever the set changes or a book's genesis is
// stored, and Config.SetEvery after a re-pin that could not tell
// everything (NATS down), until the mirror closes.
func (m *Mirror) repinLoop() {
	defer m.wg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.repinKick:
		case <-retry:
		}
		retry = nil
		untold, err := m.repin(m.ctx)
		if err != nil && m.ctx.Err() == nil {
			m.log.Warn("mirror: re-pin", "err", err)
		}
		if untold || err != nil {
			retry = time.After(m.cfg.SetEvery)
		}
	}
}

// repin keeps each author's books on the first Replicas of
// held.Rank(author, live): every such mirror but this one is told to hold
// the books it was not told of yet, and a port is kept to it, over which
// each follows the books through the other. Nothing is done before this
// mirror hears itself in the set (NATS down at start). untold: some books
// could not be told (NATS down).
func (m *Mirror) repin(ctx context.Context) (untold bool, err error) {
	self := m.ID()
	m.mu.Lock()
	live := make([]identity.ID, 0, len(m.live))
	for id := range m.live {
		live = append(live, id)
	}
	in := m.live[self]
	m.mu.Unlock()
	if !in {
		return false, nil
	}
	infos, err := m.db.Books(ctx)
	if err != nil {
		return false, err
	}
	byAuthor := make(map[identity.ID][]holdBook)
	for _, b := range infos {
		if b.Writable || b.Author.IsZero() || heldFrom0(b.Have) == 0 {
			continue
		}
		byAuthor[b.Author] = append(byAuthor[b.Author], holdBook{Key: b.Key, Author: b.Author})
	}
	tell := make(map[identity.ID][]holdBook)
	var dial []identity.ID
	m.mu.Lock()
	for author, books := range byAuthor {
		rank := held.Rank(author, live)
		for _, t := range rank[:min(m.cfg.Replicas, len(rank))] {
			if t == self {
				continue
			}
			if !m.dialed[t] {
				m.dialed[t] = true
				dial = append(dial, t)
			}
			if m.revoked[author] != nil {
				continue
			}
			for _, b := range books {
				if !m.told[t][b.Key] {
					tell[t] = append(tell[t], b)
				}
			}
		}
	}
	m.mu.Unlock()
	for _, t := range dial {
		m.dial(t)
	}
	for t, books := range tell {
		if !m.tellHold(t, books) {
			untold = true
		}
	}
	return untold, nil
}

// tellHold asks mirror t to hold books, in messages of at most
// MaxHoldBooks; those sent are not told again while t stays live. It
// reports whether all were sent.
func (m *Mirror) tellHold(t identity.ID, books []holdBook) bool {
	slices.SortFunc(books, func(a, b holdBook) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	for len(books) > 0 {
		n := min(len(books), MaxHoldBooks)
		if err := m.cfg.NATS.Publish(holdSubject(t), encodeHold(m.ID(), books[:n])); err != nil {
			m.log.Debug("mirror: a hold not told: told again soon", "to", t.Short(), "books", n, "err", err)
			return false
		}
		m.mu.Lock()
		if m.told[t] == nil {
			m.told[t] = make(map[identity.ID]bool)
		}
		for _, b := range books[:n] {
			m.told[t][b.Key] = true
		}
		m.mu.Unlock()
		m.repinned.Add(int64(n))
		m.log.Debug("mirror: books re-pinned", "to", t.Short(), "books", n)
		books = books[n:]
	}
	return true
}

// dial keeps a port open to fellow mirror t while it is live (its
// sessions run in serve, like every port's), opening it again, after a
// pause of Config.SetEvery, each time it closes.
func (m *Mirror) dial(t identity.ID) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.wg.Add(1) // counted before Close waits (see serve)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.dialed, t) // dialled again at the re-pin after it returns
			m.mu.Unlock()
		}()
		for m.fellow(t) {
			m.keepPort(t)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(m.cfg.SetEvery):
			}
		}
	}()
}

// keepPort opens a port to t and waits until it closes.
func (m *Mirror) keepPort(t identity.ID) {
	ctx, cancel := context.WithTimeout(m.ctx, dialTimeout)
	p, err := m.io.At(ctx, t)
	cancel()
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Debug("mirror: no port to a fellow mirror", "mirror", t.Short(), "err", err)
		}
		return
	}
	done, ok := p.(interface{ Done() <-chan struct{} })
	if !ok {
		return
	}
	select {
	case <-done.Done():
	case <-m.ctx.Done():
	}
}

// dialTimeout bounds a wait for a fellow mirror's port (it may have left
// meanwhile: the dial loop looks again).
const dialTimeout = 10 * time.Second

// onHold takes a hold message (NATS's goroutine): from a live fellow
// mirror, each book not held yet is followed through it, within its
// author's quota. A message that does not decode is dropped and counted.
func (m *Mirror) onHold(b []byte) {
	from, books, err := decodeHold(b)
	if err == nil && !m.fellow(from) {
		err = fmt.Errorf("%w: from %s, not a live mirror", ErrBadHold, from.Short())
	}
	if err != nil {
		m.badHolds.Add(1)
		m.log.Info("mirror: a hold message dropped", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	for _, hb := range books {
		if _, err := m.db.Get(ctx, hb.Key); err == nil {
			continue // held, or followed already: the port to from serves it
		}
		if !m.admit(hb.Author, hb.Key) {
			continue
		}
		if _, err := m.db.ReaderFrom(ctx, hb.Key, hb.Author); err != nil {
			m.log.Warn("mirror: a book not followed", "book", hb.Key.Short(), "from", from.Short(), "err", err)
			continue
		}
		m.followed.Add(1)
	}
	m.mu.Lock()
	dial := !m.dialed[from]
	m.dialed[from] = true
	m.mu.Unlock()
	if dial {
		m.dial(from)
	}
}
