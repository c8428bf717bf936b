package devtools

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// feedQueue is how many messages wait for a slow feed subscriber before
// it is told to resync instead.
const feedQueue = 1024

// feedPing is how often an idle feed sends a comment, so proxies keep it.
const feedPing = 25 * time.Second

// feedMsg is one message of the live feed.
type feedMsg struct {
	Type  string      `json:"type"` // event, book, peer or resync
	Event *Event      `json:"event,omitempty"`
	Key   identity.ID `json:"key,omitzero"`
	ID    identity.ID `json:"id,omitzero"`
}

// feed fans messages out to the subscribers of /api/events without ever
// waiting for them: a subscriber that falls behind gets a resync.
type feed struct {
	n    atomic.Int32 // subscribers, read without the lock
	mu   sync.Mutex   // guards subs
	subs map[*sub]struct{}
}

type sub struct {
	ch     chan []byte
	lagged atomic.Bool
}

func newFeed() *feed { return &feed{subs: make(map[*sub]struct{})} }

// publish sends m to every subscriber that has room.
func (f *feed) publish(m feedMsg) {
	if f.n.Load() == 0 {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.ch <- b:
		default:
			s.lagged.Store(true)
		}
	}
}

func (f *feed) subscribe() *sub {
	s := &sub{ch: make(chan []byte, feedQueue)}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	f.n.Add(1)
	return s
}

func (f *feed) unsubscribe(s *sub) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
	f.n.Add(-1)
}

// serveFeed streams the feed as server-sent events until the client goes
// or the server closes.
func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming not supported")
		return
	}
	if !s.enter() {
		writeError(w, http.StatusServiceUnavailable, "server closed")
		return
	}
	defer s.wg.Done()
	sb := s.feed.subscribe()
	defer s.feed.unsubscribe(sb)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": devtools feed\n\n")
	fl.Flush()
	ping := time.NewTicker(feedPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		case b := <-sb.ch:
			if sb.lagged.Swap(false) {
				fmt.Fprint(w, "data: {\"type\":\"resync\"}\n\n")
			}
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		fl.Flush()
	}
}
