package peerio_test

import (
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// gate is a TCP proxy on 127.0.0.1 in front of the relay whose upstream
// direction (client to relay) can be held: what the client sends meanwhile
// waits in the proxy, in order, until the gate opens.
type gate struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex // held while deciding and writing upstream, so order is kept
	closed bool       // guarded by mu
	held   []byte     // guarded by mu
	up     net.Conn   // guarded by mu: the upstream connection of the last client
}

func newGate(t *testing.T, ln net.Listener, target string) *gate {
	g := &gate{ln: ln}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
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
			g.wg.Add(2)
			go g.upstream(s, c)
			go func() {
				defer g.wg.Done()
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); g.wg.Wait() })
	return g
}

func (g *gate) upstream(dst, src net.Conn) {
	defer g.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			g.mu.Lock()
			g.up = dst
			if g.closed {
				g.held = append(g.held, buf[:n]...)
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				g.mu.Unlock()
				return
			}
			g.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (g *gate) hold() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = false
	if g.up != nil && len(g.held) > 0 {
		g.up.Write(g.held)
	}
	g.held = nil
}

// TestSwitchKeepsOrder: Ana's frames through the relay are held up (in a
// proxy) when her data channel opens. She must not send over the channel
// until Bob has every frame sent through the relay: had she, Bob would
// hold her channel frames ahead of sequence past MaxHeld and close the
// port. Here the drain cannot pass the proxy, so she stays on the relay
// (the fallback), and once the proxy lets go Bob gets every message in
// order.
func TestSwitchKeepsOrder(t *testing.T) {
	ln := listenTap(t)
	host, err := relay.ParseHost(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.NewServer(nil, relay.DefaultLimits(), relay.WithHosts(host))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	g := newGate(t, ln, strings.TrimPrefix(hs.URL, "http://"))

	const n, size = 200, 8 << 10 // 1.6 MiB: over MaxHeld
	msg := func(i int) []byte {
		m := make([]byte, size)
		m[0] = byte(i)
		return m
	}
	ana := peerio.New("ana", identity.Seed{1}, peerio.Config{Relay: "ws://" + ln.Addr().String(), Logger: quiet,
		WebRTC: &peerio.RTCConfig{LoopbackOnly: true, Timeout: 3 * time.Second}})
	t.Cleanup(func() { ana.Close() })
	paCh := make(chan port.Port, 1)
	opened, fellBack := make(chan struct{}), make(chan struct{})
	var once sync.Once
	peerio.SetTrace(ana, func(ev string, _ identity.ID) {
		switch ev {
		case peerio.TraceOpen:
			// The channel is open and Ana has not switched: hold her relay
			// path, and send the first message on it.
			pa := <-paCh
			g.hold()
			if err := pa.Send(ctx(t), msg(0)); err != nil {
				t.Error(err)
			}
			close(opened)
		case peerio.TraceRelay:
			once.Do(func() { close(fellBack) })
		}
	})
	bob := newRTCPeer(t, "ws"+strings.TrimPrefix(hs.URL, "http"), "bob", 2, &peerio.RTCConfig{LoopbackOnly: true, Timeout: 10 * time.Second})
	bob.online(t)
	if err := ana.On(ctx(t), func(port.Port) {}); err != nil {
		t.Fatal(err)
	}
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	paCh <- pa
	pb := <-bob.ports
	select {
	case <-opened:
	case <-fellBack:
		t.Skip("the data channel did not open in time: nothing to switch")
	case <-ctx(t).Done():
		t.Fatal("the data channel did not open")
	}
	go func() {
		for i := 1; i < n; i++ {
			if pa.Send(ctx(t), msg(i)) != nil {
				return
			}
		}
	}()
	// Either Ana gives up waiting for Bob's drained (her drain is held in
	// the proxy), or (had she switched at once) Bob overflows.
	select {
	case <-fellBack:
	case <-pb.(*peerio.Port).Done():
		t.Fatalf("Bob's port closed: %v", pb.(*peerio.Port).Err())
	case <-ctx(t).Done():
		t.Fatal("Ana neither switched nor fell back")
	}
	g.release()
	for i := range n {
		m, err := pb.Recv(ctx(t))
		if err != nil || len(m) != size || m[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
}
