//go:build !js

package mirrorset

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// DefaultEvery is the default time between two announcements.
const DefaultEvery = time.Second

// Config configures an Announcer and a Watcher.
type Config struct {
	// Every is the time between two announcements of a mirror (default
	// 1 s); a watcher forgets a mirror not heard for 3 × Every. Announcers
	// and watchers of one set must agree on it.
	Every time.Duration
	// OnChange, if set, is told every new live set (sorted), from the
	// watcher's goroutine, one call at a time; changes while it runs are
	// coalesced into the next call.
	OnChange func(live []identity.ID)
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Stats counts what a watcher received.
type Stats struct {
	Live  int   // mirrors live now
	Taken int64 // announcements and leaves taken
	Bad   int64 // messages dropped: malformed, oversized, badly signed
	Stale int64 // messages dropped: no newer than the last of their mirror
	Full  int64 // announcements dropped: MaxMirrors live already
}

// entry is what a watcher knows of a mirror.
type entry struct {
	at   int64     // the newest at taken from it
	seen time.Time // when its last announcement arrived (local clock)
	live bool      // false: it left or expired (kept a while against replays)
}

// A Watcher follows the set of live mirrors.
type Watcher struct {
	nc   *nats.Conn // immutable
	cfg  Config     // immutable
	subs []*nats.Subscription

	taken, bad, stale, full atomic.Int64

	mu      sync.Mutex
	mirrors map[identity.ID]*entry // guarded by mu
	down    bool                   // guarded by mu: NATS was down at the last sweep
	changed chan struct{}          // guarded by mu: closed and replaced on every change

	once sync.Once     // Close's
	kick chan struct{} // capacity 1: the set changed (for OnChange)
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the loop ended
}

// Watch subscribes to the set's subjects on nc and follows the set until
// Close.
func Watch(nc *nats.Conn, cfg Config) (*Watcher, error) {
	cfg.defaults()
	w := &Watcher{nc: nc, cfg: cfg, mirrors: make(map[identity.ID]*entry), changed: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, s := range []struct {
		subject string
		kind    Kind
	}{{SubjectAnnounce, KindAnnounce}, {SubjectLeave, KindLeave}} {
		sub, err := nc.Subscribe(s.subject, func(msg *nats.Msg) { w.take(s.kind, msg.Data) })
		if err != nil {
			w.unsubscribe()
			return nil, err
		}
		// A watcher that falls behind drops messages (NATS counts them as
		// a slow consumer's) rather than holding more.
		_ = sub.SetPendingLimits(1024, 1<<20)
		w.subs = append(w.subs, sub)
	}
	go w.loop()
	return w, nil
}

func (w *Watcher) unsubscribe() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
}

// take takes a message from NATS (NATS's goroutine of its subscription).
func (w *Watcher) take(k Kind, b []byte) {
	m, err := Decode(k, b)
	if err != nil {
		w.bad.Add(1)
		w.cfg.Logger.Debug("mirrorset: a message dropped", "err", err)
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.mirrors[m.ID]
	switch {
	case e != nil && m.At <= e.at:
		w.stale.Add(1)
		return
	case e == nil && k == KindLeave:
		w.taken.Add(1)
		return // it was not live here
	case e == nil && w.liveLocked() >= MaxMirrors:
		w.full.Add(1)
		return
	case e == nil:
		e = &entry{}
		w.mirrors[m.ID] = e
	}
	w.taken.Add(1)
	e.at, e.seen = m.At, now
	if was := e.live; was != (k == KindAnnounce) {
		e.live = k == KindAnnounce
		w.changedLocked()
	}
}

func (w *Watcher) liveLocked() int {
	n := 0
	for _, e := range w.mirrors {
		if e.live {
			n++
		}
	}
	return n
}

// changedLocked tells the waiters of Changed and OnChange.
func (w *Watcher) changedLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// loop sweeps the set (expiry) and calls OnChange until Close.
func (w *Watcher) loop() {
	defer close(w.done)
	tick := time.NewTicker(max(w.cfg.Every/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
			w.sweep(time.Now())
		case <-w.kick:
			if w.cfg.OnChange != nil {
				w.cfg.OnChange(w.Live())
			}
		}
	}
}

// sweep expires the mirrors not heard for 3 × Every, and forgets those
// gone for as long (until then, their replays are stale). While NATS is
// down nothing expires; when it is back, every mirror's silence counts
// from then.
func (w *Watcher) sweep(now time.Time) {
	up := w.nc.IsConnected()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !up {
		w.down = true
		return
	}
	if w.down {
		w.down = false
		for _, e := range w.mirrors {
			e.seen = now
		}
		return
	}
	ttl := 3 * w.cfg.Every
	for id, e := range w.mirrors {
		switch {
		case e.live && now.Sub(e.seen) > ttl:
			e.live, e.seen = false, now
			w.changedLocked()
		case !e.live && now.Sub(e.seen) > ttl:
			delete(w.mirrors, id)
		}
	}
}

// Live returns the live mirrors, sorted.
func (w *Watcher) Live() []identity.ID {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]identity.ID, 0, len(w.mirrors))
	for id, e := range w.mirrors {
		if e.live {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b identity.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// Changed returns a channel closed at the next change of the set.
func (w *Watcher) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// Stats returns what the watcher received and holds.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	live := w.liveLocked()
	w.mu.Unlock()
	return Stats{Live: live, Taken: w.taken.Load(), Bad: w.bad.Load(), Stale: w.stale.Load(), Full: w.full.Load()}
}

// Close unsubscribes and waits for the watcher's goroutine (and a call of
// OnChange under way) to end. Later calls do nothing.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		w.unsubscribe()
		close(w.stop)
	})
	<-w.done
	return nil
}
