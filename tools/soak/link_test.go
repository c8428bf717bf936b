//go:build !js

package soak

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
)

// A link is a peer's way to the relay nodes: a TCP forwarder on
// 127.0.0.1 per node, which the schedule can cut (every connection
// through it dropped, new ones closed as they come) and restore, as when
// a laptop's network goes away. The nodes must answer to its hosts: a
// client signs the host it dials.
type link struct {
	lns []net.Listener // immutable

	mu      sync.Mutex
	targets []string              // guarded by mu: host:port of each node, by listener
	cut     bool                  // guarded by mu
	conns   map[net.Conn]struct{} // guarded by mu: both ends of every forwarded connection
	wg      sync.WaitGroup        // the accept loops and pipes
}

// newLink listens for k nodes; it closes when the test ends.
func newLink(t testing.TB, k int) *link {
	l := &link{conns: make(map[net.Conn]struct{}), targets: make([]string, k)}
	for i := range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.lns = append(l.lns, ln)
		l.wg.Go(func() { l.accept(ln, i) })
	}
	t.Cleanup(l.close)
	return l
}

// hosts are the link's own, which the nodes must answer to.
func (l *link) hosts() []relay.Host {
	var hs []relay.Host
	for _, ln := range l.lns {
		h, err := relay.ParseHost(ln.Addr().String())
		if err != nil {
			panic(err) // 127.0.0.1:port always parses
		}
		hs = append(hs, h)
	}
	return hs
}

// to has the link forward to the nodes' websocket URLs (ws://host:port),
// one per listener, and returns the URLs that go through it.
func (l *link) to(urls []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	via := make([]string, len(urls))
	for i, u := range urls {
		l.targets[i] = strings.TrimPrefix(u, "ws://")
		via[i] = "ws://" + l.lns[i].Addr().String()
	}
	return via
}

func (l *link) accept(ln net.Listener, i int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !l.track(c) {
			c.Close()
			continue
		}
		l.wg.Go(func() { l.forward(c, i) })
	}
}

// track adds c to the connections a cut drops; false while cut.
func (l *link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *link) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// forward pipes c to a new connection to node i until either side ends.
func (l *link) forward(c net.Conn, i int) {
	defer l.untrack(c)
	defer c.Close()
	l.mu.Lock()
	target := l.targets[i]
	l.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return // the node is down: the peer sees its connection refused, closed
	}
	if !l.track(up) {
		up.Close()
		return
	}
	defer l.untrack(up)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.Close()
		close(done)
	}()
	io.Copy(c, up)
	c.Close()
	<-done
}

// setCut cuts the link (dropping every connection) or restores it.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

// close stops the forwarders and waits for them.
func (l *link) close() {
	for _, ln := range l.lns {
		ln.Close()
	}
	l.setCut(true)
	l.wg.Wait()
}
