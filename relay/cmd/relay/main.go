//go:build !js

// Command relay serves the signaling relay (websocket at /relay, Prometheus
// metrics at /metrics) and the page (static/). It listens on
// 127.0.0.1:8080 unless told otherwise (-addr or RELAY_ADDR) and stops
// gracefully on SIGINT or SIGTERM, closing every relay connection.
//
// Every route answers only to 127.0.0.1, localhost and [::1] on the
// listening port, and to the names given with -host (repeatable; "name"
// or "name:port"), so a DNS-rebound name reaches nothing (421).
//
// Relays are nodes of one cluster over NATS (package relay/cluster): by
// default a NATS server embedded in the process, without a listener (a
// cluster of one); -nats-listen lets other nodes join it (-nats URL),
// -nats-cluster and -nats-routes route embedded servers together, -nats
// joins an existing NATS (with -nats-creds or -nats-nkey). -url is this
// node's relay URL as pages reach it: the page's /config.json lists every
// live node's ("relays") and every mirror that announces itself on the
// cluster's NATS besides those of -mirror ("mirrors"), and a page served
// by one node may open the relay of any other (its failover). /healthz says "ok" and the NATS
// state; /metrics adds the cluster's numbers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
	"github.com/task-messenger/task-messenger/relay/mirrorset"
	"github.com/task-messenger/task-messenger/relay/natsnode"
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
	natsOpts := natsnode.AddFlags(fs)
	publicURL := fs.String("url", envOr("RELAY_URL", ""), "this node's relay websocket URL as pages reach it (ws://host:port/relay; default: from -addr), told to the cluster's other nodes")
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
	if err := natsOpts.Check(); err != nil {
		return err
	}
	if *publicURL != "" {
		if err := relay.CheckRelayURL(*publicURL); err != nil {
			return fmt.Errorf("-url: %w", err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *publicURL == "" {
		*publicURL = "ws://" + ln.Addr().String() + "/relay"
	}
	nn, err := natsnode.Start(*natsOpts, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer nn.Close()
	var node *cluster.Node // set before anyone is served
	rs := relay.NewServer(log, lim, relay.WithHosts(hosts...), relay.WithPageHosts(func() []relay.Host { return nodeHosts(node) }))
	defer rs.Close()
	if node, err = cluster.Join(rs, nn, cluster.Config{URL: *publicURL, Logger: log}); err != nil {
		ln.Close()
		return err
	}
	defer node.Close()
	// The mirrors of the set that announce themselves on this NATS join
	// those of -mirror in /config.json.
	set, err := mirrorset.Watch(nn.Conn, mirrorset.Config{Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	defer set.Close()
	relays := func() []string { return validRelays(node.URLs()) }
	page := func() relay.PageConfig {
		return relay.PageConfig{Devtools: *devtools, Mirrors: withLive(mirrors, set.Live()), Relays: relays()}
	}
	h, err := handler(routes{rs: rs, static: *static, page: page, relays: relays, health: node.Health, metrics: node.WriteMetrics})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("relay listening", "url", "http://"+ln.Addr().String()+"/", "relay", *publicURL, "static", *static,
		"node", node.Name(), "nats", nn.State(), "nats_listen", nn.ClientURL(), "nats_cluster", nn.ClusterURL())

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
	// The others hear this node leave before its peers move to them.
	node.Close()
	err = srv.Shutdown(shutdown)
	rs.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// routes are what the command serves.
type routes struct {
	rs      *relay.Server
	static  string                  // the page's directory, "" for none
	page    func() relay.PageConfig // /config.json, as it is now
	relays  func() []string         // the cluster's relay URLs the page may reach (its CSP); nil for none
	health  func() string           // a line for /healthz after "ok"; nil for none
	metrics func(w io.Writer)       // more metrics after the relay's; nil for none
}

// handler is every route of the command, behind the relay's Host check.
func handler(r routes) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
		if r.health != nil {
			fmt.Fprintln(w, r.health())
		}
	})
	mux.Handle("GET /relay", r.rs.Handler())
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, req *http.Request) {
		r.rs.Metrics().ServeHTTP(w, req)
		if r.metrics != nil {
			r.metrics(w)
		}
	})
	mux.Handle("GET /config.json", relay.ConfigHandlerFunc(r.page))
	if r.static != "" {
		if st, err := os.Stat(r.static); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("-static %s: not a directory", r.static)
		}
		mux.Handle("/", relay.StaticHandlerCSP(r.static, func() string {
			if r.relays == nil {
				return relay.PageCSP
			}
			csp, err := relay.PageCSPWith(r.relays()...)
			if err != nil {
				return relay.PageCSP
			}
			return csp
		}))
	}
	return r.rs.CheckHost(mux), nil
}

// nodeHosts are the hosts of the relay URLs of the cluster's nodes, live
// or gone: their pages may open this relay.
func nodeHosts(node *cluster.Node) []relay.Host {
	if node == nil {
		return nil
	}
	var out []relay.Host
	for _, u := range node.KnownURLs() {
		if h, err := relay.RelayURLHost(u); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// withLive is the mirrors given with -mirror, then those of the live set
// not among them.
func withLive(static []string, live []identity.ID) []string {
	out := slices.Clone(static)
	for _, id := range live {
		if s := id.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// validRelays are the URLs of urls that a page may be told and reach
// (relay.CheckRelayURL): a node announcing a bad one is left out.
func validRelays(urls []string) []string {
	out := urls[:0:0]
	for _, u := range urls {
		if relay.CheckRelayURL(u) == nil {
			out = append(out, u)
		}
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
