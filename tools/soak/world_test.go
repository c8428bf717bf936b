//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/cluster/clustertest"
	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// kept is a memory store that outlives its Close, as a disk does: a
// closed peer or mirror reopens with its data.
type kept struct{ store.Store }

func (kept) Close() error { return nil }

// A world is the cluster, the mirrors and the peers of one run.
// Its slices are fixed once started; what they hold has locks of its own.
type world struct {
	nodes    []*clustertest.Node // killed and restarted by the schedule's goroutine only
	mirrors  []*mirrorProc
	peers    []*peer
	seen     *sightings
	devtools *devtoolsProc
	burn     *burner
	relays   relayTotals // the counters of killed relay nodes
}

// A mirrorProc is a mirror that can be killed and started again on its
// store and seed.
type mirrorProc struct {
	seed identity.Seed // immutable
	st   store.Store   // immutable: kept across kills
	node int           // immutable: the relay node it first tries to go online at

	mu  sync.Mutex
	run *mirror.Mirror // guarded by mu; nil while killed
}

// A peer is one member of the soak's tasks: a profile's instance that
// can be closed and opened again on the same storage.
type peer struct {
	i    int    // immutable: its index in world.peers
	name string // immutable: the profile's name
	link *link  // immutable: its way to the relay nodes
	// start opens the peer's client; its events go to events.
	start func(events func(self identity.ID, ev app.Event)) (client, error) // immutable

	mu sync.Mutex
	c  client // guarded by mu; nil while closed
}

// A client is one open instance of a peer's profile: an App in this
// process, or the page in a browser tab.
type client interface {
	// do calls an App method by name with a JSON array of arguments, as
	// the JS API does, and returns its JSON result.
	do(ctx context.Context, method, args string) ([]byte, error)
	// online says whether it is connected to a relay node.
	online() bool
	// close closes it and waits; the events up to the close are delivered.
	close()
}

// A native is a client that is an App in this process.
type native struct {
	a     *app.App
	unsub func()
}

func (n *native) do(ctx context.Context, method, args string) ([]byte, error) {
	out, err := n.a.Do(ctx, method, []byte(args))
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		buf := make([]byte, 16<<20)
		return nil, fmt.Errorf("%s: %w; this process's goroutines:\n%s", method, errNoAnswer, summarizeStacks(string(buf[:runtime.Stack(buf, true)]), 15))
	}
	return out, err
}

func (n *native) online() bool { return n.a.State() == app.StateOnline }

func (n *native) close() {
	n.a.Close() // then unsub: the events up to the close are recorded
	n.unsub()
}

// nativeStart starts an App on st with cfg as profile name.
func nativeStart(name string, st store.Store, cfg app.Config) func(func(identity.ID, app.Event)) (client, error) {
	return func(events func(identity.ID, app.Event)) (client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		prof, err := vault.Open(ctx, name, func(context.Context, string) (store.Store, error) { return st, nil }, nil)
		if err != nil {
			return nil, err
		}
		cfg.Profile = prof
		a, err := app.Start(ctx, cfg)
		if err != nil {
			prof.Close()
			return nil, err
		}
		self := a.ID()
		return &native{a: a, unsub: a.Subscribe(func(ev app.Event) { events(self, ev) })}, nil
	}
}

// startWorld starts the relay nodes (serving the page too, with page),
// the mirrors and n native peers (all stopped when the test ends).
func startWorld(t *testing.T, n int, seen *sightings, page bool) *world {
	lim := relay.DefaultLimits()
	lim.MaxConnsPerIP = lim.MaxConns
	w := &world{seen: seen, devtools: startDevtools(t), burn: newBurner(t)}
	// Each peer's link has its own port to each node, which the nodes
	// answer to (a client signs the host it dials).
	links := make([]*link, n)
	var hosts []relay.Host
	for i := range links {
		links[i] = newLink(t, relays)
		hosts = append(hosts, links[i].hosts()...)
	}
	var ids []identity.ID
	for i := range mirrors {
		ids = append(ids, identity.New(mirrorSeed(i)).ID())
	}
	var wrap clustertest.Wrap
	if page {
		wrap = servePage(staticDir(), ids, w.devtools.peerURL)
	}
	w.nodes = clustertest.StartServing(t, relays, quiet, lim, cluster.Config{Every: heartbeat()}, wrap, relay.WithHosts(hosts...))
	var urls []string
	for _, node := range w.nodes {
		urls = append(urls, node.URL)
	}
	for i := range mirrors {
		m := &mirrorProc{seed: mirrorSeed(i), st: kept{store.NewMemory()}, node: i % relays}
		if err := m.start(w.nodes); err != nil {
			t.Fatal(err)
		}
		if m.run.ID() != ids[i] {
			t.Fatalf("mirror %d is %s, not %s", i, m.run.ID(), ids[i])
		}
		w.mirrors = append(w.mirrors, m)
		t.Cleanup(m.kill)
	}
	for i := range n {
		via := links[i].to(urls)
		home := i % relays
		cfg := app.Config{Relay: via[home], Mirrors: ids, Devtools: w.devtools.peerURL, Logger: quiet}
		for k := 1; k < relays; k++ {
			cfg.Relays = append(cfg.Relays, via[(home+k)%relays])
		}
		name := fmt.Sprintf("peer%02d", i)
		p := &peer{i: i, name: name, link: links[i], start: nativeStart(name, kept{store.NewMemory()}, cfg)}
		if err := p.open(seen); err != nil {
			t.Fatal(err)
		}
		w.peers = append(w.peers, p)
		t.Cleanup(func() { p.close() })
	}
	return w
}

// mirrorSeed is mirror i's seed.
func mirrorSeed(i int) identity.Seed { return identity.Seed{0xa0, byte(i)} }

// start starts the mirror on its store, online at its node or, while
// that is down, the next one that answers.
func (m *mirrorProc) start(nodes []*clustertest.Node) error {
	var errs []error
	for k := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		run, err := mirror.Start(ctx, mirror.Config{Store: m.st, Seed: m.seed, Relay: nodes[(m.node+k)%len(nodes)].URL, Logger: quiet})
		cancel()
		if err == nil {
			m.mu.Lock()
			m.run = run
			m.mu.Unlock()
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// kill closes the mirror, if it runs.
func (m *mirrorProc) kill() {
	m.mu.Lock()
	run := m.run
	m.run = nil
	m.mu.Unlock()
	if run != nil {
		run.Close()
	}
}

// open opens the peer's client and records its sightings.
func (p *peer) open(seen *sightings) error {
	seen.startOffline(p.i)
	c, err := p.start(func(self identity.ID, ev app.Event) { seen.event(p.i, self, ev) })
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.c = c
	p.mu.Unlock()
	return nil
}

// close closes the peer's client, if open, and waits for it.
func (p *peer) close() {
	p.mu.Lock()
	c := p.c
	p.c = nil
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// current is the peer's client, nil while closed.
func (p *peer) current() client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c
}

// do calls method on the peer's client; ErrClosed while it is closed.
func (p *peer) do(ctx context.Context, method, args string) ([]byte, error) {
	c := p.current()
	if c == nil {
		return nil, app.ErrClosed
	}
	return c.do(ctx, method, args)
}

// members is the peer's view of task's members; ErrClosed while it is
// closed.
func (p *peer) members(ctx context.Context, task room.TaskID) ([]room.MemberInfo, error) {
	out, err := p.do(ctx, "members", `["`+task.String()+`"]`)
	if err != nil {
		return nil, err
	}
	var infos []room.MemberInfo
	err = json.Unmarshal(out, &infos)
	return infos, err
}

// allUp restarts what is down: relay nodes, mirrors, peers.
func (w *world) allUp() error {
	for _, n := range w.nodes {
		n.Restart() // an error: it runs
	}
	for _, m := range w.mirrors {
		m.mu.Lock()
		down := m.run == nil
		m.mu.Unlock()
		if down {
			if err := m.start(w.nodes); err != nil {
				return err
			}
		}
	}
	for _, p := range w.peers {
		if p.current() == nil {
			if err := p.open(w.seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitOnline polls until every peer is online.
func (w *world) waitOnline(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var off []string
		for _, p := range w.peers {
			if c := p.current(); c == nil || !c.online() {
				off = append(off, p.name)
			}
		}
		if len(off) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not online after %v: %v", within, off)
		}
		time.Sleep(50 * time.Millisecond) // polling the peers' states
	}
}

// relayTotals sums what the relay nodes counted, over every incarnation
// (a killed node's counters are added as it dies).
type relayTotals struct {
	mu      sync.Mutex
	stats   relay.Stats // summed; QueueWaitMax and QueuedBytesIPPeak the largest
	expired uint64      // nodes taken for gone for want of heartbeats
}

// addNode adds what node n's running incarnation counted.
func (rt *relayTotals) addNode(n *clustertest.Node) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.addLocked(n.Srv.Stats(), n.Node.Expired())
}

// addLocked adds counters st and expired. Called with rt.mu held.
func (rt *relayTotals) addLocked(st relay.Stats, expired uint64) {
	s := &rt.stats
	if s.Rejects == nil {
		s.Rejects = make(map[string]uint64)
	}
	for k, v := range st.Rejects {
		s.Rejects[k] += v
	}
	s.Drops += st.Drops
	s.FramesIn += st.FramesIn
	s.QueueWaits += st.QueueWaits
	s.QueueWaited += st.QueueWaited
	s.QueueWaitMax = max(s.QueueWaitMax, st.QueueWaitMax)
	s.QueuedBytesIPPeak = max(s.QueuedBytesIPPeak, st.QueuedBytesIPPeak)
	rt.expired += expired
}

// killRelay kills relay node i, its counters kept.
func (w *world) killRelay(i int) {
	w.relays.addNode(w.nodes[i])
	w.nodes[i].Kill()
}

// relayReport is a line on what the relay nodes counted, the running
// ones' counters added.
func (w *world) relayReport() string {
	var rt relayTotals
	w.relays.mu.Lock()
	rt.addLocked(w.relays.stats, w.relays.expired)
	w.relays.mu.Unlock()
	for _, n := range w.nodes {
		rt.addNode(n)
	}
	s, expired := rt.stats, rt.expired
	return fmt.Sprintf("Relay nodes (every incarnation): %d frames read; %d sends waited for a receiver's full queue, %v in all, the longest %v; "+
		"refused: %d over a client's rate, %d over the queue budget, %d over an address's queue budget (at most %d KiB queued for one address); %d slow clients dropped; "+
		"%d times a node took another for gone for want of heartbeats (every %v; a killed node counts once per other node).\n",
		s.FramesIn, s.QueueWaits, s.QueueWaited.Round(time.Millisecond), s.QueueWaitMax.Round(time.Millisecond),
		s.Rejects[relay.RejectRate], s.Rejects[relay.RejectBudget], s.Rejects[relay.RejectBudgetIP], s.QueuedBytesIPPeak>>10, s.Drops,
		expired, heartbeat())
}

// heartbeat is the relay nodes' heartbeat period (SOAK_HEARTBEAT, a Go
// duration; default 1s, as the relay command's: a node is gone after five
// missed).
func heartbeat() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SOAK_HEARTBEAT")); err == nil && d > 0 {
		return d
	}
	return time.Second
}
