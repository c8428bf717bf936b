//go:build !js

// Package cluster joins relay nodes into one relay over NATS (issue #15):
// a peer registers on any node, and reaches, watches and replaces peers
// on every other.
//
// # Design
//
// Each node has a random name and keeps, in its relay.Server, a directory
// of the peers registered on the other nodes (peer id → node, session
// stamp). The directory is fed by one broadcast subject; a send to a peer
// on another node goes to that node's own subject, so a frame crosses
// NATS once, to one subscriber, and a node's subscriptions do not grow
// with its peers (docs/scale.md has the numbers behind this choice).
//
//	subject               what                                      fan-out
//	tm.relay.dir          a session registered / ended on a node;     every node
//	                      a node's whole list (sync); its heartbeat
//	                      (name, URL, peers) and its leaving
//	tm.relay.sync.<node>  "send your whole list" (to a node newly     one node
//	                      seen, seen again after a partition, or
//	                      whose messages came with a gap)
//	tm.relay.to.<node>    a send forwarded to a peer on node; the     one node
//	                      answer when it is not there (offline, queue
//	                      full)
//
// Messages are binary (see encode.go) and bounded; a message that does
// not decode is dropped and counted, never trusted. Each node numbers its
// directory messages: NATS delivers them in order but drops what it
// cannot route (an interest not yet known across a new route), so a
// receiver that sees a number skipped asks the node for its whole list.
// One subject for all of them keeps that order, heartbeats included: the
// next heartbeat (every Every) shows a loss at the end.
//
// A session is stamped with its registration time (later than any
// session of the id the node knew): the newest stamp wins everywhere, so
// a peer that reconnects to another node replaces its old session there
// (closed "replaced") and its watchers see it go and come back, as on
// one node. A node is alive while its heartbeats come (every Every; gone
// after Expire without one, or at once when it says it leaves): the
// sessions of a node that is gone are offline for every watcher.
//
// When NATS is unreachable the node serves its own peers alone: every
// other node is gone for it (their peers offline), a send to them is
// answered "offline", and Connected says so (/healthz, /metrics). When
// NATS is back the node sends its list and asks the others for theirs.
package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Subjects.
const (
	subjDir  = "tm.relay.dir"
	subjSync = "tm.relay.sync." // + node
	subjTo   = "tm.relay.to."   // + node
	subjNone = "tm.relay.none." // + node + "." + from + "." + to (hex): NATS's "no responders"
)

// maxKnown bounds the node URLs a node remembers (KnownURLs).
const maxKnown = 1024

// syncPart is the most sessions in one sync message (48 bytes each: a
// message stays under 1 MiB, NATS's default most).
const syncPart = 16 << 10

// Config configures a node.
type Config struct {
	// URL is this node's relay websocket URL as the page reaches it
	// (ws://host:port/relay): told to the other nodes, and listed in
	// the page's /config.json.
	URL string
	// Every is the heartbeat period (default 1s); a node is gone after
	// Expire without one (default 5 × Every).
	Every, Expire time.Duration
	// Logger; none if nil.
	Logger *slog.Logger
}

// A Node is a relay server joined to its cluster.
type Node struct {
	srv  *relay.Server
	nc   *nats.Conn
	nn   *natsnode.Node
	name string
	cfg  Config
	log  *slog.Logger
	subs []*nats.Subscription
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	nodes map[string]*nodeInfo // live other nodes, by name
	known map[string]struct{}  // every node URL heard since start (at most maxKnown)

	// syncMu makes this node's syncs one at a time (their parts do not
	// mix); pubMu numbers and publishes its directory messages in order.
	syncMu sync.Mutex
	epoch  uint64 // guarded by syncMu: this node's latest sync
	pubMu  sync.Mutex
	seq    uint64 // guarded by pubMu: the last directory message's number

	bad        atomic.Uint64 // messages that did not decode
	forwardErr atomic.Uint64 // sends that could not be published
	// noResponders counts sends no node took (their node was gone).
	noResponders atomic.Uint64
	// expired counts the nodes taken for gone for want of heartbeats.
	expired atomic.Uint64
}

type nodeInfo struct {
	url   string
	peers int
	seen  time.Time
	seq   uint64 // the number of its last directory message
}

// A Member is a live node of the cluster as this node knows it.
type Member struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Peers int    `json:"peers"`
	Self  bool   `json:"self,omitempty"`
}

// Join makes srv a node of the cluster NATS connection nn reaches (see
// package natsnode). It returns at once, even if NATS is unreachable.
func Join(srv *relay.Server, nn *natsnode.Node, cfg Config) (*Node, error) {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Expire <= 0 {
		cfg.Expire = 5 * cfg.Every
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	n := &Node{srv: srv, nc: nn.Conn, nn: nn, name: hex.EncodeToString(b[:]), cfg: cfg,
		nodes: make(map[string]*nodeInfo), known: make(map[string]struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	n.log = cfg.Logger.With("node", n.name)
	srv.SetCluster(n, n.name)
	for subj, h := range map[string]nats.MsgHandler{
		subjDir:                    n.onDir,
		subjSync + n.name:          func(*nats.Msg) { n.sendSync() },
		subjTo + n.name:            n.onTo,
		subjNone + n.name + ".*.*": n.onNoResponders,
	} {
		sub, err := n.nc.Subscribe(subj, h)
		if err != nil {
			n.unsubscribe()
			return nil, fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		// A burst of sends waits in the subscription, not dropped early.
		sub.SetPendingLimits(1<<20, 256<<20)
		n.subs = append(n.subs, sub)
	}
	nn.OnChange(n.onNATS)
	if n.nc.IsConnected() {
		n.onNATS(true)
	}
	go n.beat()
	return n, nil
}

// Name is this node's name in the cluster.
func (n *Node) Name() string { return n.name }

// Connected reports whether the node reaches NATS (and so the others).
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Members returns the live nodes, this one first, the others by name.
func (n *Node) Members() []Member {
	out := []Member{{Name: n.name, URL: n.cfg.URL, Peers: n.srv.Stats().Peers, Self: true}}
	n.mu.Lock()
	for name, info := range n.nodes {
		out = append(out, Member{Name: name, URL: info.url, Peers: info.peers})
	}
	n.mu.Unlock()
	slices.SortFunc(out[1:], func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// URLs returns the relay URLs of the live nodes, this one first, the
// others by node name. The page's /config.json and CSP ask for them on
// every request: it reads only the node table (not the server's Stats,
// as Members does).
func (n *Node) URLs() []string {
	n.mu.Lock()
	names := make([]string, 0, len(n.nodes))
	for name := range n.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []string
	if n.cfg.URL != "" {
		out = append(out, n.cfg.URL)
	}
	for _, name := range names {
		if u := n.nodes[name].url; u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	n.mu.Unlock()
	return out
}

// KnownURLs returns the relay URLs of every node heard of since this one
// started, live or not, this one's first: the pages they served may fail
// over to this node after their own died.
func (n *Node) KnownURLs() []string {
	out := []string{n.cfg.URL}
	n.mu.Lock()
	for u := range n.known {
		if u != n.cfg.URL {
			out = append(out, u)
		}
	}
	n.mu.Unlock()
	return out
}

// Close tells the others this node leaves and stops taking part. Close
// the relay server after (its peers then reconnect to other nodes).
func (n *Node) Close() {
	select {
	case <-n.stop:
		return
	default:
	}
	close(n.stop)
	<-n.done
	if n.nc.IsConnected() {
		n.publishDir(n.heartbeat(true))
		n.nc.FlushTimeout(time.Second)
	}
	n.unsubscribe()
}

func (n *Node) unsubscribe() {
	for _, s := range n.subs {
		s.Unsubscribe()
	}
}

// beat sends the heartbeat every Every and forgets nodes not heard from
// within Expire.
func (n *Node) beat() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.nc.IsConnected() {
			n.publishDir(n.heartbeat(false))
		}
		n.expire(time.Now())
	}
}

// Expired returns how many times this node took another for gone because
// its heartbeats stopped (Config.Expire): a node killed, or one too busy
// to beat in time.
func (n *Node) Expired() uint64 { return n.expired.Load() }

func (n *Node) expire(now time.Time) {
	var gone []string
	n.mu.Lock()
	for name, info := range n.nodes {
		if now.Sub(info.seen) > n.cfg.Expire {
			delete(n.nodes, name)
			gone = append(gone, name)
		}
	}
	n.mu.Unlock()
	n.expired.Add(uint64(len(gone)))
	for _, name := range gone {
		n.log.Warn("cluster: node gone (no heartbeat)", "gone", name)
		n.srv.RemoteNodeGone(name)
	}
}

// onNATS follows the NATS connection: down, every other node is gone for
// this one; up (again), it sends its list and its heartbeat (the others
// that had lost it ask for its list, and it for theirs, as they are
// heard).
func (n *Node) onNATS(up bool) {
	if !up {
		n.mu.Lock()
		names := make([]string, 0, len(n.nodes))
		for name := range n.nodes {
			names = append(names, name)
		}
		clear(n.nodes)
		n.mu.Unlock()
		for _, name := range names {
			n.srv.RemoteNodeGone(name)
		}
		return
	}
	n.sendSync()
	n.publishDir(n.heartbeat(false))
}

func (n *Node) heartbeat(leaving bool) []byte {
	return encodeHeartbeat(n.name, n.srv.Stats().Peers, leaving, n.cfg.URL)
}

// left forgets a node that said it leaves.
func (n *Node) left(node string) {
	n.mu.Lock()
	delete(n.nodes, node)
	n.mu.Unlock()
	n.log.Info("cluster: node left", "left", node)
	n.srv.RemoteNodeGone(node)
}

// seen marks a directory message's node alive. A node not known, or whose
// message does not follow the last one heard, is asked for its whole
// list: it is new, this node had given it up, or a message was lost.
func (n *Node) seen(d *dirMsg) {
	n.mu.Lock()
	info := n.nodes[d.node]
	fresh := info == nil
	if fresh {
		info = &nodeInfo{}
		n.nodes[d.node] = info
	}
	gap := !fresh && d.seq != info.seq+1
	info.seen, info.seq = time.Now(), d.seq
	n.mu.Unlock()
	switch {
	case fresh:
		n.log.Info("cluster: node joined", "joined", d.node)
	case gap:
		n.log.Warn("cluster: directory messages lost; asking for the whole list", "from", d.node)
	default:
		return
	}
	n.publish(subjSync+d.node, nil)
}

func validName(s string) bool {
	if len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Registered tells the others (relay.Cluster).
func (n *Node) Registered(id identity.ID, at int64) {
	n.publishDir(encodeSession(opRegistered, n.name, id, at))
}

// Unregistered tells the others (relay.Cluster).
func (n *Node) Unregistered(id identity.ID, at int64) {
	n.publishDir(encodeSession(opUnregistered, n.name, id, at))
}

// sendSync publishes this node's whole list, in parts.
func (n *Node) sendSync() {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	n.epoch++
	n.srv.Sync(syncPart, func(peers []relay.RemotePeer, last bool) {
		n.publishDir(encodeSync(n.name, n.epoch, peers, last))
	})
}

// publishDir numbers a directory message and publishes it. A message
// that cannot be sent (NATS unreachable) still takes its number: the
// others see the gap and ask for the whole list.
func (n *Node) publishDir(b []byte) {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.seq++
	setSeq(b, n.seq)
	n.publish(subjDir, b)
}

func (n *Node) onDir(m *nats.Msg) {
	d, err := decodeDir(m.Data)
	if err != nil {
		n.bad.Add(1)
		n.log.Warn("cluster: bad directory message", "err", err)
		return
	}
	if d.node == n.name {
		return
	}
	if d.op == opHeartbeat && d.leaving {
		n.left(d.node)
		return
	}
	n.seen(d)
	switch d.op {
	case opHeartbeat:
		n.mu.Lock()
		if info := n.nodes[d.node]; info != nil {
			info.url, info.peers = d.url, d.count
		}
		if _, ok := n.known[d.url]; !ok && d.url != "" && len(n.known) < maxKnown {
			n.known[d.url] = struct{}{}
		}
		n.mu.Unlock()
	case opRegistered:
		n.srv.RemoteRegistered(d.node, d.id, d.at)
	case opUnregistered:
		n.srv.RemoteUnregistered(d.node, d.id, d.at)
	case opSync:
		n.srv.RemoteSync(d.node, d.epoch, d.peers, d.last)
	}
}

// Forward publishes a send to the node its target is on (relay.Cluster).
// Its reply subject names sender and target: if no one takes it (the
// node died and NATS already knows), NATS answers there at once
// ("no responders") and the sender is told the target is offline, as
// when the target's node answers that it left.
func (n *Node) Forward(node string, from identity.ID, fromAt int64, to identity.ID, kind relay.Kind, payload []byte) bool {
	if !n.nc.IsConnected() {
		return false
	}
	msg := &nats.Msg{Subject: subjTo + node, Reply: subjNone + n.name + "." + hex.EncodeToString(from[:]) + "." + hex.EncodeToString(to[:]),
		Data: encodeSend(n.name, from, fromAt, to, kind, payload)}
	if err := n.nc.PublishMsg(msg); err != nil {
		n.forwardErr.Add(1)
		return false
	}
	return true
}

// onNoResponders answers a sender whose send reached no node.
func (n *Node) onNoResponders(m *nats.Msg) {
	if m.Header.Get("Status") != "503" {
		n.bad.Add(1)
		return
	}
	tail := strings.TrimPrefix(m.Subject, subjNone+n.name+".")
	from, to, ok := strings.Cut(tail, ".")
	fid, err1 := hex.DecodeString(from)
	tid, err2 := hex.DecodeString(to)
	if !ok || err1 != nil || err2 != nil || len(fid) != identity.IDSize || len(tid) != identity.IDSize {
		n.bad.Add(1)
		return
	}
	n.noResponders.Add(1)
	node := strings.TrimPrefix(m.Header.Get("Nats-Subject"), subjTo)
	n.srv.Undelivered(identity.ID(fid), identity.ID(tid), node, relay.CodeOffline, "not connected")
}

func (n *Node) onTo(m *nats.Msg) {
	t, err := decodeTo(m.Data)
	if err != nil {
		n.bad.Add(1)
		n.log.Warn("cluster: bad forwarded message", "err", err)
		return
	}
	switch t.op {
	case opSend:
		if err := n.srv.Deliver(t.node, t.from, t.fromAt, t.to, t.kind, t.payload); err != nil {
			code, detail := relay.DeliverError(err)
			n.publish(subjTo+t.node, encodeUndelivered(n.name, t.from, t.to, code, detail))
		}
	case opUndelivered:
		n.srv.Undelivered(t.from, t.to, t.node, t.code, t.detail)
	}
}

func (n *Node) publish(subj string, b []byte) {
	if err := n.nc.Publish(subj, b); err != nil && n.nc.IsConnected() {
		n.log.Warn("cluster: publish", "subject", subj, "err", err)
	}
}

// WriteMetrics writes the node's cluster metrics in the Prometheus text
// format.
func (n *Node) WriteMetrics(w io.Writer) {
	up := 0
	if n.Connected() {
		up = 1
	}
	n.mu.Lock()
	nodes := len(n.nodes) + 1
	n.mu.Unlock()
	fmt.Fprintf(w, "# HELP relay_cluster_connected 1 while the node reaches NATS (and so the other nodes).\n# TYPE relay_cluster_connected gauge\nrelay_cluster_connected %d\n", up)
	fmt.Fprintf(w, "# HELP relay_cluster_nodes Live relay nodes, this one included.\n# TYPE relay_cluster_nodes gauge\nrelay_cluster_nodes %d\n", nodes)
	fmt.Fprintf(w, "# HELP relay_cluster_bad_messages_total Cluster messages that did not decode (dropped).\n# TYPE relay_cluster_bad_messages_total counter\nrelay_cluster_bad_messages_total %d\n", n.bad.Load())
	fmt.Fprintf(w, "# HELP relay_cluster_nodes_expired_total Nodes taken for gone for want of heartbeats (their peers offline).\n# TYPE relay_cluster_nodes_expired_total counter\nrelay_cluster_nodes_expired_total %d\n", n.expired.Load())
	fmt.Fprintf(w, "# HELP relay_cluster_unrouted_total Sends forwarded to a node that was gone (answered offline).\n# TYPE relay_cluster_unrouted_total counter\nrelay_cluster_unrouted_total %d\n", n.noResponders.Load())
	fmt.Fprintf(w, "# HELP relay_cluster_forward_errors_total Sends that could not be forwarded (answered offline).\n# TYPE relay_cluster_forward_errors_total counter\nrelay_cluster_forward_errors_total %d\n", n.forwardErr.Load())
}

// Health is the node's state in a line, for /healthz.
func (n *Node) Health() string {
	n.mu.Lock()
	nodes := len(n.nodes) + 1
	n.mu.Unlock()
	return fmt.Sprintf("nats: %s; nodes: %d", n.nn.State(), nodes)
}
