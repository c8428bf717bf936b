//go:build !js

// Package natsnode connects a relay or a mirror to NATS (issue #15): by
// default to a NATS server embedded in the process, without a listener;
// with -nats-listen, to an embedded server that other nodes can join
// (and, with -nats-cluster and -nats-routes, that routes to other
// embedded servers as one NATS cluster); with -nats, to an existing NATS
// cluster, authenticated the usual NATS ways (-nats-creds, -nats-nkey).
//
// The connection reconnects forever: a node whose NATS is unreachable
// keeps serving its own clients, reports it (Node.Connected, Node.State),
// and joins again when NATS returns.
package natsnode

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options says which NATS to use. The zero value is an embedded server
// without a listener: a cluster of one node.
type Options struct {
	// Name names the connection (and the embedded server, its spaces
	// made dashes: NATS refuses a server name with spaces) in NATS's own
	// monitoring; "" takes a default.
	Name string
	// URLs joins an existing NATS (servers of one cluster) instead of
	// embedding one: -nats.
	URLs []string
	// Creds is a NATS credentials file (user JWT and nkey seed): -nats-creds.
	Creds string
	// NKey is a file holding an nkey user seed: -nats-nkey.
	NKey string
	// Token is a shared secret: the embedded server's listener
	// (-nats-listen) asks it of every client, and a node joining with
	// -nats sends it: -nats-token (or NATS_TOKEN). Without it, anyone
	// who reaches -nats-listen is part of the cluster.
	Token string
	// Listen exposes the embedded server to clients (other nodes' -nats)
	// at host:port: -nats-listen.
	Listen string
	// Cluster is the embedded server's cluster listen address (other
	// embedded servers' routes): -nats-cluster.
	Cluster string
	// Routes are other embedded servers' cluster URLs
	// (nats://host:port) to route to: -nats-routes.
	Routes []string
	// ReconnectWait is the pause between reconnect attempts (default
	// 250ms).
	ReconnectWait time.Duration
}

// AddFlags defines the -nats… flags on fs and returns the Options they
// fill.
func AddFlags(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.Func("nats", "join this NATS cluster (URL[,URL…]) instead of running one in the process", func(v string) error {
		o.URLs = splitList(v)
		return nil
	})
	fs.StringVar(&o.Creds, "nats-creds", "", "NATS credentials file (with -nats)")
	fs.StringVar(&o.NKey, "nats-nkey", "", "file holding a NATS nkey user seed (with -nats)")
	fs.StringVar(&o.Token, "nats-token", os.Getenv("NATS_TOKEN"), "shared secret the embedded server's -nats-listen asks of clients, and -nats sends (env NATS_TOKEN)")
	fs.StringVar(&o.Listen, "nats-listen", "", "expose the embedded NATS server to other nodes at host:port")
	fs.StringVar(&o.Cluster, "nats-cluster", "", "the embedded NATS server's cluster (route) listen address host:port")
	fs.Func("nats-routes", "route the embedded NATS server to these (nats://host:port[,…]), forming one NATS cluster", func(v string) error {
		o.Routes = splitList(v)
		return nil
	})
	return o
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Check reports options that contradict each other.
func (o *Options) Check() error {
	embedded := o.Listen != "" || o.Cluster != "" || len(o.Routes) > 0
	switch {
	case len(o.URLs) > 0 && embedded:
		return errors.New("natsnode: -nats joins an existing NATS; -nats-listen, -nats-cluster and -nats-routes configure the embedded one: use one or the other")
	case len(o.URLs) == 0 && (o.Creds != "" || o.NKey != ""):
		return errors.New("natsnode: -nats-creds and -nats-nkey go with -nats")
	case o.Creds != "" && o.NKey != "":
		return errors.New("natsnode: -nats-creds or -nats-nkey, not both")
	case o.Token != "" && (o.Creds != "" || o.NKey != ""):
		return errors.New("natsnode: -nats-token, or -nats-creds / -nats-nkey, not both")
	case len(o.Routes) > 0 && o.Cluster == "":
		return errors.New("natsnode: -nats-routes needs -nats-cluster (the address the routes come back to)")
	}
	for _, a := range []string{o.Listen, o.Cluster} {
		if a == "" {
			continue
		}
		if _, _, err := splitHostPort(a); err != nil {
			return fmt.Errorf("natsnode: %q: %w", a, err)
		}
	}
	return nil
}

// A Node is a live NATS connection, and the embedded server it uses if
// any.
type Node struct {
	Conn *nats.Conn
	srv  *server.Server // nil when joined to an external NATS
	log  *slog.Logger

	mu       sync.Mutex
	handlers []func(connected bool)
}

// Start starts the embedded server (unless Options.URLs) and connects to
// it. With URLs, it returns at once even if NATS is unreachable: the
// connection keeps trying in the background (Connected reports it).
func Start(o Options, log *slog.Logger) (*Node, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "task-messenger"
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = 250 * time.Millisecond
	}
	n := &Node{log: log}
	copts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.ReconnectJitter(o.ReconnectWait/4, o.ReconnectWait/4),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1), // a send while disconnected fails now, never later
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(c *nats.Conn) { n.changed(c, true) }),
		nats.ReconnectHandler(func(c *nats.Conn) { n.changed(c, true) }),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil {
				log.Warn("natsnode: disconnected", "err", err)
			}
			n.changed(c, false)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("natsnode: async error", "subject", subj, "err", err)
		}),
	}
	url := strings.Join(o.URLs, ",")
	if len(o.URLs) == 0 {
		srv, err := embedded(o)
		if err != nil {
			return nil, err
		}
		n.srv = srv
		copts = append(copts, nats.InProcessServer(srv))
		if o.Token != "" {
			copts = append(copts, nats.Token(o.Token))
		}
		url = ""
	} else {
		switch {
		case o.Token != "":
			copts = append(copts, nats.Token(o.Token))
		case o.Creds != "":
			copts = append(copts, nats.UserCredentials(o.Creds))
		case o.NKey != "":
			opt, err := nats.NkeyOptionFromSeed(o.NKey)
			if err != nil {
				return nil, fmt.Errorf("natsnode: -nats-nkey: %w", err)
			}
			copts = append(copts, opt)
		}
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		n.shutdownServer()
		return nil, fmt.Errorf("natsnode: connect: %w", err)
	}
	n.Conn = nc
	return n, nil
}

// embedded starts an in-process NATS server.
func embedded(o Options) (*server.Server, error) {
	so := &server.Options{ServerName: serverName(o.Name), NoSigs: true, NoLog: true, DontListen: true, MaxPayload: 1 << 20}
	if o.Listen != "" {
		host, port, _ := splitHostPort(o.Listen)
		so.DontListen, so.Host, so.Port = false, host, port
		so.Authorization = o.Token // "": no authentication (keep it on loopback)
	}
	if o.Cluster != "" {
		if so.DontListen {
			// nats-server starts its routes only once its client
			// listener is up: a routed server needs one, here on a
			// random loopback port.
			so.DontListen, so.Host, so.Port = false, "127.0.0.1", server.RANDOM_PORT
		}
		host, port, _ := splitHostPort(o.Cluster)
		so.Cluster = server.ClusterOpts{Name: "task-messenger", Host: host, Port: port}
		so.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsnode: embedded server: %w", err)
	}
	failures := &startLog{}
	srv.SetLogger(failures, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsnode: embedded server did not start in %v%s", startTimeout, failures.String())
	}
	srv.SetLogger(nil, false, false)
	return srv, nil
}

// startTimeout bounds an embedded server's start (a variable for tests).
// nats-server waits it out also when a listener failed (a port taken):
// startLog keeps why.
var startTimeout = 10 * time.Second

// startLog keeps the errors an embedded server logs while it starts (its
// listeners'), for the error that says it did not.
type startLog struct {
	mu   sync.Mutex
	errs []string // guarded by mu; at most 8
}

func (l *startLog) add(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 8 {
		l.errs = append(l.errs, fmt.Sprintf(format, v...))
	}
}

// String is the errors kept, as a suffix of an error message.
func (l *startLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return ""
	}
	return ": " + strings.Join(l.errs, "; ")
}

func (l *startLog) Fatalf(format string, v ...any) { l.add(format, v...) }
func (l *startLog) Errorf(format string, v ...any) { l.add(format, v...) }
func (l *startLog) Noticef(string, ...any)         {}
func (l *startLog) Warnf(string, ...any)           {}
func (l *startLog) Debugf(string, ...any)          {}
func (l *startLog) Tracef(string, ...any)          {}

// serverName is name as an embedded server's name: nats-server refuses
// one with spaces ("mirror 5dyr…" made every mirror without -nats fail
// at start).
func serverName(name string) string {
	return strings.Join(strings.Fields(name), "-")
}

func splitHostPort(a string) (string, int, error) {
	host, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

// OnChange calls f (from NATS's own goroutine) each time the connection
// comes up or goes down. Set handlers before they matter: Start may
// already have connected.
func (n *Node) OnChange(f func(connected bool)) {
	n.mu.Lock()
	n.handlers = append(n.handlers, f)
	n.mu.Unlock()
}

// changed runs the handlers; c is the connection (Start may not have
// set Conn yet).
func (n *Node) changed(c *nats.Conn, up bool) {
	n.mu.Lock()
	hs := append([]func(bool){}, n.handlers...)
	n.mu.Unlock()
	if up {
		server := c.ConnectedUrlRedacted()
		if n.srv != nil && n.srv.Addr() == nil {
			server = "in-process"
		}
		n.log.Info("natsnode: connected", "server", server)
	}
	for _, f := range hs {
		f(up)
	}
}

// Connected reports whether the NATS connection is up.
func (n *Node) Connected() bool { return n.Conn != nil && n.Conn.IsConnected() }

// State is the connection's state in a word: "connected",
// "reconnecting", "closed" ….
func (n *Node) State() string {
	if n.Conn == nil {
		return "none"
	}
	switch n.Conn.Status() {
	case nats.CONNECTED:
		return "connected"
	case nats.RECONNECTING, nats.CONNECTING:
		return "reconnecting"
	case nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return "draining"
	default:
		return "closed"
	}
}

// Embedded reports whether the node runs its own NATS server.
func (n *Node) Embedded() bool { return n.srv != nil }

// ClientURL is the embedded server's client URL when it listens (-nats-listen), else "".
func (n *Node) ClientURL() string {
	if n.srv == nil || n.srv.Addr() == nil {
		return ""
	}
	return "nats://" + n.srv.Addr().String()
}

// ClusterURL is the embedded server's route URL when it has one (-nats-cluster), else "".
func (n *Node) ClusterURL() string {
	if n.srv == nil || n.srv.ClusterAddr() == nil {
		return ""
	}
	return "nats://" + n.srv.ClusterAddr().String()
}

// Routes is how many other NATS servers the embedded one routes to.
func (n *Node) Routes() int {
	if n.srv == nil {
		return 0
	}
	return n.srv.NumRoutes()
}

// Close closes the connection and shuts the embedded server down.
func (n *Node) Close() {
	if n.Conn != nil {
		n.Conn.Close()
	}
	n.shutdownServer()
}

func (n *Node) shutdownServer() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}
