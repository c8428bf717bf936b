package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// conn is the messenger's side of one port to a peer: a mux with the
// replication session on the sync channel and the room protocol on the
// room channel.
type conn struct {
	peer identity.ID
	p    port.Port
	mux  *port.Mux
	room port.Port
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
	mux := port.NewMux(p, port.ChannelSync, port.ChannelRoom)
	c := &conn{peer: p.Remote(), p: p, mux: mux, room: mux.Channel(port.ChannelRoom)}
	m.conns[c.peer] = c
	m.served[p] = c
	m.wg.Add(3)
	m.mu.Unlock()

	syncCfg := m.cfg.Sync
	if obs := m.cfg.Observe; obs != nil {
		next := syncCfg.OnEvent
		syncCfg.OnEvent = func(ev replication.Event) {
			obs.Sync(ev, c.peer)
			if next != nil {
				next(ev)
			}
		}
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
	sess := replication.NewSession(m.db, mux.Channel(port.ChannelSync), syncCfg)
	go func() {
		defer m.wg.Done()
		if err := sess.Run(m.ctx); err != nil && m.ctx.Err() == nil {
			m.log.Debug("room: replication ended", "peer", c.peer.Short(), "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.serveRoom(c)
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
		}
		delete(m.served, p)
		m.mu.Unlock()
		if current {
			m.emit(Event{Type: EventPeer, Peer: c.peer, State: "offline"})
		}
		if m.cfg.Observe != nil {
			m.cfg.Observe.Port(c.peer, false, "")
		}
	}()
	m.emit(Event{Type: EventPeer, Peer: c.peer, State: "online"})
	m.pairAll(c)
	return c
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
	if c != nil && !c.closed() {
		return c, nil
	}
	m.emit(Event{Type: EventPeer, Peer: peer, State: "waiting"})
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
		for m.ctx.Err() == nil {
			c, err := m.connect(m.ctx, peer)
			if err != nil {
				if m.ctx.Err() == nil {
					m.log.Debug("room: dial", "peer", peer.Short(), "err", err)
				}
				select {
				case <-m.ctx.Done():
				case <-time.After(m.cfg.Retry):
				}
				continue
			}
			select {
			case <-c.mux.Done():
			case <-m.ctx.Done():
			}
		}
	}()
}

// The room protocol: JSON messages on the room channel.
//
//	{"type":"join",    "task":T, "key":K, "invite":true}
//	                   K: the sender's book to the receiver; invite: the
//	                   sender joins through an invite (the receiver then
//	                   announces it), else it pairs as a member
//	{"type":"joined",  "task":T, "key":K, "title":…, "parent":P, "members":[…], "clock":c}
//	                   clock: the highest clock the answering member has
//	                   seen, so the joiner's first message comes after it
//	{"type":"refused", "task":T, "error":…}
type wire struct {
	Type    string        `json:"type"`
	Task    TaskID        `json:"task"`
	Key     identity.ID   `json:"key,omitzero"`
	Invite  bool          `json:"invite,omitempty"`
	Title   string        `json:"title,omitempty"`
	Parent  *TaskID       `json:"parent,omitempty"`
	Members []identity.ID `json:"members,omitempty"`
	Clock   uint64        `json:"clock,omitempty"`
	Error   string        `json:"error,omitempty"`
}

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
	switch {
	case w.Type != "join" && w.Type != "joined" && w.Type != "refused":
		return w, fmt.Errorf("room: unknown message type %q", clip(w.Type))
	case w.Type != "refused" && w.Key.Check() != nil:
		return w, errors.New("room: message without a valid key")
	case len(w.Members) > MaxMembers:
		return w, fmt.Errorf("room: %d members, at most %d", len(w.Members), MaxMembers)
	case len(w.Title) > MaxTitle, len(w.Error) > 1024:
		return w, errors.New("room: message field too long")
	}
	return w, nil
}

func (m *Messenger) send(ctx context.Context, c *conn, w wire) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if m.cfg.Observe != nil {
		m.cfg.Observe.App(c.peer, true, w.Type, len(b))
	}
	return c.room.Send(ctx, b)
}

// serveRoom reads the room channel until the port closes.
func (m *Messenger) serveRoom(c *conn) {
	for {
		b, err := c.room.Recv(m.ctx)
		if err != nil {
			return
		}
		w, err := decodeWire(b)
		if m.cfg.Observe != nil {
			m.cfg.Observe.App(c.peer, false, w.Type, len(b))
		}
		if err != nil {
			m.log.Warn("room: from "+c.peer.Short(), "err", err)
			continue
		}
		switch w.Type {
		case "join":
			m.onJoin(c, w)
		default:
			m.onAnswer(c, w)
		}
	}
}
