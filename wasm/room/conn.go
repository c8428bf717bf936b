package room

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// conn is the messenger's side of one port to a peer: a mux with the
// replication session on the sync channel and the room protocol on the
// room channel. A port from a stranger (a peer that shares no task with
// this profile, and that it is not joining through) has only the room
// channel, until the peer is admitted.
type conn struct {
	// Immutable.
	peer     identity.ID
	p        port.Port
	mux      *port.Mux
	room     port.Port
	admitted chan struct{} // closed when the sync channel opens
	proveQ   chan wire     // proves to answer (proveLoop), at most maxProves
	said     chan struct{} // closed when the peer tells its own revocation (closePorts)

	saidOnce sync.Once

	synced bool // the replication session runs; guarded by Messenger.mu
	// sess is that session (files.go asks it for pages); guarded by Messenger.mu.
	sess *replication.Session
	// restoreAsked: this profile asked the peer for a restore on this
	// port (guarded by Messenger.mu); the others are the room reader's.
	restoreAsked    bool
	restoreAnswered bool        // the peer's restore was answered
	held            *heldAnswer // the peer's restore answer being received
	joins           int         // joins a stranger sent; the room reader's
	proves          int         // copies the peer asked for; the room reader's
	roots           int         // askroots the peer sent; the room reader's
}

// closed reports whether the port has closed.
func (c *conn) closed() bool {
	select {
	case <-c.mux.Done():
		return true
	default:
		return false
	}
}

// Transport is how a port reaches its peer: "webrtc", "relay" or "memory".
func (c *conn) transport() string {
	if t, ok := c.p.(interface{ Transport() string }); ok {
		return t.Transport()
	}
	return "memory"
}

// Accept serves a port: the IO's handler for ports peers open, and for
// those Dial returns. The same port accepted twice is served once; a newer
// port to the same peer replaces the older.
func (m *Messenger) Accept(p port.Port) {
	m.accept(p)
}

func (m *Messenger) accept(p port.Port) *conn {
	if m.isMirror(p.Remote()) {
		return nil // its port is the mirror loop's (mirrors.go)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		p.Close()
		return nil
	}
	if c := m.served[p]; c != nil {
		// Served already (a port reaches Accept from the IO and from Dial,
		// and a newer port may have been current meanwhile): never two
		// muxes on one port.
		if !c.closed() {
			m.conns[c.peer] = c
		}
		m.mu.Unlock()
		return c
	}
	trusted := m.trustedLocked(p.Remote())
	// A stranger's sync messages wait in their channel (bounded: port.Mux,
	// and the IO's budget for strangers) until it is admitted and
	// replication starts, or its port closes: a joiner starts replication
	// on the port as soon as it opens, and its first hello (its lengths,
	// its protocol versions) must not be lost to the host's admission
	// running meanwhile. The same holds while restoring (restore.go).
	mux := port.NewMux(p, port.ChannelSync, port.ChannelRoom)
	c := &conn{peer: p.Remote(), p: p, mux: mux, room: mux.Channel(port.ChannelRoom), admitted: make(chan struct{}), proveQ: make(chan wire, maxProves), said: make(chan struct{})}
	m.presentLocked(c.peer, true)
	m.conns[c.peer] = c
	m.served[p] = c
	m.wg.Add(3)
	if trusted {
		m.wg.Add(1)
		m.startSyncLocked(c)
	}
	m.mu.Unlock()

	if obs := m.cfg.Observe; obs != nil {
		obs.Port(c.peer, true, c.transport())
	}
	if d, ok := p.(interface{ DirectOpen() <-chan struct{} }); ok {
		// The port moved to a direct (WebRTC) channel: say so.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			select {
			case <-d.DirectOpen():
				m.emit(Event{Type: EventPeer, Peer: c.peer, State: "online"})
				if obs := m.cfg.Observe; obs != nil {
					obs.Port(c.peer, true, "webrtc")
				}
			case <-mux.Done():
			case <-m.ctx.Done():
			}
		}()
	}
	go func() {
		defer m.wg.Done()
		m.serveRoom(c)
	}()
	go func() {
		// A stranger has StrangerIdle to be admitted.
		defer m.wg.Done()
		idle := time.NewTimer(m.cfg.StrangerIdle)
		defer idle.Stop()
		select {
		case <-idle.C:
			m.log.Debug("room: closing a stranger's port", "peer", c.peer.Short())
			mux.Close()
		case <-c.admitted:
		case <-mux.Done():
		case <-m.ctx.Done():
		}
	}()
	go func() {
		defer m.wg.Done()
		select {
		case <-mux.Done():
		case <-m.ctx.Done():
			mux.Close()
			<-mux.Done()
		}
		m.mu.Lock()
		current := m.conns[c.peer] == c
		if current {
			delete(m.conns, c.peer)
			m.presentLocked(c.peer, false)
		}
		delete(m.served, p)
		synced := c.synced
		m.mu.Unlock()
		m.dropProving(c.peer)
		if current && synced {
			m.emit(Event{Type: EventPeer, Peer: c.peer, State: "offline"})
		}
		if m.cfg.Observe != nil {
			m.cfg.Observe.Port(c.peer, false, "")
		}
	}()
	m.askRestore(c) // first on the port: its answer comes before any pairing
	if trusted {
		m.emit(Event{Type: EventPeer, Peer: c.peer, State: "online"})
		m.pairAll(c)
		m.announceSuccessors(c)
		m.receiptsOnOpen(c)
		m.rekeyOnOpen(c)
		m.digestOnOpen(c)
	}
	return c
}

// trustedLocked reports whether peer shares a task with this profile, or
// this profile is joining through it: only then do its ports replicate.
func (m *Messenger) trustedLocked(peer identity.ID) bool {
	for k := range m.pending {
		if k.peer == peer {
			return true
		}
	}
	for _, t := range m.tasks {
		if _, ok := t.members[peer]; ok {
			return true
		}
	}
	return false
}

// trusted starts replication on the open ports of a peer just admitted
// (or joined through), before anything is answered on them.
func (m *Messenger) trusted(peer identity.ID) {
	m.mu.Lock()
	var up []*conn
	for _, c := range m.served {
		if c.peer == peer && !c.synced && !m.closed {
			m.wg.Add(1)
			m.startSyncLocked(c)
			up = append(up, c)
		}
	}
	m.mu.Unlock()
	for range up {
		m.emit(Event{Type: EventPeer, Peer: peer, State: "online"})
	}
}

// startSyncLocked opens a port's sync channel and runs replication on it,
// in a goroutine the caller has added to m.wg. Called with m.mu held.
func (m *Messenger) startSyncLocked(c *conn) {
	c.synced = true
	close(c.admitted)
	syncCfg := m.syncConfigLocked(c.peer)
	sess := replication.NewSession(m.db, c.mux.Channel(port.ChannelSync), syncCfg)
	c.sess = sess
	go func() {
		defer m.wg.Done()
		if err := sess.Run(m.ctx); err != nil && m.ctx.Err() == nil {
			m.log.Debug("room: replication ended", "peer", c.peer.Short(), "err", err)
		}
		// A port without its replication would look online and sync
		// nothing: close it, and the dial loop opens another (backing off).
		c.mux.Close()
	}()
}

// syncConfigLocked is the replication config of a session with peer: the
// messenger's (Config.Sync) with the room's hooks. Called with m.mu held.
func (m *Messenger) syncConfigLocked(peer identity.ID) replication.Config {
	syncCfg := m.cfg.Sync
	if obs := m.cfg.Observe; obs != nil {
		next := syncCfg.OnEvent
		syncCfg.OnEvent = func(ev replication.Event) {
			obs.Sync(ev, peer)
			if next != nil {
				next(ev)
			}
		}
	}
	syncCfg.OnFork = func(book identity.ID, fork *journal.Fork) {
		m.wg.Add(1) // the session's goroutine holds m.wg above zero
		go func() {
			defer m.wg.Done()
			m.ensureWith(peer, func(*task, *member) bool { return true }) // the forked book's task may be lazy
			m.forked(peer, book)
			m.heal(peer, book, fork)
		}()
	}
	m.deviceSyncLocked(&syncCfg, peer)
	m.syncFilesLocked(&syncCfg, peer)
	// A member shows a message as its author's write begins (pending
	// until stored: docs/storage.md).
	syncCfg.Previews = true
	return syncCfg
}

// forked reports that peer proved a fork of this profile's book to it
// (replication.Config.OnFork): an EventFork for the book's task.
func (m *Messenger) forked(peer, book identity.ID) {
	t, mb := m.outOf(book)
	if t == nil || mb.id != peer {
		return // a book that a successor replaced: told again at each session
	}
	task := t.id
	m.log.Warn("room: a member holds proof that this profile wrote its book from two places", "task", task, "member", peer.Short())
	m.emit(Event{Type: EventFork, Task: task, Peer: peer,
		Err: fmt.Errorf("%s holds proof that this profile wrote its messages to them from two places at once (another browser or device, or an older backup): they take no more of them in this task", peer.Short())})
}

// connect returns the live port to peer, dialling (and waiting while the
// peer is offline) if there is none.
func (m *Messenger) connect(ctx context.Context, peer identity.ID) (*conn, error) {
	m.mu.Lock()
	c := m.conns[peer]
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if c == nil || c.closed() {
		m.emit(Event{Type: EventPeer, Peer: peer, State: "waiting"})
	}
	// Dial even with a live port (one the peer opened): the IO then
	// returns that port and takes it as asked for (peerio: watched at the
	// relay, so its close is seen even when the peer's close frame is
	// lost; no stranger's limits).
	p, err := m.cfg.Dial(ctx, peer)
	if err != nil {
		return nil, err
	}
	if c = m.accept(p); c == nil {
		return nil, ErrClosed
	}
	if c.closed() {
		// The dialer still held a port that just broke: it will learn so
		// (and wait for the peer) on the next try.
		return nil, errPortClosed
	}
	return c, nil
}

var errPortClosed = errors.New("room: the port closed")

// maxRetries bounds the dial loop's pause, in Retry: with the default
// Retry of 1 s a refusing member is dialled at most about eight times a
// minute.
const maxRetries = 10

// nextWait is the dial loop's pause after a try that took up and ended
// with closed (nil: the dial failed): Retry after a port that stayed up
// maxRetries×Retry, or that closed because an end went offline
// (port.ErrOffline: the next dial waits until both are back, so a pause
// that grew through a relay's restarts would only delay the session);
// else the last pause doubled (Retry after none), at most
// maxRetries×Retry.
func nextWait(last, retry, up time.Duration, closed error) time.Duration {
	if last == 0 || up >= maxRetries*retry || errors.Is(closed, port.ErrOffline) {
		return retry
	}
	return min(2*last, maxRetries*retry)
}

// portErr is why p closed, if its kind tells (peerio's ports do).
func portErr(p port.Port) error {
	if e, ok := p.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// dialLocked keeps a port open to a member for as long as the messenger
// runs: a loop that dials, waits for the port to close, and dials again.
func (m *Messenger) dialLocked(peer identity.ID) {
	if m.dialing[peer] || peer == m.self || m.closed {
		return
	}
	m.dialing[peer] = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// Under js/wasm goroutines are not preempted: every path of this
		// loop blocks (on the dialer, the retry pause or the port) so the
		// rest of the page runs.
		// A failed dial, or a port that closed soon after it opened (a
		// member that refuses the session, a link that keeps dropping),
		// waits before the next: Retry, doubling up to maxRetries×Retry, so
		// nothing loops (nextWait).
		var wait time.Duration
		for m.ctx.Err() == nil {
			start := time.Now()
			c, err := m.connect(m.ctx, peer)
			var closed error
			if err != nil {
				if m.ctx.Err() == nil {
					m.log.Debug("room: dial", "peer", peer.Short(), "err", err)
				}
			} else {
				select {
				case <-c.mux.Done():
				case <-m.ctx.Done():
				}
				closed = portErr(c.p)
			}
			wait = nextWait(wait, m.cfg.Retry, time.Since(start), closed)
			select {
			case <-m.ctx.Done():
			case <-time.After(wait):
			}
			if m.forgotten(peer) {
				return // no task shared any more (leave.go)
			}
		}
	}()
}

// The room protocol: JSON messages on the room channel, each with the
// protocol version (v, RoomVersion) and a type:
//
//	{"v":2, "type":"join",    "task":T, "key":K, "secret":S}
//	                   K: the sender's book to the receiver; S (base64):
//	                   the secret of the receiver's invite, when the sender
//	                   is not a member yet (the receiver then announces it);
//	                   without it, the sender pairs as a member, accepted
//	                   only if the receiver holds an announcement of it
//	{"v":2, "type":"joined",  "task":T, "key":K, "title":…, "parent":P, "members":[…], "clock":c, "taskSecret":S}
//	                   S (base64, 32 bytes): the task's secret (secret.go)
//	                   clock: the highest clock the answering member has
//	                   seen, so the joiner's first message comes after it;
//	                   members: informative, never taken
//	{"v":2, "type":"refused", "task":T, "error":…}
//	{"v":2, "type":"digest",  "task":T, "author":X, "start":i, "digests":D}
//	                   D (base64): SHA-256 of each of X's messages i, i+1, …
//	                   as the sender holds them (see equivocation.go)
//	{"v":2, "type":"prove",   "task":T, "author":X, "start":i}
//	                   asks for the sender's copy of X's message i
//	{"v":2, "type":"proof",   "task":T, "author":X, "start":i, "copy":C}
//	                   C: the copy, with its signed head and proofs
//	{"v":2, "type":"askroots", "task":T, "key":K, "lengths":[n…]}
//	                   asks for the receiver's roots of K (the sender's book to
//	                   it, forked there) at lengths n (1–64, increasing)
//	{"v":2, "type":"roots",   "task":T, "key":K, "lengths":[n…], "roots":[R…], "error":…}
//	                   R (base64): the root at each length, empty above the
//	                   pages held; or error, and no roots
//	{"v":2, "type":"receipt", "task":T, "received":r, "read":d}
//	                   how far the sender holds and read the receiver's
//	                   messages in T (receipt.go)
//	{"v":2, "type":"rekey",   "task":T, "epochs":[{"epoch":e, "secret":S}…]}
//	                   the task's secrets after the first, from its creator
//	                   (remove.go); "epochs" and "creator" (who made the
//	                   task) also go in joined and held answers
//	{"v":2, "type":"successor", "task":T, "key":K}
//	                   the sender's book to the receiver goes on in K
//	                   (successor.go)
//
// A stranger's port carries only this channel, and only joins: anything
// else, or more than maxStrangerJoins, closes it.
type wire struct {
	V          int           `json:"v"`
	Type       string        `json:"type"`
	Task       TaskID        `json:"task"`
	Key        identity.ID   `json:"key,omitzero"`
	Secret     []byte        `json:"secret,omitempty"`
	Title      string        `json:"title,omitempty"`
	Parent     *TaskID       `json:"parent,omitempty"`
	Members    []identity.ID `json:"members,omitempty"`
	Clock      uint64        `json:"clock,omitempty"`
	Error      string        `json:"error,omitempty"`
	Author     identity.ID   `json:"author,omitzero"`
	Start      uint64        `json:"start,omitempty"`
	Digests    []byte        `json:"digests,omitempty"`
	Copy       *Copy         `json:"copy,omitempty"`
	Lengths    []uint64      `json:"lengths,omitempty"`
	TaskSecret []byte        `json:"taskSecret,omitempty"`
	// The task's secrets after the first, and its creator (remove.go).
	Epochs   []epochSecret `json:"epochs,omitempty"`
	Creator  identity.ID   `json:"creator,omitzero"`
	Received uint64        `json:"received,omitempty"`
	Read     uint64        `json:"read,omitempty"`
	Roots    [][]byte      `json:"roots,omitempty"`
	// A restore's held (restore.go).
	Host  identity.ID `json:"host,omitzero"`
	Head  []byte      `json:"head,omitempty"`
	Pages [][]byte    `json:"pages,omitempty"`
	// Cert: the sender's device certificate, in a join or joined of a
	// device that is not its person's first (devices.go).
	Cert json.RawMessage `json:"cert,omitempty"`
	// Link: a task a recall answer gives (recall.go).
	Link *LinkTask `json:"link,omitempty"`
	// Revocation of a device, told to every peer online (devices.go).
	Revocation json.RawMessage `json:"revocation,omitempty"`
	// Departed: in a joined, the members that left and the keys of their
	// books to the sender (departed.go).
	Departed []departedBook `json:"departed,omitempty"`
}

// RoomVersion is the version of the room protocol (1 had no version field
// and no invite secret).
const RoomVersion = 2

// Room message types.
const (
	wireJoin    = "join"
	wireJoined  = "joined"
	wireRefused = "refused"
	wireDigest  = "digest"
	wireProve   = "prove"
	wireProof   = "proof"
	// Fork healing (successor.go).
	wireAskRoots  = "askroots"
	wireRoots     = "roots"
	wireSuccessor = "successor"
	wireReceipt   = "receipt" // receipt.go
	wireRekey     = "rekey"   // remove.go
)

// Bounds of the room protocol.
const (
	maxDigests       = 256 // digests in one digest message
	maxStrangerJoins = 4   // joins a stranger may send on one port
	maxProves        = 16  // copies a member may ask for on one port (each reads a whole book)
)

// decodeWire reads a room message, bounded and strict.
func decodeWire(b []byte) (wire, error) {
	var w wire
	if len(b) > maxWire {
		return w, fmt.Errorf("room: message of %d bytes, at most %d", len(b), maxWire)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return w, fmt.Errorf("room: bad message: %w", err)
	}
	if d.More() {
		return w, errors.New("room: bad message: more than one value")
	}
	switch w.Type {
	case wireJoin, wireJoined, wireRefused, wireDigest, wireProve, wireProof, wireAskRoots, wireRoots, wireSuccessor, wireReceipt, wireRekey:
	case wireRestore, wireHeld, wireRestored:
	case wireRecall, wireRecalled, wireRevokeDevice:
	default:
		return w, fmt.Errorf("room: unknown message type %q", clip(w.Type))
	}
	if err := checkRoots(w); err != nil {
		return w, err
	}
	if err := checkHeldWire(&w); err != nil {
		return w, err
	}
	if err := checkEpochs(w); err != nil {
		return w, err
	}
	if err := checkDeparted(w); err != nil {
		return w, err
	}
	keyed := w.Type == wireJoin || w.Type == wireJoined || w.Type == wireAskRoots || w.Type == wireRoots || w.Type == wireSuccessor
	authored := w.Type == wireDigest || w.Type == wireProve || w.Type == wireProof
	switch {
	case w.V != RoomVersion:
		return w, fmt.Errorf("room: protocol version %d, want %d", w.V, RoomVersion)
	case keyed && w.Key.Check() != nil:
		return w, errors.New("room: message without a valid key")
	case authored && w.Author.Check() != nil:
		return w, errors.New("room: message without a valid author")
	case len(w.Cert) > device.MaxEncoded || w.Cert != nil && w.Type != wireJoin && w.Type != wireJoined && w.Type != wireRecall:
		return w, errors.New("room: a device certificate out of place or too long")
	case w.Secret != nil && len(w.Secret) != InviteSecretSize:
		return w, fmt.Errorf("room: invite secret of %d bytes, want %d", len(w.Secret), InviteSecretSize)
	case len(w.Members) > MaxMembers:
		return w, fmt.Errorf("room: %d members, at most %d", len(w.Members), MaxMembers)
	case len(w.Title) > MaxTitle, len(w.Error) > 1024:
		return w, errors.New("room: message field too long")
	case w.TaskSecret != nil && (len(w.TaskSecret) != seal.KeySize || w.Type != wireJoined && w.Type != wireHeld):
		return w, errors.New("room: a task secret out of place, or not of 32 bytes")
	case (w.Received != 0 || w.Read != 0) && w.Type != wireReceipt:
		return w, errors.New("room: a receipt out of place")
	case w.Received > MaxClock || w.Read > w.Received:
		return w, fmt.Errorf("room: a receipt of %d read of %d received", w.Read, w.Received)
	case w.Clock > MaxClock:
		return w, fmt.Errorf("room: clock %d, at most %d", w.Clock, uint64(MaxClock))
	case len(w.Digests)%sha256.Size != 0 || len(w.Digests) > maxDigests*sha256.Size:
		return w, fmt.Errorf("room: %d bytes of digests", len(w.Digests))
	case w.Type == wireDigest && (w.Start < 1 || len(w.Digests) == 0):
		return w, errors.New("room: a digest of no messages")
	case (w.Type == wireProve || w.Type == wireProof) && w.Start < 1:
		return w, errors.New("room: a proof of no message")
	case (w.Type == wireProof) != (w.Copy != nil):
		return w, errors.New("room: a copy out of place")
	case len(w.Revocation) > device.MaxEncoded || (w.Revocation != nil) != (w.Type == wireRevokeDevice):
		return w, errors.New("room: a revocation out of place or too long")
	case w.Link != nil && w.Type != wireRecalled, w.Type == wireRecall && w.Cert == nil:
		return w, errors.New("room: a recall out of place")
	}
	if w.Copy != nil {
		if err := w.Copy.checkSizes(); err != nil {
			return w, err
		}
	}
	return w, nil
}

func (m *Messenger) send(ctx context.Context, c *conn, w wire) error {
	w.V = RoomVersion
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if m.cfg.Observe != nil {
		m.cfg.Observe.App(c.peer, true, w.Type, len(b))
	}
	return c.room.Send(ctx, b)
}

// serveRoom reads the room channel until the port closes. A stranger
// (a port not replicating yet) may send only joins, at most
// maxStrangerJoins: anything else closes its port.
func (m *Messenger) serveRoom(c *conn) {
	defer m.dropHeld(c, nil) // a restore answer cut short
	for {
		b, err := c.room.Recv(m.ctx)
		if err != nil {
			return
		}
		w, err := decodeWire(b)
		if m.cfg.Observe != nil {
			m.cfg.Observe.App(c.peer, false, w.Type, len(b))
		}
		m.mu.Lock()
		stranger := !c.synced
		m.mu.Unlock()
		if stranger && err == nil && w.Type == wireReceipt {
			// A member's receipt, sent on open to a profile that does not
			// count it as a member yet (restoring, or its join not yet
			// answered): ignored, the port kept.
			continue
		}
		if stranger && (err != nil || w.Type != wireJoin || c.joins >= maxStrangerJoins) && (err != nil || !m.strangerMayRestore(c, w)) {
			m.log.Info("room: closing a stranger's port", "peer", c.peer.Short(), "type", clip(w.Type), "err", err)
			c.mux.Close()
			return
		}
		if err != nil {
			m.log.Warn("room: from "+c.peer.Short(), "err", err)
			continue
		}
		if !stranger && w.Type != wireRevokeDevice && m.isRevoked(c.peer) {
			continue // a revoked device's last words (closePorts): revocations only
		}
		switch w.Type {
		case wireJoin:
			if stranger {
				c.joins++
			}
			m.onJoin(c, w)
		case wireJoined, wireRefused:
			m.onAnswer(c, w)
		case wireDigest:
			m.onDigest(c, w)
		case wireProve:
			// Answered off this goroutine: making a copy reads a whole
			// book, and the port's other messages must not wait.
			if c.proves++; c.proves <= maxProves {
				if c.proves == 1 {
					m.wg.Add(1)
					go m.proveLoop(c)
				}
				c.proveQ <- w // never blocks: room for maxProves
			}
		case wireProof:
			m.onProof(c, w)
		case wireRestore:
			m.onRestoreAsk(m.ctx, c)
		case wireHeld:
			m.onHeld(c, w)
		case wireRestored:
			m.onRestored(m.ctx, c)
		case wireRecall:
			m.onRecall(c, w)
		case wireRevokeDevice:
			m.onRevokeWire(c, w)
		case wireAskRoots:
			// Answered off this goroutine: it reads a whole book.
			if c.roots++; c.roots <= maxRootAsks {
				m.goSend(func(ctx context.Context) { m.onAskRoots(ctx, c, w) })
			}
		case wireRoots:
			m.onRoots(c, w)
		case wireReceipt:
			m.onReceipt(c, w)
		case wireRekey:
			m.onRekey(c, w)
		case wireSuccessor:
			m.goSend(func(ctx context.Context) { m.follow(ctx, c, w) })
		}
	}
}
