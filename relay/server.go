package relay

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/relay/hostguard"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A Server is the relay: it registers each client under the peer id it
// proves, routes sends between registered clients, and tells watchers when
// peers come and go. Serve it with Handler; see Limits for what it bounds.
//
// Each connection runs in the http handler's goroutine, which does the
// handshake and then reads (the client's frames, routing: a send is parsed
// and its recv queued for the receiver without a goroutine of its own),
// and one more goroutine, the writer (the connection's send queue and
// presence, in batches where the client takes them; after the handshake,
// the only goroutine that writes data frames). A timer pings the client;
// its goroutine exists only while a ping is out. Whichever ends the
// connection first gives the cause, and the connection is closed with it
// (see closeError).
type Server struct {
	log   *slog.Logger  // immutable
	lim   Limits        // immutable, defaults applied
	hosts hostguard.Set // immutable after NewServer: the names it answers to
	// pageHosts, if set, are the hosts of other nodes whose pages may
	// open the relay too (WithPageHosts); immutable after NewServer.
	pageHosts func() []Host
	m         metrics // atomic

	// queued is the bytes of recv frames in every connection's send queue
	// (and in a write), bounded by lim.MaxQueuedBytes; queuedIP the same
	// by the receiver's address (no zero entries), each bounded by
	// lim.MaxQueuedBytesPerIP. Any goroutine takes and gives (take, give)
	// holding qmu; queued is loaded without it.
	qmu      sync.Mutex
	queued   atomic.Int64
	queuedIP map[netip.Prefix]int64 // guarded by qmu
	// lastShed is when shed last looked for stuck clients (UnixNano);
	// shedMu is held by the one shed that looks.
	shedMu   sync.Mutex
	lastShed int64 // guarded by shedMu

	// ctx ends when Close is called (cause errShutdown); every connection's
	// context derives from it.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// Frames the reader sends back when a limit is hit; immutable.
	limitFrames, limitBytes, limitWatch []byte

	// onClose, if set before the server is used, is called when a
	// connection has ended and been counted out (tests); immutable.
	onClose func(c *conn, cause error)
	// onStall, if set before the server is used, is called by routing each
	// time it has waited a whole queueGrace for room in c's full send
	// queue and kept c though no write was done in it (tests); immutable.
	onStall func(c *conn)
	// beforeWrite, if set before the server is used, is called by a
	// connection's writer before each write after the handshake (tests);
	// immutable.
	beforeWrite func(c *conn)
	// noBatch, if set before the server is used, makes it choose no
	// subprotocol: a relay from before BatchProtocol (tests); immutable.
	noBatch bool
	// inWrite, if set before the server is used, is called inside each
	// write to a connection's socket after the handshake, the write under
	// way (tests); immutable.
	inWrite func(c *conn)

	wg sync.WaitGroup // one per connection handler; Close waits for them

	mu       sync.RWMutex
	closed   bool                               // guarded by mu: Close was called
	open     int                                // guarded by mu: connections, handshake included
	perIP    map[netip.Prefix]int               // guarded by mu: open connections by client address (IPv6: /64)
	peers    map[identity.ID]*conn              // guarded by mu: registered connections
	watchers map[identity.ID]map[*conn]struct{} // guarded by mu: who watches each id

	// The cluster (cluster.go), if the server is a node of one: its
	// directory of the peers registered on other nodes.
	cluster Cluster                             // guarded by mu; set once, before serving
	node    string                              // guarded by mu: this node's name in the cluster
	remote  map[identity.ID]remoteSession       // guarded by mu: peers registered on other nodes
	byNode  map[string]map[identity.ID]struct{} // guarded by mu: remote's ids by node
	epochs  map[string]uint64                   // guarded by mu: each node's latest sync (RemoteSync)
	ended   map[identity.ID]int64               // guarded by mu: the latest stamp of each id's sessions that ended elsewhere
	gone    map[string]bool                     // guarded by mu: nodes that left or died
}

// An Option configures a Server beyond its Limits.
type Option func(*Server)

// WithHosts lets the server answer to these names too, besides 127.0.0.1,
// localhost and [::1] on the listening port (see Host): a deployment
// behind a name. Every route refuses any other Host (CheckHost, Handler),
// and a hello must be signed for one of them.
func WithHosts(hosts ...Host) Option {
	return func(s *Server) { s.hosts = s.hosts.With(hosts...) }
}

// NewServer returns a server with the given limits (zero fields take their
// defaults) that logs to log (nil: nowhere).
func NewServer(log *slog.Logger, lim Limits, opts ...Option) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:      log,
		lim:      lim.withDefaults(),
		hosts:    hostguard.NewSet(),
		perIP:    make(map[netip.Prefix]int),
		queuedIP: make(map[netip.Prefix]int64),
		peers:    make(map[identity.ID]*conn),
		watchers: make(map[identity.ID]map[*conn]struct{}),
		remote:   make(map[identity.ID]remoteSession),
		byNode:   make(map[string]map[identity.ID]struct{}),
		epochs:   make(map[string]uint64),
		ended:    make(map[identity.ID]int64),
		gone:     make(map[string]bool),
	}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	s.limitFrames = mustEncode(&Frame{Type: FrameError, Code: CodeLimit, Detail: "frames per second"})
	s.limitBytes = mustEncode(&Frame{Type: FrameError, Code: CodeLimit, Detail: "bytes per second"})
	s.limitWatch = mustEncode(&Frame{Type: FrameError, Code: CodeLimit, Detail: "watched ids"})
	return s
}

func mustEncode(f *Frame) []byte {
	b, err := Encode(f)
	if err != nil {
		panic(err)
	}
	return b
}

// Handler returns the websocket endpoint (the relay command mounts it at
// /relay). Each request holds its connection until it ends. It refuses a
// foreign Host (421, as CheckHost), a browser's Origin that is not a page
// of an allowed host (403), more than MaxConnsPerIP connections from one
// address (429) and more than MaxConns in all (503).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close refuses new connections, closes every open one (status 1001,
// "shutting down") and waits until their goroutines have ended: at most
// a write timeout and the close handshake (10 s) for a client that does not
// answer. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel(errShutdown)
	s.wg.Wait()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hosts.HostAllowed(r, r.Host) {
		s.refuseHost(w, r)
		return
	}
	if !s.originAllowed(r) {
		s.m.reject(RejectOrigin)
		s.log.Warn("relay: foreign origin refused", "remote", r.RemoteAddr, "origin", clip(r.Header.Get("Origin"), 64))
		w.Header().Set("Connection", "close")
		http.Error(w, "forbidden: a page of another origin may not open the relay", http.StatusForbidden)
		return
	}
	addr := clientPrefix(r.RemoteAddr)
	if reject := s.admit(addr); reject != "" {
		s.m.reject(reject)
		s.log.Warn("relay: upgrade refused", "remote", r.RemoteAddr, "reason", reject)
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "10")
		msg, code := "too many connections", http.StatusServiceUnavailable
		switch reject {
		case RejectClosed:
			msg = reasonShutdown
		case RejectPerIP:
			msg, code = "too many connections from this address", http.StatusTooManyRequests
		}
		http.Error(w, msg, code)
		return
	}
	defer s.wg.Done()
	// The Origin was checked above, against every allowed host (the
	// library's own check wants Origin == Host, which a rebound name
	// passes).
	sock := &sockConn{timeout: s.lim.WriteTimeout}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{BatchProtocol}}
	if s.noBatch {
		opts.Subprotocols = nil
	}
	ws, err := websocket.Accept(hijackSock{w, sock}, r, opts)
	if err != nil {
		s.release(addr)
		s.m.reject(RejectUpgrade)
		s.log.Info("relay: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.m.connsTotal.Add(1)
	c, cause := s.serve(ws, sock, r, addr)
	s.release(addr)
	if s.onClose != nil {
		s.onClose(c, cause)
	}
}

// clientPrefix is what MaxConnsPerIP counts a client under: its IPv4
// address, or the /64 of its IPv6 address (one host's usual share).
func clientPrefix(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		// Not host:port (a unix socket, a test recorder): one shared bucket.
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// admit counts a new connection from addr in, or returns the reject
// reason.
func (s *Server) admit(addr netip.Prefix) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return RejectClosed
	case s.open >= s.lim.MaxConns:
		return RejectMaxConns
	case s.perIP[addr] >= s.lim.MaxConnsPerIP:
		return RejectPerIP
	}
	s.open++
	s.perIP[addr]++
	s.wg.Add(1)
	return ""
}

// release counts a connection from addr out (the handler then calls
// wg.Done).
func (s *Server) release(addr netip.Prefix) {
	s.mu.Lock()
	s.open--
	if s.perIP[addr]--; s.perIP[addr] <= 0 {
		delete(s.perIP, addr)
	}
	s.mu.Unlock()
}

// take reserves n bytes of the queue budget for a receiver at addr, or
// returns errBudget if that would pass MaxQueuedBytes, errBudgetIP if it
// would pass addr's MaxQueuedBytesPerIP.
func (s *Server) take(addr netip.Prefix, n int) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q, qa := s.queued.Load()+int64(n), s.queuedIP[addr]+int64(n)
	switch {
	case q > s.lim.MaxQueuedBytes:
		return errBudget
	case qa > s.lim.MaxQueuedBytesPerIP:
		return errBudgetIP
	}
	s.queued.Store(q)
	s.queuedIP[addr] = qa
	s.m.notePeak(q)
	s.m.notePeakIP(qa)
	return nil
}

// give returns n bytes taken for a receiver at addr to the budget.
func (s *Server) give(addr netip.Prefix, n int) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.queued.Add(-int64(n))
	if qa := s.queuedIP[addr] - int64(n); qa > 0 {
		s.queuedIP[addr] = qa
	} else {
		delete(s.queuedIP, addr)
	}
}

// shed runs when the queue budget is spent: it drops every client that
// is stuck (see stuck: judged over the windows between sheds) with frames
// in its queue, since those are what hold the budget. It looks at most
// once per queueGrace.
func (s *Server) shed() {
	if !s.shedMu.TryLock() {
		return // another routing goroutine is looking
	}
	defer s.shedMu.Unlock()
	t := time.Now().UnixNano()
	if t-s.lastShed < int64(queueGrace) {
		return
	}
	first := s.lastShed == 0
	s.lastShed = t
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.peers {
		if len(c.sendq) == 0 {
			c.shedMark = progress{} // holds nothing; judged afresh
			continue
		}
		now := c.progress()
		if !first && stuck(c.shedMark, &now) {
			c.cancel(errShed)
		}
		c.shedMark = now
	}
}

// register makes c the connection of its id, replacing (closing) any
// older one, here or on another node of the cluster.
func (s *Server) register(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.at = s.stampLocked(c.id)
	old := s.peers[c.id]
	r, elsewhere := s.remote[c.id]
	if elsewhere {
		s.deleteRemoteLocked(c.id, r)
	}
	s.peers[c.id] = c
	if old != nil {
		old.cancel(errReplaced)
	}
	if old != nil || elsewhere {
		// The id stays registered, but its session is new: watchers see it
		// go and come back, so that they drop the ports they had with the
		// old session (whose keys the new one does not hold) and dial again.
		s.notifyLocked(c.id, false)
	}
	s.notifyLocked(c.id, true)
	if s.cluster != nil {
		s.cluster.Registered(c.id, c.at)
	}
}

// unregister removes c from the peers (unless a newer connection replaced
// it) and from the watchers.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers[c.id] == c {
		delete(s.peers, c.id)
		s.notifyLocked(c.id, false)
		if s.cluster != nil {
			s.cluster.Unregistered(c.id, c.at)
		}
	}
	for id := range c.watching {
		w := s.watchers[id]
		delete(w, c)
		if len(w) == 0 {
			delete(s.watchers, id)
		}
	}
	c.watching = nil
}

func (s *Server) notifyLocked(id identity.ID, online bool) {
	for w := range s.watchers[id] {
		w.notePresence(id, online)
	}
}

// lookup returns the registered connection of id, or nil.
// (A peer registered on another node is in remote: see where.)
func (s *Server) lookup(id identity.ID) *conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peers[id]
}

// watch adds ids to what c watches and queues their current presence, or
// reports false (and changes nothing) if that would pass MaxWatch.
func (s *Server) watch(c *conn, ids []identity.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := make(map[identity.ID]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := c.watching[id]; !ok {
			fresh[id] = struct{}{}
		}
	}
	if len(c.watching)+len(fresh) > s.lim.MaxWatch {
		return false
	}
	if c.watching == nil && len(fresh) > 0 {
		c.watching = make(map[identity.ID]struct{}, len(fresh))
	}
	for id := range fresh {
		c.watching[id] = struct{}{}
		w := s.watchers[id]
		if w == nil {
			w = make(map[*conn]struct{}, 1)
			s.watchers[id] = w
		}
		w[c] = struct{}{}
	}
	for _, id := range ids {
		_, here := s.peers[id]
		_, elsewhere := s.remote[id]
		c.notePresence(id, here || elsewhere)
	}
	return true
}

// route delivers a send from c to its target, here or through the
// cluster, or answers c with an error. payload is only read, before route
// returns.
func (s *Server) route(c *conn, to identity.ID, kind Kind, payload []byte) {
	dst, node, cl := s.where(to)
	switch {
	case dst != nil:
		if err := s.deliver(dst, c.id, kind, payload); err != nil {
			code, detail := DeliverError(err)
			c.reply(mustEncode(&Frame{Type: FrameError, Code: code, ID: to, Detail: detail}))
		}
	case node != "" && cl.Forward(node, c.id, c.at, to, kind, payload):
		s.m.clusterOut.Add(1)
	default:
		c.reply(mustEncode(&Frame{Type: FrameError, Code: CodeOffline, ID: to, Detail: "not connected"}))
	}
}

// where returns id's connection if it is registered here, else the
// node of the cluster it is registered on and the cluster.
func (s *Server) where(id identity.ID) (*conn, string, Cluster) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.peers[id]; c != nil {
		return c, "", nil
	}
	return nil, s.remote[id].node, s.cluster
}

// deliver queues a recv from from for to, or says why it cannot
// (errBudget, errBudgetIP: the queue budget is spent; another: to is
// gone).
func (s *Server) deliver(to *conn, from identity.ID, kind Kind, payload []byte) error {
	// A recv is the size of its send, which decoded within MaxFrameSize.
	f := newRecv(from, kind, payload)
	err := to.enqueue(f)
	if err != nil {
		to.release(f) // its buffer; enqueue gave back its budget
	}
	switch err {
	case nil:
	case errBudget, errBudgetIP:
		if err == errBudget {
			s.m.reject(RejectBudget)
		} else {
			s.m.reject(RejectBudgetIP)
		}
		s.shed()
	}
	return err
}
