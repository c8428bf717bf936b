// Command devtools serves the devtools server: the page at /, the
// reporters' websocket at /peer and the JSON API under /api/. It listens
// on 127.0.0.1:8081 unless told otherwise (-addr or DEVTOOLS_ADDR) and
// answers only to 127.0.0.1, localhost, [::1] and the names given with
// -host (repeatable), and stops gracefully on SIGINT or SIGTERM, closing every peer connection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/relay/hostguard"
)

// defaultOrigins are the loopback pages allowed to connect reporters.
const defaultOrigins = `127.0.0.1:*,localhost:*,\[::1\]:*`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devtools:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line into the listen address and the
// server's configuration.
func parseFlags(args []string) (addr string, cfg devtools.Config, err error) {
	fs := flag.NewFlagSet("devtools", flag.ContinueOnError)
	fs.StringVar(&addr, "addr", envOr("DEVTOOLS_ADDR", "127.0.0.1:8081"), "listen address")
	fs.IntVar(&cfg.RetainPages, "retain-pages", 1000, "pages kept per book; older ones are dropped (never the genesis)")
	fs.IntVar(&cfg.RetainEvents, "retain-events", 1000, "timeline events kept per book and per peer")
	fs.IntVar(&cfg.MaxTreePages, "max-tree", 1<<18, "pages of a book's verified Merkle tree kept (64 bytes each)")
	fs.IntVar(&cfg.MaxPeers, "max-peers", 256, "peers kept")
	fs.IntVar(&cfg.MaxBooks, "max-books", 10000, "books kept")
	fs.DurationVar(&cfg.CommandTimeout, "command-timeout", time.Minute, "how long an export, import or reset may take")
	// Each origin is a path.Match pattern over the page's host:port, so
	// IPv6 brackets are escaped: "[::1]" alone would be a character class.
	origins := fs.String("origins", defaultOrigins, "web origins allowed to connect reporters (comma separated path.Match patterns over host:port; escape IPv6 brackets as \\[::1\\]:*)")
	fs.Func("host", "a name the server answers to besides 127.0.0.1, localhost and [::1] (name, on the listening port, or name:port); repeatable", func(v string) error {
		if _, err := hostguard.ParseHost(v); err != nil {
			return fmt.Errorf("bad host %q: %v", v, err)
		}
		cfg.Hosts = append(cfg.Hosts, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return "", cfg, err
	}
	cfg.OriginPatterns = strings.Split(*origins, ",")
	return addr, cfg, nil
}

func run(args []string) error {
	addr, cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Logger = log

	s := devtools.New(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("devtools listening", "url", "http://"+ln.Addr().String()+"/", "peers", "ws://"+ln.Addr().String()+"/peer")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("devtools shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Peer websockets and the live feed are long-lived: Close ends them,
	// Shutdown waits for the plain requests.
	s.Close()
	err = srv.Shutdown(shutdown)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
