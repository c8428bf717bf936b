// Command relay serves the signaling relay (websocket at /relay, Prometheus
// metrics at /metrics) and the page (static/). It listens on
// 127.0.0.1:8080 unless told otherwise (-addr or RELAY_ADDR) and stops
// gracefully on SIGINT or SIGTERM, closing every relay connection.
//
// Every route answers only to 127.0.0.1, localhost and [::1] on the
// listening port, and to the names given with -host (repeatable; "name"
// or "name:port"), so a DNS-rebound name reaches nothing (421).
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

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	addr := fs.String("addr", envOr("RELAY_ADDR", "127.0.0.1:8080"), "listen address")
	static := fs.String("static", envOr("RELAY_STATIC", ""), "serve this directory (the page) at /")
	devtools := fs.String("devtools", envOr("RELAY_DEVTOOLS", ""), "devtools websocket URL the page's peers report to (served in /config.json; ws:// on loopback); empty: off")
	var mirrors []string
	addMirror := func(v string) error {
		if _, err := identity.ParseID(v); err != nil {
			return fmt.Errorf("a mirror's peer id: %w", err)
		}
		mirrors = append(mirrors, v)
		return nil
	}
	for _, v := range strings.Split(os.Getenv("RELAY_MIRRORS"), ",") {
		if v = strings.TrimSpace(v); v != "" {
			if err := addMirror(v); err != nil {
				return fmt.Errorf("RELAY_MIRRORS: %w", err)
			}
		}
	}
	fs.Func("mirror", "a mirror's peer id the page's profiles pin their books to (served in /config.json; repeatable; RELAY_MIRRORS: comma-separated)", addMirror)
	var hosts []relay.Host
	fs.Func("host", "also answer to this host name (\"name\" or \"name:port\"; repeatable), e.g. behind a proxy", func(v string) error {
		h, err := relay.ParseHost(v)
		hosts = append(hosts, h)
		return err
	})
	lim := relay.DefaultLimits()
	fs.IntVar(&lim.MaxConns, "max-conns", lim.MaxConns, "most relay connections open at once")
	fs.IntVar(&lim.MaxConnsPerIP, "max-conns-per-ip", lim.MaxConnsPerIP, "most relay connections open at once from one address (IPv6: one /64)")
	fs.Int64Var(&lim.MaxQueuedBytes, "max-queued-bytes", lim.MaxQueuedBytes, "most bytes queued for all clients together; sends beyond are refused")
	fs.Int64Var(&lim.MaxQueuedBytesPerIP, "max-queued-bytes-per-ip", lim.MaxQueuedBytesPerIP, "most bytes queued for the clients of one address (IPv6: one /64); 0: max-queued-bytes/8")
	fs.Float64Var(&lim.FramesPerSec, "frames-per-sec", lim.FramesPerSec, "frames a connection may send per second (burst 2x)")
	fs.Float64Var(&lim.BytesPerSec, "bytes-per-sec", lim.BytesPerSec, "bytes a connection may send per second (burst 2x)")
	fs.IntVar(&lim.MaxWatch, "max-watch", lim.MaxWatch, "most ids a connection may watch")
	fs.IntVar(&lim.SendQueue, "send-queue", lim.SendQueue, "frames queued for a client before it is dropped as too slow")
	fs.DurationVar(&lim.WriteTimeout, "write-timeout", lim.WriteTimeout, "drop a client that does not take a frame within this time")
	fs.DurationVar(&lim.HandshakeTimeout, "handshake-timeout", lim.HandshakeTimeout, "close a connection without a valid hello within this time")
	fs.DurationVar(&lim.IdleTimeout, "idle-timeout", lim.IdleTimeout, "drop a client not heard from (pong) within this time")
	fs.DurationVar(&lim.PingInterval, "ping-interval", lim.PingInterval, "ping each client this often")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *devtools != "" {
		if err := relay.CheckDevtoolsURL(*devtools); err != nil {
			return fmt.Errorf("-devtools: %w", err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	rs := relay.NewServer(log, lim, relay.WithHosts(hosts...))
	defer rs.Close()
	h, err := handler(rs, *static, relay.PageConfig{Devtools: *devtools, Mirrors: mirrors})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("relay listening", "url", "http://"+ln.Addr().String()+"/", "relay", "ws://"+ln.Addr().String()+"/relay", "static", *static)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("relay shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown stops the listener and waits for plain requests; relay
	// connections are hijacked, so the relay closes them itself.
	err = srv.Shutdown(shutdown)
	rs.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler is every route of the command, behind the relay's Host check.
func handler(rs *relay.Server, static string, page relay.PageConfig) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /relay", rs.Handler())
	mux.Handle("GET /metrics", rs.Metrics())
	mux.Handle("GET /config.json", relay.ConfigHandler(page))
	if static != "" {
		if st, err := os.Stat(static); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("-static %s: not a directory", static)
		}
		mux.Handle("/", relay.StaticHandler(static))
	}
	return rs.CheckHost(mux), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
