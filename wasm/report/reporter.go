package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// Config configures a Reporter. URL and DB are required.
type Config struct {
	// URL is the devtools server's peer endpoint, ws://127.0.0.1:8081/peer;
	// an http(s) URL or one with no path means that server's /peer.
	URL string
	// Key is the peer's identity key: it signs the hello, so the server
	// knows the reports come from the peer (DB.Identity() if nil).
	Key *identity.Key
	// ID is the peer id: Key's (a different one is refused by Run).
	ID identity.ID
	// Alias is a name for people ("ana"), shown beside the id.
	Alias string
	// DB is the profile's journal, whose books are reported.
	DB *journal.DB
	// Logger gets connection changes; logs.Default() if nil.
	Logger logs.Logger
	// Export returns the profile's books as a JSON export (nil: DB.Export).
	Export func(ctx context.Context) ([]byte, error)
	// Import imports a JSON export (nil: DB.Import).
	Import func(ctx context.Context, export []byte) error
	// Reset wipes the profile's storage (nil: the command is refused). It
	// must not stop the reporter before returning: the answer is sent
	// after it returns; restart the reporter afterwards if needed.
	Reset func(ctx context.Context) error
	// Queue bounds the events waiting to be sent (default 4096); beyond it
	// the oldest are dropped and counted in a dropped frame.
	Queue int
	// Backfill is the most pages of each book reported at connect
	// (default 1024): the newest. From then on every page is reported; a
	// reporter that falls behind lags, it never skips.
	Backfill int
	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// (defaults 250 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock of the timestamps; time.Now if nil.
	Now func() time.Time
	// Open opens a sealed page (wasm/seal) of book at index for devtools:
	// it returns the page's plaintext (an empty one as a non-nil empty
	// slice), or nil when this tab cannot open it (no key for the book or
	// its epoch, or the page does not open). It is asked only about pages
	// that look sealed (seal.Epoch accepts them), never about page 0 (the
	// genesis is never sealed), on Run's goroutine: it must not block
	// long, change page or call into the reporter. The plaintext goes
	// beside the ciphertext in the book frame's Plain; the server verifies
	// the ciphertext, never the plaintext. Nil: no plaintext is sent.
	Open func(book identity.ID, index uint64, page []byte) []byte

	host string // URL's host, which the hello signs
}

func (c *Config) defaults() {
	c.URL = peerURL(c.URL)
	if c.Logger == nil {
		c.Logger = logs.Default()
	}
	if c.Key == nil && c.DB != nil {
		c.Key = c.DB.Identity()
	}
	if c.ID.IsZero() && c.Key != nil {
		c.ID = c.Key.ID()
	}
	if u, err := url.Parse(c.URL); err == nil {
		c.host = strings.ToLower(u.Host)
	}
	if c.Queue <= 0 {
		c.Queue = 4096
	}
	if c.Backfill <= 0 {
		c.Backfill = 1024
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(10*time.Second, c.MinBackoff)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Export == nil && c.DB != nil {
		db := c.DB
		c.Export = func(ctx context.Context) ([]byte, error) {
			ex, err := db.Export(ctx)
			if err != nil {
				return nil, err
			}
			return json.Marshal(ex)
		}
	}
	if c.Import == nil && c.DB != nil {
		db := c.DB
		c.Import = func(ctx context.Context, b []byte) error {
			var ex journal.Export
			if err := json.Unmarshal(b, &ex); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			_, err := db.Import(ctx, &ex)
			return err
		}
	}
}

// A Reporter streams a profile's books and IO events to a devtools server.
// The hooks (the DB subscription, Sync, Port, App, Error) never block and
// never call into the DB: they queue a few words, and Run's goroutine
// reads pages, builds proofs and sends.
type Reporter struct {
	cfg Config
	q   *queue

	connected atomic.Bool
	frames    atomic.Uint64 // frames sent, in all
}

// New returns a reporter; Run connects it.
func New(cfg Config) *Reporter {
	cfg.defaults()
	return &Reporter{cfg: cfg, q: newQueue(cfg.Queue)}
}

// Run reports until ctx ends, connecting and reconnecting with backoff.
// It returns ctx's error. Call it once.
func (r *Reporter) Run(ctx context.Context) error {
	if r.cfg.DB == nil || r.cfg.URL == "" || r.cfg.host == "" {
		return fmt.Errorf("report: Config.URL (with a host) and Config.DB are required")
	}
	if r.cfg.Key.ID() != r.cfg.ID {
		return fmt.Errorf("report: Config.ID %s is not Config.Key's", r.cfg.ID.Short())
	}
	unsubscribe := r.cfg.DB.Subscribe(r.onDB)
	defer unsubscribe()
	log := logs.With(r.cfg.Logger, "devtools", r.cfg.URL)
	wait, failures := r.cfg.MinBackoff, 0
	for {
		welcomed, err := r.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if welcomed {
			wait, failures = r.cfg.MinBackoff, 0
			log.Info("devtools: disconnected", "err", err)
		} else if failures++; failures == 1 {
			log.Info("devtools: cannot connect; retrying quietly", "err", err)
		} else {
			log.Debug("devtools: cannot connect", "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, r.cfg.MaxBackoff)
	}
}

// Connected reports whether the reporter is connected and welcomed.
func (r *Reporter) Connected() bool { return r.connected.Load() }

// Frames returns the number of frames sent so far.
func (r *Reporter) Frames() uint64 { return r.frames.Load() }

func (r *Reporter) now() int64 { return r.cfg.Now().UnixMilli() }

// onDB is the DB hook: it keeps what changed, not the pages.
func (r *Reporter) onDB(ev journal.Event) {
	bi := &bookItem{event: ev.Type, key: ev.Book}
	switch ev.Type {
	case journal.EventFork:
		bi.fork = ev.Fork
	case journal.EventFollow:
		bi.peer = ev.Peer
	case journal.EventPut:
		bi.start, bi.end = ev.Index, ev.Index+uint64(len(ev.Pages))
	}
	r.q.push(item{at: r.now(), book: bi})
}

// Sync reports a replication message of the session with peer. Use it as
// replication.Config.OnEvent: func(e replication.Event) { r.Sync(e, peer) }.
func (r *Reporter) Sync(ev replication.Event, peer identity.ID) {
	typ := ev.Type.String()
	if !syncTypes[typ] {
		return
	}
	r.q.push(item{at: r.now(), body: &Sync{
		Peer: peer, Send: ev.Send, Type: typ, Book: ev.Book, Start: ev.Start, End: max(ev.End, ev.Start),
		Bytes: max(ev.Bytes, 0), Pages: max(ev.Pages, 0), Hashes: max(ev.Hashes, 0),
	}})
}

// Port reports that the port to peer opened (or now runs over another
// transport: "webrtc" or "relay") or closed.
func (r *Reporter) Port(peer identity.ID, open bool, transport string) {
	switch transport {
	case "", "webrtc", "relay":
	default:
		transport = ""
	}
	r.q.push(item{at: r.now(), body: &Port{Peer: peer, Open: open, Transport: transport}})
}

// App reports an application message on the port to peer, such as the
// room's join and joined.
func (r *Reporter) App(peer identity.ID, send bool, typ string, size int) {
	r.q.push(item{at: r.now(), body: &App{Peer: peer, Send: send, Type: clipText(typ, 64), Bytes: max(size, 0)}})
}

// Error reports an error the peer met.
func (r *Reporter) Error(err error) {
	if err == nil {
		return
	}
	r.q.push(item{at: r.now(), body: &Error{Text: clipText(err.Error(), MaxText)}})
}

// agent names what runs the reporter.
func agent() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }

// clipText cuts s to at most n bytes of valid UTF-8.
func clipText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// peerURL turns a devtools address into its websocket endpoint.
func peerURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/peer"
	}
	// The host as a browser sends it (the hello signs it): no default port.
	if p := u.Port(); u.Scheme == "ws" && p == "80" || u.Scheme == "wss" && p == "443" {
		u.Host = strings.TrimSuffix(u.Host, ":"+p)
	}
	return u.String()
}
