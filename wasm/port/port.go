// Package port defines the connection between two peers that replication
// and the room protocol run over, and an in-memory pair of them.
//
// A Port is what the seed's MessageChannel ports were: ordered, reliable,
// message-based, with the ids of both ends. The IO layer implements it over
// WebRTC data channels and relay-forwarded frames, after both ends proved
// their ids, so Local and Remote are authenticated, not just told.
//
// A Mux carries several channels over one port. Each channel holds at most
// ChannelBuffer bytes (or one larger message) that its reader has not
// taken; past that the mux stops reading the port until that channel is
// read, the mux is closed, or the port closes, so what a peer makes this
// end hold stays within the port's own bound (peerio's MaxInbox) plus
// ChannelBuffer per open channel.
package port

import (
	"context"
	"errors"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// ErrClosed is returned by Send and Recv on a closed port.
var ErrClosed = errors.New("port: closed")

// ErrOffline is wrapped by the close error of a port that closed because
// one of its ends went offline (its relay connection lost, or the other
// peer gone): a new port to the peer waits until both are back.
var ErrOffline = errors.New("port: an end went offline")

// A Port is one end of an ordered, reliable, message-based connection.
// Send and Recv may be called concurrently with each other and with Close;
// Send is safe for concurrent use.
type Port interface {
	// Send queues msg for the other end, waiting while the port is full.
	// The port keeps msg: do not modify it afterwards.
	Send(ctx context.Context, msg []byte) error
	// Recv returns the next message, waiting for one to arrive. It returns
	// ErrClosed once either end closed the port.
	Recv(ctx context.Context) ([]byte, error)
	// Close closes both directions. Messages not yet received are dropped.
	Close() error
	// Local returns this end's peer id (the seed's port.by).
	Local() identity.ID
	// Remote returns the other end's peer id (the seed's port.to).
	Remote() identity.ID
}

// Pipe returns the two ends of an in-memory port between peers a and b,
// each direction buffering up to capacity messages.
func Pipe(a, b identity.ID, capacity int) (Port, Port) {
	ab := make(chan []byte, capacity)
	ba := make(chan []byte, capacity)
	c := &pipeConn{done: make(chan struct{})}
	return &pipeEnd{c: c, in: ba, out: ab, local: a, remote: b},
		&pipeEnd{c: c, in: ab, out: ba, local: b, remote: a}
}

type pipeConn struct {
	once sync.Once
	done chan struct{} // closed by Close
}

type pipeEnd struct {
	c             *pipeConn
	in, out       chan []byte
	local, remote identity.ID
}

// Send queues msg if there is room, whether or not ctx has ended, and
// otherwise waits for room, the end of ctx or Close.
func (p *pipeEnd) Send(ctx context.Context, msg []byte) error {
	select {
	case <-p.c.done:
		return ErrClosed
	default:
	}
	select {
	case p.out <- msg:
		return nil
	default:
	}
	select {
	case p.out <- msg:
		return nil
	case <-p.c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeEnd) Recv(ctx context.Context) ([]byte, error) {
	select {
	case <-p.c.done:
		return nil, ErrClosed
	default:
	}
	select {
	case m := <-p.in:
		return m, nil
	case <-p.c.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeEnd) Close() error {
	p.c.once.Do(func() { close(p.c.done) })
	return nil
}

func (p *pipeEnd) Local() identity.ID  { return p.local }
func (p *pipeEnd) Remote() identity.ID { return p.remote }
