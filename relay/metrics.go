package relay

import (
	"bufio"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Reasons a connection, an upgrade or a frame is rejected: the values of
// the reason label of relay_rejects_total and the keys of Stats.Rejects.
const (
	RejectMaxConns  = "max_conns"         // upgrade refused: MaxConns connections open
	RejectClosed    = "closed"            // upgrade refused: the server is shutting down
	RejectUpgrade   = "upgrade"           // not a valid websocket upgrade
	RejectTimeout   = "handshake_timeout" // no valid hello within HandshakeTimeout
	RejectHello     = "bad_hello"         // bad id, bad signature, or another frame than hello
	RejectBadFrame  = "bad_frame"         // a frame that does not decode or breaks a bound (connection closed)
	RejectRate      = "rate"              // a frame over FramesPerSec or BytesPerSec (answered with error limit)
	RejectWatch     = "watch_limit"       // a watch over MaxWatch ids (answered with error limit)
	RejectIdle      = "idle"              // a ping not answered in time (connection dropped)
	RejectHost      = "host"              // a request for a host name the server does not answer to (421)
	RejectOrigin    = "origin"            // an upgrade from a page of a foreign origin (403)
	RejectPerIP     = "per_ip"            // upgrade refused: MaxConnsPerIP connections open from the address (429)
	RejectBudget    = "queue_budget"      // a send refused: MaxQueuedBytes queued (answered with error limit)
	RejectBudgetIP  = "queue_budget_ip"   // a send refused: the receiver's address holds MaxQueuedBytesPerIP (answered with error limit)
	numRejectReason = 14
)

var rejectReasons = [numRejectReason]string{
	RejectMaxConns, RejectClosed, RejectUpgrade, RejectTimeout, RejectHello,
	RejectBadFrame, RejectRate, RejectWatch, RejectIdle, RejectHost,
	RejectOrigin, RejectPerIP, RejectBudget, RejectBudgetIP,
}

func rejectIndex(reason string) int {
	for i, r := range rejectReasons {
		if r == reason {
			return i
		}
	}
	panic("relay: unknown reject reason " + reason)
}

// metrics are the server's counters; any goroutine updates them atomically.
type metrics struct {
	connsTotal   atomic.Uint64
	framesIn     atomic.Uint64
	framesOut    atomic.Uint64
	bytesIn      atomic.Uint64
	bytesOut     atomic.Uint64
	drops        atomic.Uint64
	queuedPeak   atomic.Int64 // the most bytes queued at once (Server.queued)
	queuedIPPeak atomic.Int64 // the most bytes queued at once for one address
	rejects      [numRejectReason]atomic.Uint64
	clusterIn    atomic.Uint64 // sends forwarded by other nodes, delivered here
	clusterOut   atomic.Uint64 // sends forwarded to other nodes
	// waits: sends that found their receiver's queue full and waited
	// for room (conn.push); waited, waitMax: how long in all, the longest.
	waits   atomic.Uint64
	waited  atomic.Int64
	waitMax atomic.Int64
}

// noteWait records a send that waited d for room in a full queue.
func (m *metrics) noteWait(d time.Duration) {
	m.waits.Add(1)
	m.waited.Add(int64(d))
	for {
		p := m.waitMax.Load()
		if int64(d) <= p || m.waitMax.CompareAndSwap(p, int64(d)) {
			return
		}
	}
}

// notePeak records q bytes queued, if that is a new peak.
func (m *metrics) notePeak(q int64) {
	for {
		p := m.queuedPeak.Load()
		if q <= p || m.queuedPeak.CompareAndSwap(p, q) {
			return
		}
	}
}

// notePeakIP records q bytes queued for one address, if that is a new peak.
func (m *metrics) notePeakIP(q int64) {
	for {
		p := m.queuedIPPeak.Load()
		if q <= p || m.queuedIPPeak.CompareAndSwap(p, q) {
			return
		}
	}
}

func (m *metrics) reject(reason string) { m.rejects[rejectIndex(reason)].Add(1) }

func (m *metrics) in(n int) {
	m.framesIn.Add(1)
	m.bytesIn.Add(uint64(n))
}

// out counts frames written in a message of n bytes.
func (m *metrics) out(frames, n int) {
	m.framesOut.Add(uint64(frames))
	m.bytesOut.Add(uint64(n))
}

// Stats are a snapshot of a server's counters (the numbers of Metrics).
type Stats struct {
	ConnectionsTotal   uint64            // websocket connections accepted
	Connections        int               // open now, including those in the handshake
	Peers              int               // open and proven (registered ids)
	FramesIn           uint64            // frames read from clients
	FramesOut          uint64            // frames written to clients
	BytesIn            uint64            // bytes of the frames read
	BytesOut           uint64            // bytes of the frames written
	Rejects            map[string]uint64 // by reason (Reject…)
	Drops              uint64            // slow clients dropped (send queue full or write timeout)
	QueuedBytes        int64             // bytes of recv frames queued now, in all send queues
	QueuedBytesPeak    int64             // the most queued at once since the server started
	QueuedBytesLimit   int64             // Limits.MaxQueuedBytes
	QueuedBytesTopIP   int64             // the most queued now for the clients of one address
	QueuedBytesIPPeak  int64             // the most queued at once for one address since the start
	QueuedBytesIPLimit int64             // Limits.MaxQueuedBytesPerIP
	RemotePeers        int               // peers registered on the cluster's other nodes
	ClusterIn          uint64            // sends forwarded by other nodes, delivered here
	ClusterOut         uint64            // sends forwarded to other nodes
	// QueueWaits: sends that found their receiver's send queue full and
	// waited for room (the sender's reader, or the cluster's delivery,
	// waits meanwhile); QueueWaited: how long in all; QueueWaitMax: the
	// longest.
	QueueWaits   uint64
	QueueWaited  time.Duration
	QueueWaitMax time.Duration
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		ConnectionsTotal:   s.m.connsTotal.Load(),
		FramesIn:           s.m.framesIn.Load(),
		FramesOut:          s.m.framesOut.Load(),
		BytesIn:            s.m.bytesIn.Load(),
		BytesOut:           s.m.bytesOut.Load(),
		Drops:              s.m.drops.Load(),
		QueuedBytes:        s.queued.Load(),
		QueuedBytesPeak:    s.m.queuedPeak.Load(),
		QueuedBytesLimit:   s.lim.MaxQueuedBytes,
		QueuedBytesIPPeak:  s.m.queuedIPPeak.Load(),
		QueuedBytesIPLimit: s.lim.MaxQueuedBytesPerIP,
		Rejects:            make(map[string]uint64, numRejectReason),
		QueueWaits:         s.m.waits.Load(),
		QueueWaited:        time.Duration(s.m.waited.Load()),
		QueueWaitMax:       time.Duration(s.m.waitMax.Load()),
	}
	for i, r := range rejectReasons {
		st.Rejects[r] = s.m.rejects[i].Load()
	}
	s.qmu.Lock()
	for _, q := range s.queuedIP {
		st.QueuedBytesTopIP = max(st.QueuedBytesTopIP, q)
	}
	s.qmu.Unlock()
	s.mu.RLock()
	st.Connections = s.open
	st.Peers = len(s.peers)
	st.RemotePeers = len(s.remote)
	s.mu.RUnlock()
	st.ClusterIn, st.ClusterOut = s.m.clusterIn.Load(), s.m.clusterOut.Load()
	return st
}

// Metrics returns a handler that serves Stats in the Prometheus text
// exposition format.
func (s *Server) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st := s.Stats()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		metric := func(name, typ, help string) {
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		}
		// one writes a metric of a single value.
		one := func(name, typ, help string, v int64) {
			metric(name, typ, help)
			fmt.Fprintf(bw, "%s %d\n", name, v)
		}
		one("relay_connections_total", "counter", "Websocket connections accepted.", int64(st.ConnectionsTotal))
		one("relay_connections", "gauge", "Websocket connections open, including those in the handshake.", int64(st.Connections))
		one("relay_peers", "gauge", "Connections that proved their peer id.", int64(st.Peers))
		metric("relay_frames_total", "counter", "Frames read from (in) and written to (out) clients.")
		fmt.Fprintf(bw, "relay_frames_total{dir=\"in\"} %d\nrelay_frames_total{dir=\"out\"} %d\n", st.FramesIn, st.FramesOut)
		metric("relay_bytes_total", "counter", "Bytes of the frames read from (in) and written to (out) clients.")
		fmt.Fprintf(bw, "relay_bytes_total{dir=\"in\"} %d\nrelay_bytes_total{dir=\"out\"} %d\n", st.BytesIn, st.BytesOut)
		metric("relay_rejects_total", "counter", "Upgrades, connections and frames refused, by reason.")
		for _, r := range rejectReasons {
			fmt.Fprintf(bw, "relay_rejects_total{reason=%q} %d\n", r, st.Rejects[r])
		}
		one("relay_remote_peers", "gauge", "Peers registered on the cluster's other nodes, as this node knows them.", int64(st.RemotePeers))
		metric("relay_cluster_sends_total", "counter", "Sends forwarded by other nodes and delivered here (in), and forwarded to other nodes (out).")
		fmt.Fprintf(bw, "relay_cluster_sends_total{dir=\"in\"} %d\nrelay_cluster_sends_total{dir=\"out\"} %d\n", st.ClusterIn, st.ClusterOut)
		one("relay_drops_total", "counter", "Slow clients dropped (send queue full or write timeout).", int64(st.Drops))
		one("relay_queue_waits_total", "counter", "Sends that found their receiver's send queue full and waited for room.", int64(st.QueueWaits))
		metric("relay_queue_wait_seconds_total", "counter", "Time sends waited for room in a full send queue, in all.")
		fmt.Fprintf(bw, "relay_queue_wait_seconds_total %g\n", st.QueueWaited.Seconds())
		metric("relay_queue_wait_seconds_max", "gauge", "The longest a send waited for room in a full send queue since the server started.")
		fmt.Fprintf(bw, "relay_queue_wait_seconds_max %g\n", st.QueueWaitMax.Seconds())
		for _, g := range []struct {
			name, help string
			v          int64
		}{
			{"relay_queued_bytes", "Bytes of frames queued for clients, in all send queues.", int64(st.QueuedBytes)},
			{"relay_queued_bytes_peak", "The most bytes queued at once since the server started.", int64(st.QueuedBytesPeak)},
			{"relay_queued_bytes_limit", "The global queue budget (sends beyond it are refused).", int64(st.QueuedBytesLimit)},
			{"relay_queued_bytes_ip", "Bytes queued for the clients of the address that holds the most.", int64(st.QueuedBytesTopIP)},
			{"relay_queued_bytes_ip_peak", "The most bytes queued at once for the clients of one address since the server started.", int64(st.QueuedBytesIPPeak)},
			{"relay_queued_bytes_ip_limit", "The queue budget of one address (sends to its clients beyond it are refused).", int64(st.QueuedBytesIPLimit)},
			{"relay_max_conns_per_ip", "The most connections one address may open.", int64(s.lim.MaxConnsPerIP)},
		} {
			one(g.name, "gauge", g.help, g.v)
		}
		bw.Flush()
	})
}
