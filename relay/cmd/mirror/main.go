//go:build !js

// Command mirror runs a blind mirror (package relay/mirror): a native peer
// on the relay that keeps the books authors pin to it on disk and serves
// them to their readers while the authors are offline. Its data (a bbolt
// file and the mirror's identity) live in -dir, created if missing and
// printed at start. /healthz answers "ok" while it runs, and the state of
// its NATS connection; /metrics gives its numbers in the Prometheus text
// format. It stops on SIGINT or SIGTERM.
//
// Mirrors form a set over NATS (package relay/mirror, "A set of
// mirrors"): each author's books are kept on -replicas of the live
// mirrors. The NATS flags are the relay's (package relay/natsnode): none
// runs a NATS server in the process (a set of one, unless others join it
// with -nats-listen), -nats URL joins an existing NATS.
//
// Every flag but the NATS ones has an environment variable: MIRROR_DIR,
// MIRROR_RELAY, MIRROR_ADDR, MIRROR_QUOTA_BOOKS, MIRROR_QUOTA_BYTES,
// MIRROR_REPLICAS.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/task-messenger/task-messenger/relay/hostguard"
	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/relay/mirror/boltstore"
	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mirror:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(key), 10, 64); err == nil {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("mirror", flag.ContinueOnError)
	dir := fs.String("dir", envOr("MIRROR_DIR", "mirror-data"), "data directory (created if missing)")
	relayURL := fs.String("relay", envOr("MIRROR_RELAY", "ws://127.0.0.1:8080/relay"), "the relay's websocket URL")
	addr := fs.String("addr", envOr("MIRROR_ADDR", "127.0.0.1:8082"), "listen address of /healthz and /metrics")
	books := fs.Int64("quota-books", envInt("MIRROR_QUOTA_BOOKS", 4096), "books one author may pin")
	bytes := fs.Int64("quota-bytes", envInt("MIRROR_QUOTA_BYTES", 256<<20), "bytes of pages one author may pin")
	replicas := fs.Int("replicas", int(envInt("MIRROR_REPLICAS", 2)), "mirrors of the set that hold each author's books")
	printID := fs.Bool("print-id", false, "print the mirror's peer id (making its identity in -dir if new) and exit")
	natsOpts := natsnode.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	seed, err := loadSeed(filepath.Join(*dir, "identity"))
	if err != nil {
		return err
	}
	if *printID {
		fmt.Println(identity.New(seed).ID())
		return nil
	}
	st, err := boltstore.Open(filepath.Join(*dir, "books.db"), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	natsOpts.Name = "mirror " + identity.New(seed).ID().Short()
	node, err := natsnode.Start(*natsOpts, log)
	if err != nil {
		return err
	}
	defer node.Close() // after the mirror left the set
	m, err := mirror.Start(ctx, mirror.Config{Store: st, Seed: seed, Relay: *relayURL, Quota: mirror.Quota{Books: int(*books), Bytes: *bytes},
		Logger: log, NATS: node.Conn, Replicas: *replicas})
	if err != nil {
		return err
	}
	defer m.Close()
	abs, _ := filepath.Abs(*dir)
	fmt.Printf("mirror %s: data in %s, on %s, metrics at http://%s/metrics\n", m.ID(), abs, *relayURL, *addr)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(m.Stats, node), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadSeed reads the mirror's identity, or makes one (kept 0600).
func loadSeed(path string) (identity.Seed, error) {
	var seed identity.Seed
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == len(seed):
		copy(seed[:], b)
		return seed, nil
	case err == nil:
		return seed, fmt.Errorf("%s: %d bytes, not an identity", path, len(b))
	case !errors.Is(err, os.ErrNotExist):
		return seed, err
	}
	if _, err := rand.Read(seed[:]); err != nil {
		return seed, err
	}
	return seed, os.WriteFile(path, seed[:], 0o600)
}

// natsState is what /healthz and /metrics tell of the NATS connection
// (a *natsnode.Node).
type natsState interface {
	Connected() bool
	State() string
}

// handler serves /healthz ("ok", and the NATS connection's state: the
// mirror serves its books whatever it is) and /metrics (stats, in the
// Prometheus text format), to loopback names only on the listening port:
// a DNS-rebound name reaches nothing (421).
func handler(stats func() mirror.Stats, nats natsState) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "ok\nnats %s\n", nats.State()) })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		s := stats()
		connected := 0
		if nats.Connected() {
			connected = 1
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP mirror_authors Authors with a book pinned.\n# TYPE mirror_authors gauge\nmirror_authors %d\n", s.Authors)
		fmt.Fprintf(w, "# HELP mirror_books Books held.\n# TYPE mirror_books gauge\nmirror_books %d\n", s.Books)
		fmt.Fprintf(w, "# HELP mirror_bytes Bytes of pages held.\n# TYPE mirror_bytes gauge\nmirror_bytes %d\n", s.Bytes)
		fmt.Fprintf(w, "# HELP mirror_refused_total Pins and growths refused (over quota, or of a revoked device).\n# TYPE mirror_refused_total counter\nmirror_refused_total %d\n", s.Refused)
		fmt.Fprintf(w, "# HELP mirror_revocations Devices revoked, as their persons told the mirror.\n# TYPE mirror_revocations gauge\nmirror_revocations %d\n", s.Revocations)
		fmt.Fprintf(w, "# HELP mirror_nats_connected Whether the NATS connection is up (1) or not (0).\n# TYPE mirror_nats_connected gauge\nmirror_nats_connected %d\n", connected)
		fmt.Fprintf(w, "# HELP mirror_set_size Live mirrors of the set, this one included.\n# TYPE mirror_set_size gauge\nmirror_set_size %d\n", s.SetSize)
		fmt.Fprintf(w, "# HELP mirror_repinned_total Books this mirror told others of the set to hold.\n# TYPE mirror_repinned_total counter\nmirror_repinned_total %d\n", s.Repinned)
		fmt.Fprintf(w, "# HELP mirror_followed_total Books others of the set told this mirror to hold, that it followed.\n# TYPE mirror_followed_total counter\nmirror_followed_total %d\n", s.Followed)
		fmt.Fprintf(w, "# HELP mirror_bad_holds_total Hold messages dropped (malformed, or not from a live mirror).\n# TYPE mirror_bad_holds_total counter\nmirror_bad_holds_total %d\n", s.BadHolds)
	})
	return hostguard.NewSet().Check(mux, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "mirror: unknown host", http.StatusMisdirectedRequest)
	}))
}
