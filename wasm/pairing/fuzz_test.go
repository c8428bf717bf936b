package pairing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// FuzzMessages feeds untrusted bytes to every decoder and to both sides of
// the exchange: each fails with an error, never a panic, and no garbage
// gets a device linked.
func FuzzMessages(f *testing.F) {
	pt := make([]byte, pointSize)
	f.Add(encode(hello{V: Version, T: typeHello, SID: make([]byte, sidSize), YA: pt}))
	f.Add(encode(reply{V: Version, T: typeReply, YB: pt, TB: make([]byte, tagSize)}))
	f.Add(encode(confirm{V: Version, T: typeConfirm, TA: make([]byte, tagSize), Request: []byte{1}}))
	f.Add(encode(chunk{V: Version, T: typeChunk, Index: 0, Total: 3, Sealed: make([]byte, 19)}))
	f.Add(encode(ack{V: Version, T: typeAck, Index: 2}))
	f.Add(newRefuse(reasonRefused, "no"))
	f.Add([]byte{0x9f, 0xff})
	var code Code
	code[0] = 1
	rv := code.Rendezvous().ID()
	dev := identity.ID{9}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := sealer{make([]byte, keySize)}
		for _, m := range []any{&hello{}, &reply{}, &confirm{}, &chunk{}, &ack{}, &refuse{}} {
			for typ := uint(0); typ <= typeRefuse; typ++ {
				_ = decode(msg, maxToClaim, typ, m)
			}
		}
		if _, err := openRequest(s, msg); err == nil {
			t.Fatal("an unsealed request opened")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		// The showing device gets msg as a hello.
		o := &Offer{Code: code, Expires: time.Now().Add(Lifetime), rendezvous: rv, done: make(chan struct{})}
		a, b := port.Pipe(dev, rv, 4)
		a.Send(ctx, msg)
		a.Close()
		if err := o.Serve(ctx, b, rv, dev, func(context.Context, Request) ([]byte, error) {
			t.Fatal("garbage was granted")
			return nil, nil
		}); err == nil {
			t.Fatal("Serve took garbage")
		}

		// The new device gets msg as the answer, then as a chunk.
		a, b = port.Pipe(dev, rv, 4)
		b.Send(ctx, msg)
		b.Close()
		if _, err := Claim(ctx, a, code, dev, rv, Request{Device: dev}); err == nil {
			t.Fatal("Claim took garbage")
		}
		a, b = port.Pipe(dev, rv, 4)
		b.Send(ctx, msg)
		b.Close()
		if _, err := receiveBundle(ctx, a, s); err == nil {
			t.Fatal("a bundle of garbage")
		} else if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	})
}
