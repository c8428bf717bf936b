package peerio_test

import (
	"bytes"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// TestSlowPortDoesNotStall: Bob never reads the port Ana floods. Its
// messages wait in that port alone: Carol's port to Bob still carries
// messages both ways, Bob still learns presence (his At to Dave returns
// when Dave comes online), and Bob's Close returns, closing every port.
func TestSlowPortDoesNotStall(t *testing.T) {
	url := startRelay(t)
	ana, bob := newPeer(t, url, "ana", 1), newPeer(t, url, "bob", 2)
	carol, dave := newPeer(t, url, "carol", 3), newPeer(t, url, "dave", 4)
	for _, p := range []*peer{ana, bob, carol} {
		p.online(t)
	}
	pa, err := ana.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	slow := bob.accept(t) // never read

	// More than every queue on the way holds (the relay's, the relay
	// client's and the port's own of old): 300 messages of 1 KiB.
	const flood = 300
	msg := bytes.Repeat([]byte("f"), 1<<10)
	for range flood {
		if err := pa.Send(ctx(t), msg); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < flood; {
		select {
		case from := <-bob.received:
			if from == ana.ID() {
				n++
			}
		case <-ctx(t).Done():
			t.Fatalf("Bob's IO took %d of %d messages from Ana: one port's reader holds up the IO", n, flood)
		}
	}

	pc, err := carol.At(ctx(t), bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	pbc := <-bob.ports
	exchange(t, pc, pbc, []byte("hello bob"))
	exchange(t, pbc, pc, []byte("hello carol"))

	type result struct {
		p   port.Port
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := bob.At(ctx(t), dave.ID())
		done <- result{p, err}
	}()
	bob.await(t, peerio.TraceWait, dave.ID()) // Bob learnt Dave is offline
	dave.online(t)
	r := <-done // and that he came online
	if r.err != nil {
		t.Fatal(r.err)
	}
	exchange(t, r.p, <-dave.ports, []byte("hello dave"))

	if slow.(*peerio.Port).Err() != nil {
		t.Fatalf("the slow port closed within its bound: %v", slow.(*peerio.Port).Err())
	}
	closed := make(chan struct{})
	go func() { bob.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx(t).Done():
		t.Fatal("Bob's Close did not return")
	}
	for _, p := range []port.Port{slow, pbc, r.p} {
		select {
		case <-p.(*peerio.Port).Done():
		default:
			t.Fatalf("Close left the port to %s open", p.Remote().Short())
		}
	}
	// What arrived before is still there to read.
	if m, err := slow.Recv(ctx(t)); err != nil || !bytes.Equal(m, msg) {
		t.Fatalf("the slow port's first message: %d bytes, %v", len(m), err)
	}
}
