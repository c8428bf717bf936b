package devtools

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A Server keeps what peers report, verified, and serves it: the peer
// endpoint, the JSON API, the live feed and the page (see Handler).
type Server struct {
	cfg   Config
	log   *slog.Logger
	feed  *feed
	guard *guard // immutable

	ctx    context.Context // ends at Close: every connection and feed ends with it
	cancel context.CancelFunc
	wg     sync.WaitGroup // peer connections and feed subscribers being served

	handshakes atomic.Int64 // /peer connections not yet authenticated

	mu      sync.Mutex // guards the fields below and every peer, copy, book and page
	closed  bool
	peers   map[identity.ID]*peer
	books   map[identity.ID]*book
	seq     uint64 // the last timeline event's number
	nextCmd uint64 // the last command id
	stats   Stats
}

// Stats count what the server ingested and holds.
type Stats struct {
	Frames   uint64 `json:"frames"`   // frames decoded from peers
	Pages    uint64 `json:"pages"`    // pages received
	Verified uint64 `json:"verified"` // pages verified
	Rejected uint64 `json:"rejected"` // frames or pages that failed

	Peers         int   `json:"peers"`
	Books         int   `json:"books"`
	RetainedPages int   `json:"retainedPages"` // pages held, all books
	RetainedBytes int64 `json:"retainedBytes"` // their size, with the plaintexts kept beside sealed pages
	TreeBytes     int64 `json:"treeBytes"`     // the verified trees' hashes
}

// New returns a server; serve its Handler.
func New(cfg Config) *Server {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	g := newGuard(cfg.Hosts, cfg.OriginPatterns, rand.Text())
	for _, h := range g.ignored {
		cfg.Logger.Warn("devtools: not a host name, ignored", "host", h)
	}
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		feed:   newFeed(),
		guard:  g,
		ctx:    ctx,
		cancel: cancel,
		peers:  make(map[identity.ID]*peer),
		books:  make(map[identity.ID]*book),
	}
}

// Handler serves the page at /, the peer websocket at /peer, the JSON API
// under /api/ and its live feed at /api/events, every route behind the
// Host and Origin checks (see the package doc, # Security).
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/peer", s.servePeer).Methods(http.MethodGet)
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/token", s.apiToken).Methods(http.MethodGet)
	api.HandleFunc("/peers", s.apiPeers).Methods(http.MethodGet)
	api.HandleFunc("/peers/{id}", s.apiPeer).Methods(http.MethodGet)
	api.HandleFunc("/peers/{id}/{op:export|import|reset}", s.apiCommand).Methods(http.MethodPost)
	api.HandleFunc("/books", s.apiBooks).Methods(http.MethodGet)
	api.HandleFunc("/books/{key}", s.apiBook).Methods(http.MethodGet)
	api.HandleFunc("/books/{key}/pages", s.apiPages).Methods(http.MethodGet)
	api.HandleFunc("/books/{key}/proof", s.apiProof).Methods(http.MethodGet)
	api.HandleFunc("/timeline", s.apiTimeline).Methods(http.MethodGet)
	api.HandleFunc("/stats", s.apiStats).Methods(http.MethodGet)
	api.HandleFunc("/events", s.serveFeed).Methods(http.MethodGet)
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	api.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	r.PathPrefix("/").Handler(pageHandler()).Methods(http.MethodGet, http.MethodHead)
	return s.guard.handler(r)
}

// Close ends every peer connection and feed and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// enter counts a long-lived request in, unless the server is closed.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// Stats returns what the server ingested so far and holds now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Peers, st.Books = len(s.peers), len(s.books)
	for _, b := range s.books {
		st.RetainedPages += b.pages.Len()
		b.pages.Scan(func(_ uint64, pg *page) bool {
			st.RetainedBytes += int64(len(pg.data) + len(pg.plain))
			return true
		})
		st.TreeBytes += int64(cap(b.tree.hashes)) * tlog.HashSize
	}
	return st
}
