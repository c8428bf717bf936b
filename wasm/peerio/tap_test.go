package peerio_test

import (
	"bytes"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// tap is a TCP proxy on 127.0.0.1 in front of the relay that keeps every
// byte that crosses it: what a curious relay operator would see.
type tap struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer
	wg   sync.WaitGroup
}

// listenTap returns the tap's listener, before the relay behind it exists
// (the relay must answer to the tap's address).
func listenTap(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// newTap forwards what ln accepts to target.
func newTap(t *testing.T, ln net.Listener, target string) *tap {
	tp := &tap{ln: ln}
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
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
			tp.wg.Add(2)
			go tp.copy(s, c)
			go tp.copy(c, s)
		}
	}()
	t.Cleanup(func() { ln.Close(); tp.wg.Wait() })
	return tp
}

func (tp *tap) copy(dst, src net.Conn) {
	defer tp.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.mu.Lock()
			tp.seen.Write(buf[:n])
			tp.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (tp *tap) contains(b []byte) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.seen.Bytes(), b)
}

// TestRelaySeesNoPlaintext: messages on a port through the relay are
// sealed end to end: the bytes on the relay's wire never contain them.
func TestRelaySeesNoPlaintext(t *testing.T) {
	ln := listenTap(t)
	host, err := relay.ParseHost(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.NewServer(nil, relay.DefaultLimits(), relay.WithHosts(host))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	tp := newTap(t, ln, strings.TrimPrefix(hs.URL, "http://"))
	tapped := "ws://" + tp.ln.Addr().String()
	mk := func(alias string, n byte) (*peerio.IO, chan port.Port) {
		io := peerio.New(alias, identity.Seed{n}, peerio.Config{Relay: tapped, Logger: quiet})
		ch := make(chan port.Port, 4)
		if err := io.On(ctx(t), func(p port.Port) { ch <- p }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { io.Close() })
		return io, ch
	}
	ana, _ := mk("ana", 1)
	bob, ports := mk("bob", 2)
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the launch code is 0000 — tell nobody")
	exchange(t, pa, <-ports, secret)
	tp.mu.Lock()
	seen := tp.seen.Len()
	tp.mu.Unlock()
	if seen == 0 {
		t.Fatal("the tap saw no traffic: the test does not test anything")
	}
	if tp.contains(secret) || tp.contains(secret[:16]) {
		t.Fatal("the relay's wire carried the message in the clear")
	}
}
