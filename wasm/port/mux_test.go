package port

import (
	"context"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestMuxChannelBounded: a peer sends 1 MiB messages (replication's
// batches) on a channel its reader does not read yet: the mux holds at
// most ChannelBuffer bytes of them, then waits; once the reader reads,
// every message arrives, in order. A message larger than ChannelBuffer
// still passes, alone.
func TestMuxChannelBounded(t *testing.T) {
	waiting := make(chan struct{}, 1)
	waitHook = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { waitHook = nil })

	a, b := Pipe(identity.ID{1}, identity.ID{2}, 1)
	mux := NewMux(b, ChannelSync)
	defer mux.Close()
	ctx := context.Background()
	const n, size = 16, 1 << 20
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			msg := make([]byte, 1+size)
			msg[0], msg[1] = ChannelSync, byte(i)
			if err := a.Send(ctx, msg); err != nil {
				sent <- err
				return
			}
		}
		big := make([]byte, 1+2*ChannelBuffer)
		big[0] = ChannelSync
		sent <- a.Send(ctx, big)
	}()
	select {
	case <-waiting: // the mux waits for room
	case err := <-sent:
		t.Fatalf("the mux took all %d MiB unread (send: %v)", (n*size+2*ChannelBuffer)>>20, err)
	}
	ch := mux.Channel(ChannelSync).(*muxChan)
	ch.mu.Lock()
	held := ch.bytes
	ch.mu.Unlock()
	if held > ChannelBuffer {
		t.Fatalf("the channel holds %d bytes, at most %d", held, ChannelBuffer)
	}
	for i := range n {
		m, err := ch.Recv(ctx)
		if err != nil || len(m) != size || m[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	if m, err := ch.Recv(ctx); err != nil || len(m) != 2*ChannelBuffer {
		t.Fatalf("the big message: %d bytes, %v", len(m), err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestMuxCloseWhileFull: Close ends a mux whose reader waits for room, and
// the channel's messages still read, then ErrClosed.
func TestMuxCloseWhileFull(t *testing.T) {
	waiting := make(chan struct{}, 1)
	waitHook = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { waitHook = nil })
	a, b := Pipe(identity.ID{1}, identity.ID{2}, 1)
	mux := NewMux(b, ChannelApp)
	go func() {
		for a.Send(context.Background(), []byte{ChannelApp, 1}) == nil {
		}
	}()
	<-waiting
	mux.Close()
	<-mux.Done()
	ch := mux.Channel(ChannelApp)
	for range channelMessages {
		if _, err := ch.Recv(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ch.Recv(context.Background()); err == nil {
		t.Fatal("Recv after the queued messages: want ErrClosed")
	}
}
