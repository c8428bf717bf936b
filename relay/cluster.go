package relay

import (
	"errors"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A Cluster links a Server to the other relay nodes of its cluster
// (issue #15; package relay/cluster does it over NATS). The server keeps
// a directory of the peers registered on other nodes (which node, and
// the session's stamp), fed by the Remote… methods; it tells the cluster
// of its own registrations, and forwards a send to a peer registered
// elsewhere through it.
//
// Registered and Unregistered are called holding the server's lock, in
// the order the sessions came and went, so a cluster must only publish
// (or queue) from them, never call back into the Server.
type Cluster interface {
	// Registered: id has a new session on this node, stamped at (unix
	// nanoseconds, later than any session of id this node knew of).
	Registered(id identity.ID, at int64)
	// Unregistered: id's session stamped at ended on this node (not
	// replaced by a newer one elsewhere).
	Unregistered(id identity.ID, at int64)
	// Forward carries a send from a local peer (its session stamped
	// fromAt) to a peer registered on node. It reports false when it
	// cannot (the cluster is unreachable): the sender is then told the
	// peer is offline.
	Forward(node string, from identity.ID, fromAt int64, to identity.ID, kind Kind, payload []byte) bool
}

// A RemotePeer is a session on another node: its peer id and stamp.
type RemotePeer struct {
	ID identity.ID
	At int64
}

// remoteSession is where a peer registered on another node is.
type remoteSession struct {
	node  string
	at    int64
	epoch uint64 // the node's sync it was last confirmed by (RemoteSync)
}

// ErrNotHere is Deliver's answer for a peer not registered on this node.
var ErrNotHere = errors.New("relay: peer not connected to this node")

// SetCluster joins the server to a cluster under the node name node
// (unique in the cluster). Call it before the server serves anyone.
func (s *Server) SetCluster(c Cluster, node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cluster, s.node = c, node
}

// newer reports whether a session stamped (at, node) is newer than one
// stamped (bt, bnode): the later stamp, the greater node name on a tie.
func newer(at int64, node string, bt int64, bnode string) bool {
	return at > bt || at == bt && node > bnode
}

// stampLocked is the stamp of a new local session of id: now, or just
// after the latest session of id known here (a clock behind another
// node's still replaces it).
func (s *Server) stampLocked(id identity.ID) int64 {
	at := time.Now().UnixNano()
	if old := s.peers[id]; old != nil && old.at >= at {
		at = old.at + 1
	}
	if r, ok := s.remote[id]; ok && r.at >= at {
		at = r.at + 1
	}
	return at
}

// RemoteRegistered records that id has a session stamped at on node.
// A session newer than the one known replaces it: a local one is closed
// ("replaced"), and the watchers see id go and come back; an older one
// is ignored.
func (s *Server) RemoteRegistered(node string, id identity.ID, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remoteRegisteredLocked(node, id, at, s.epochs[node])
}

func (s *Server) remoteRegisteredLocked(node string, id identity.ID, at int64, epoch uint64) {
	if node == s.node {
		return
	}
	if c := s.peers[id]; c != nil {
		if !newer(at, node, c.at, s.node) {
			return // ours is newer: that node closes its own when it learns of ours
		}
		delete(s.peers, id)
		c.cancel(errReplaced)
		s.notifyLocked(id, false)
		s.setRemoteLocked(id, remoteSession{node: node, at: at, epoch: epoch})
		s.notifyLocked(id, true)
		return
	}
	r, ok := s.remote[id]
	switch {
	case ok && r.node == node && r.at == at:
		r.epoch = epoch
		s.remote[id] = r
		return
	case ok && !newer(at, node, r.at, r.node):
		return // a stale message about an older session
	case ok:
		s.deleteRemoteLocked(id, r)
		s.notifyLocked(id, false) // a new session: its watchers dial again
	}
	s.setRemoteLocked(id, remoteSession{node: node, at: at, epoch: epoch})
	s.notifyLocked(id, true)
}

// RemoteUnregistered records that id's session stamped at on node ended.
func (s *Server) RemoteUnregistered(node string, id identity.ID, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endedLocked(id, at)
	if r, ok := s.remote[id]; ok && r.node == node && r.at == at {
		s.deleteRemoteLocked(id, r)
		s.notifyLocked(id, false)
	}
}

// RemoteSync takes a part of node's whole list of sessions: each is
// recorded as by RemoteRegistered; with last, the sessions of node that
// no part of this epoch named are gone. A node sends its list when it
// joins, and when asked (after a partition).
func (s *Server) RemoteSync(node string, epoch uint64, peers []RemotePeer, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if node == s.node {
		return
	}
	s.epochs[node] = epoch
	delete(s.gone, node) // back: its sends may bring their sessions again
	for _, p := range peers {
		s.remoteRegisteredLocked(node, p.ID, p.At, epoch)
	}
	if !last {
		return
	}
	for id := range s.byNode[node] {
		if r := s.remote[id]; r.epoch != epoch {
			s.deleteRemoteLocked(id, r)
			s.notifyLocked(id, false)
		}
	}
}

// RemoteNodeGone forgets every session on node: it left, died, or
// cannot be reached. Their watchers see them go.
func (s *Server) RemoteNodeGone(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.byNode[node] {
		s.endedLocked(id, s.remote[id].at)
		s.deleteRemoteLocked(id, s.remote[id])
		s.notifyLocked(id, false)
	}
	delete(s.epochs, node)
	if len(s.gone) >= maxEnded {
		clear(s.gone)
	}
	s.gone[node] = true
}

// maxEnded bounds the sessions (and nodes) remembered as ended, so that a
// send that arrives after its sender's end does not bring it back
// (Deliver); past it the memory starts afresh, the worst then being a
// peer shown online until its node's next sync.
const maxEnded = 1 << 16

func (s *Server) endedLocked(id identity.ID, at int64) {
	if len(s.ended) >= maxEnded {
		clear(s.ended)
	}
	s.ended[id] = max(s.ended[id], at)
}

func (s *Server) setRemoteLocked(id identity.ID, r remoteSession) {
	s.remote[id] = r
	ids := s.byNode[r.node]
	if ids == nil {
		ids = make(map[identity.ID]struct{})
		s.byNode[r.node] = ids
	}
	ids[id] = struct{}{}
}

func (s *Server) deleteRemoteLocked(id identity.ID, r remoteSession) {
	delete(s.remote, id)
	if ids := s.byNode[r.node]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(s.byNode, r.node)
		}
	}
}

// Sync calls send with this node's sessions, in parts of at most n,
// holding the server's lock: no registration is told between them, so
// the list and what follows it arrive in order.
func (s *Server) Sync(n int, send func(peers []RemotePeer, last bool)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	part := make([]RemotePeer, 0, min(n, len(s.peers)))
	for id, c := range s.peers {
		part = append(part, RemotePeer{ID: id, At: c.at})
		if len(part) == n {
			send(part, false)
			part = part[:0]
		}
	}
	send(part, true)
}

// Deliver hands a send forwarded by node from its peer from (session
// stamped fromAt) to its local target: ErrNotHere if the target is not
// registered here, errBudget and the like if it cannot take it now. The
// answer for the sender is DeliverError's.
//
// The send may arrive before the directory message of the sender's
// session (they travel on different subjects): Deliver records the
// session first, as RemoteRegistered would, so that watchers learn of it
// before its first frame, as on one node. A session that ended here
// already, or of a node gone, is not brought back.
func (s *Server) Deliver(node string, from identity.ID, fromAt int64, to identity.ID, kind Kind, payload []byte) error {
	s.mu.RLock()
	c := s.peers[to]
	r, ok := s.remote[from]
	known := ok && r.node == node && r.at == fromAt
	s.mu.RUnlock()
	if c == nil {
		return ErrNotHere
	}
	if !known {
		s.mu.Lock()
		if s.ended[from] < fromAt && !s.gone[node] {
			s.remoteRegisteredLocked(node, from, fromAt, s.epochs[node])
		}
		s.mu.Unlock()
	}
	s.m.clusterIn.Add(1)
	return s.deliver(c, from, kind, payload)
}

// DeliverError is the error frame's code and detail that tell a sender
// why Deliver refused its send.
func DeliverError(err error) (code, detail string) {
	switch err {
	case errBudget, errBudgetIP:
		return CodeLimit, DetailQueueFull
	case ErrNotHere:
		return CodeOffline, "not connected"
	default:
		return CodeOffline, "dropped"
	}
}

// Undelivered tells the local peer sender that its send to about was
// refused by node, the node about was on (code and detail as
// DeliverError's). An answer about a session that is no longer the one
// known here is dropped: about registered again, here or on another
// node, since the send left, and an "offline" now would tear down the
// ports its watchers just opened to the new session.
func (s *Server) Undelivered(sender, about identity.ID, node, code, detail string) {
	s.mu.RLock()
	c := s.peers[sender]
	_, here := s.peers[about]
	r, elsewhere := s.remote[about]
	s.mu.RUnlock()
	if c == nil || here || elsewhere && r.node != node {
		return
	}
	c.reply(mustEncode(&Frame{Type: FrameError, Code: code, ID: about, Detail: detail}))
}
