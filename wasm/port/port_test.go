package port_test

import (
	"context"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

func TestPipe(t *testing.T) {
	ctx := context.Background()
	a, b := port.Pipe(identity.ID{1}, identity.ID{2}, 2)
	if a.Local() != b.Remote() || a.Remote() != b.Local() {
		t.Fatal("ends do not mirror each other's ids")
	}
	// A Send with room queues its message even with its context ended: so
	// an ended context tells a full port (it waits) from one with room.
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Send(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ended, []byte("two")); err != nil {
		t.Fatalf("send with room: %v", err)
	}
	// Full: a third send waits until its context ends.
	if err := a.Send(ended, []byte("three")); !errors.Is(err, context.Canceled) {
		t.Fatalf("send on a full port: %v, want it to wait for its context", err)
	}
	// A send waiting on a full port completes once the other end reads.
	sent := make(chan error, 1)
	go func() { sent <- a.Send(ctx, []byte("three")) }()
	for _, want := range []string{"one", "two", "three"} {
		m, err := b.Recv(ctx)
		if err != nil || string(m) != want {
			t.Fatalf("Recv = %q, %v; want %q", m, err, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := a.Recv(ctx); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Recv after the other end closed: %v", err)
	}
	if err := a.Send(ctx, nil); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("Send after close: %v", err)
	}
}

func TestMux(t *testing.T) {
	ctx := context.Background()
	a, b := port.Pipe(identity.ID{1}, identity.ID{2}, 8)
	ma, mb := port.NewMux(a), port.NewMux(b)
	syncA, appA := ma.Channel(port.ChannelSync), ma.Channel(port.ChannelApp)
	syncB, appB := mb.Channel(port.ChannelSync), mb.Channel(port.ChannelApp)
	if err := appA.Send(ctx, []byte("app")); err != nil {
		t.Fatal(err)
	}
	if err := syncA.Send(ctx, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	if m, err := syncB.Recv(ctx); err != nil || string(m) != "sync" {
		t.Fatalf("sync channel got %q, %v", m, err)
	}
	if m, err := appB.Recv(ctx); err != nil || string(m) != "app" {
		t.Fatalf("app channel got %q, %v", m, err)
	}
	if appB.Remote() != (identity.ID{1}) {
		t.Fatal("channel lost the port's ids")
	}
	syncA.Close()
	if _, err := appB.Recv(ctx); !errors.Is(err, port.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	<-ma.Done()
	<-mb.Done()
}
