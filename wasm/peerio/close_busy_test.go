package peerio_test

import (
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// TestCloseWhileSending: a port closed while one of its frames is being
// sent still tells the other end, once that send is done (before, the
// other end kept a port that swallowed what it sent: a mirror refusing a
// forged revocation left the sender's session open).
func TestCloseWhileSending(t *testing.T) {
	_, _, pa, pb := connected(t)
	exchange(t, pa, pb, []byte("hello"))
	release := peerio.HoldSend(pa.(*peerio.Port))
	pa.Close()
	if _, err := pa.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Recv on the closed port: %v", err)
	}
	release()
	if _, err := pb.Recv(ctx(t)); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Recv after the other end closed mid-send: %v", err)
	}
}
