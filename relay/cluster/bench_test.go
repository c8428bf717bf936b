//go:build !js

package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

const (
	benchPairs   = 500
	benchLoad    = 1500 * time.Millisecond
	benchPayload = 64
)

// BenchmarkRouting runs 500 pairs of clients on one node, then on three
// nodes of a cluster (embedded NATS servers routed together) with each
// pair's two clients on different nodes. Each pair first passes one
// message back and forth as fast as it can (msgs/s), then all send one
// way at half that rate together (p50-ms, p99-ms). Nodes, NATS and
// clients share this machine's CPUs. b.N is not used.
func BenchmarkRouting(b *testing.B) {
	for _, k := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", k), func(b *testing.B) {
			nodes := startCluster(b, k)
			clients := make([]*relay.Client, 2*benchPairs)
			for i := range clients {
				// Pair (2i, 2i+1) sits on nodes i and i+1 (mod k).
				clients[i] = dial(b, nodes[(i/2+i%2)%k].url, newKey(b)).c
			}
			waitPairs(b, clients)
			rate, err := saturate(clients)
			if err != nil {
				b.Fatal(err)
			}
			p50, p99, err := paced(clients, rate/2)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "msgs/s")
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(p99, "p99-ms")
			b.ReportMetric(1e9/rate, "ns/op")
		})
	}
}

// waitPairs waits until each pair's second client is known on its
// first's node (the directory crossed NATS).
func waitPairs(b *testing.B, clients []*relay.Client) {
	ctx := context.Background()
	for k := 0; k < len(clients); k += 2 {
		a, c := clients[k], clients[k+1]
		if err := a.Watch(ctx, c.ID()); err != nil {
			b.Fatal(err)
		}
		for {
			ev := <-a.Events()
			if ev.Type == relay.FramePresence && ev.From == c.ID() && ev.Online {
				break
			}
		}
	}
}

func saturate(clients []*relay.Client) (float64, error) {
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(benchLoad)
	counts := make([]int, len(clients)/2)
	var g errgroup.Group
	for k := range counts {
		g.Go(func() error {
			a, c := clients[2*k], clients[2*k+1]
			payload := make([]byte, benchPayload)
			for time.Now().Before(deadline) {
				if err := a.Send(ctx, c.ID(), relay.KindSignal, payload); err != nil {
					return err
				}
				if _, err := recvPayload(c); err != nil {
					return err
				}
				counts[k]++
				a, c = c, a
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func paced(clients []*relay.Client, rate float64) (p50, p99 float64, err error) {
	ctx := context.Background()
	pairs := len(clients) / 2
	period := time.Duration(float64(pairs) / rate * float64(time.Second))
	start := time.Now()
	deadline := start.Add(benchLoad)
	lat := make([][]time.Duration, pairs)
	var g errgroup.Group
	for k := range pairs {
		a, c := clients[2*k], clients[2*k+1]
		first := start.Add(period * time.Duration(k) / time.Duration(pairs))
		n := 0
		for t := first; t.Before(deadline); t = t.Add(period) {
			n++
		}
		g.Go(func() error {
			payload := make([]byte, benchPayload)
			for i := range n {
				time.Sleep(time.Until(first.Add(period * time.Duration(i))))
				binary.BigEndian.PutUint64(payload, uint64(time.Since(start)))
				if err := a.Send(ctx, c.ID(), relay.KindSignal, payload); err != nil {
					return err
				}
			}
			return nil
		})
		g.Go(func() error {
			for range n {
				ev, err := recvPayload(c)
				if err != nil {
					return err
				}
				lat[k] = append(lat[k], time.Since(start)-time.Duration(binary.BigEndian.Uint64(ev.Payload)))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	all := slices.Concat(lat...)
	return percentile(all, 0.50), percentile(all, 0.99), nil
}

func recvPayload(c *relay.Client) (relay.Event, error) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return ev, c.Err()
			}
			if ev.Type == relay.FrameRecv && len(ev.Payload) == benchPayload {
				return ev, nil
			}
			if ev.Type == relay.FrameError {
				return ev, fmt.Errorf("%s: error %s %s", c.ID().Short(), ev.Code, ev.Detail)
			}
		case <-timeout:
			return relay.Event{}, fmt.Errorf("%s: nothing received", c.ID().Short())
		}
	}
}

// percentile returns the p-th percentile of d in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond)
}

// BenchmarkPresence measures how long a peer coming online on one node
// takes to show to its watcher on another: ms from the start of its dial
// (the handshake included) to the presence event, p50 and p99 over 200
// peers.
func BenchmarkPresence(b *testing.B) {
	nodes := startCluster(b, 3)
	w := dial(b, nodes[0].url, newKey(b))
	var lat []time.Duration
	for i := range 200 {
		key := newKey(b)
		w.watch(key.ID())
		w.presence(key.ID(), false)
		start := time.Now()
		p := dial(b, nodes[1+i%2].url, key)
		w.presence(key.ID(), true)
		lat = append(lat, time.Since(start))
		p.c.Close()
	}
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// BenchmarkDirectory measures what a node pays per peer registered on
// another node: heap (B/peer, after a GC) and the time to take one from a
// sync through NATS (ns/peer), for 100,000 made-up peers sent as node 2's
// whole list.
func BenchmarkDirectory(b *testing.B) {
	const peers = 100_000
	nodes := startCluster(b, 2)
	list := make([]relay.RemotePeer, peers)
	for i := range list {
		binary.BigEndian.PutUint64(list[i].ID[:], uint64(i+1))
		list[i].At = int64(i + 1)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	// As node 2 would send it: in parts, through NATS.
	for i := 0; i < peers; i += syncPart {
		part := list[i:min(i+syncPart, peers)]
		// Numbered as node 2 numbers its own: no gap, so no resync.
		nodes[1].node.publishDir(encodeSync(nodes[1].node.Name(), 1<<40, part, i+syncPart >= peers))
	}
	waitFor(b, "node 1 knows them all", func() bool { return nodes[0].srv.Stats().RemotePeers >= peers })
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/peers, "B/peer")
	b.ReportMetric(float64(took.Nanoseconds())/peers, "ns/peer")
	b.ReportMetric(float64(took.Nanoseconds())/peers, "ns/op") // b.N is not used
}

// BenchmarkFailover kills the node (as a crash: no word to the others) of
// one of two peers on different nodes of a three-node cluster, each peer
// knowing every node as the page does, and measures the time from the
// death until that peer is online on another node (reconnect-ms) and
// until the two have a port again that carried a message both ways
// (port-ms): means, and the slowest run (-max-ms).
func BenchmarkFailover(b *testing.B) {
	var reconnect, reopen, maxReconnect, maxReopen time.Duration
	for b.Loop() {
		r, p := clusterFailover(b)
		reconnect += r
		reopen += p
		maxReconnect, maxReopen = max(maxReconnect, r), max(maxReopen, p)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	n := time.Duration(b.N)
	b.ReportMetric(ms(reconnect/n), "reconnect-ms")
	b.ReportMetric(ms(reopen/n), "port-ms")
	b.ReportMetric(ms(maxReconnect), "reconnect-max-ms")
	b.ReportMetric(ms(maxReopen), "port-max-ms")
}

func clusterFailover(b *testing.B) (reconnect, reopen time.Duration) {
	b.StopTimer()
	nodes := startCluster(b, 3)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	mk := func(n byte, first int) (*peerio.IO, chan port.Port) {
		var others []string
		for i := 1; i < 3; i++ {
			others = append(others, nodes[(first+i)%3].url)
		}
		io := peerio.New("bench", identity.Seed{n}, peerio.Config{Relay: nodes[first].url, Relays: others, Logger: quiet})
		ch := make(chan port.Port, 4)
		if err := io.On(ctx, func(p port.Port) { ch <- p }); err != nil {
			b.Fatal(err)
		}
		return io, ch
	}
	ana, anaPorts := mk(1, 0)
	defer ana.Close()
	bob, bobPorts := mk(2, 1)
	defer bob.Close()
	if _, err := ana.At(ctx, bob.ID()); err != nil {
		b.Fatal(err)
	}
	<-anaPorts
	if _, err := bob.At(ctx, (<-bobPorts).Remote()); err != nil { // as the room does
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	nodes[1].kill()
	for bob.RelayURL() == "" || bob.RelayURL() == nodes[1].url {
		time.Sleep(time.Millisecond)
	}
	reconnect = time.Since(start)
	pa, pb := <-anaPorts, <-bobPorts
	for _, pp := range [][2]port.Port{{pa, pb}, {pb, pa}} {
		if err := pp[0].Send(ctx, []byte("again")); err != nil {
			b.Fatal(err)
		}
		if _, err := pp[1].Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reopen = time.Since(start)
	return reconnect, reopen
}
