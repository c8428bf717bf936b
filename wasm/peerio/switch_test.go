package peerio_test

import (
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// TestSwitchKeepsOrder: Ana's frames through the relay are held up (in a
// proxy) when her data channel opens. She must not send over the channel
// until Bob has every frame sent through the relay: had she, Bob would
// hold her channel frames ahead of sequence past MaxHeld and close the
// port. Here the drain cannot pass the proxy, so she stays on the relay
// (the fallback), and once the proxy lets go Bob gets every message in
// order.
func TestSwitchKeepsOrder(t *testing.T) {
	g := relayBehindProxy(t)

	const n, size = 200, 8 << 10 // 1.6 MiB: over MaxHeld
	msg := func(i int) []byte {
		m := make([]byte, size)
		m[0] = byte(i)
		return m
	}
	ana := peerio.New("ana", identity.Seed{1}, peerio.Config{Relay: g.url, Logger: quiet,
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
	bob := newRTCPeer(t, g.relay, "bob", 2, &peerio.RTCConfig{LoopbackOnly: true, Timeout: 10 * time.Second})
	bob.online(t)
	if err := ana.On(ctx(t), func(port.Port) {}); err != nil {
		t.Fatal(err)
	}
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	paCh <- pa
	pb := bob.accept(t)
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
