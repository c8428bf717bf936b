package peerio_test

import (
	"bytes"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
)

// A proxy is a TCP proxy on 127.0.0.1 in front of a relay. It keeps every
// byte that crosses it (what a curious relay operator would see), and its
// upstream direction (client to relay) can be held: what a client sends
// meanwhile waits in the proxy, in order, until release.
type proxy struct {
	url   string // immutable: the proxy's ws:// URL
	relay string // immutable: the relay's own ws:// URL
	wg    sync.WaitGroup

	mu      sync.Mutex   // held while recording, and while deciding and writing upstream (so order is kept)
	seen    bytes.Buffer // guarded by mu: every byte, both ways
	holding bool         // guarded by mu
	held    []byte       // guarded by mu
	up      net.Conn     // guarded by mu: the upstream connection of the last client
}

// relayBehindProxy runs a relay on 127.0.0.1 that answers to the proxy's
// address too, and the proxy in front of it.
func relayBehindProxy(t *testing.T) *proxy {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, err := relay.ParseHost(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.NewServer(nil, relay.DefaultLimits(), relay.WithHosts(host))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	p := &proxy{url: "ws://" + ln.Addr().String(), relay: "ws" + strings.TrimPrefix(hs.URL, "http")}
	target := hs.Listener.Addr().String()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp4", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			go p.pipe(s, c, true)
			go p.pipe(c, s, false)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// pipe copies src to dst until either ends.
func (p *proxy) pipe(dst, src net.Conn, upstream bool) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.forward(dst, buf[:n], upstream) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward records b and writes it to dst, or holds it (upstream, while
// holding); it reports whether dst is still good.
func (p *proxy) forward(dst net.Conn, b []byte, upstream bool) bool {
	p.mu.Lock()
	p.seen.Write(b)
	if !upstream {
		p.mu.Unlock()
		_, err := dst.Write(b)
		return err == nil
	}
	defer p.mu.Unlock()
	p.up = dst
	if p.holding {
		p.held = append(p.held, b...)
		return true
	}
	_, err := dst.Write(b)
	return err == nil
}

// hold keeps what clients send from here on in the proxy.
func (p *proxy) hold() {
	p.mu.Lock()
	p.holding = true
	p.mu.Unlock()
}

// release sends what was held (to the last client's upstream) and stops
// holding.
func (p *proxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = false
	if p.up != nil && len(p.held) > 0 {
		p.up.Write(p.held)
	}
	p.held = nil
}

// seenLen is how many bytes crossed the proxy.
func (p *proxy) seenLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen.Len()
}

// contains reports whether b crossed the proxy.
func (p *proxy) contains(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Contains(p.seen.Bytes(), b)
}
