package peerio_test

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// TestRelaySeesNoPlaintext: messages on a port through the relay are
// sealed end to end: the bytes on the relay's wire never contain them.
func TestRelaySeesNoPlaintext(t *testing.T) {
	tp := relayBehindProxy(t)
	mk := func(alias string, n byte) (*peerio.IO, chan port.Port) {
		io := peerio.New(alias, identity.Seed{n}, peerio.Config{Relay: tp.url, Logger: quiet})
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
	if tp.seenLen() == 0 {
		t.Fatal("the tap saw no traffic: the test does not test anything")
	}
	if tp.contains(secret) || tp.contains(secret[:16]) {
		t.Fatal("the relay's wire carried the message in the clear")
	}
}
