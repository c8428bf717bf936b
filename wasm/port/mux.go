package port

import (
	"context"
	"fmt"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Channels of a multiplexed port.
const (
	ChannelSync byte = 0 // replication sessions
	ChannelApp  byte = 1 // the page's own messages (the JS API's port.postMessage)
	ChannelRoom byte = 2 // the room protocol (join, joined)
)

// A Mux carries several independent channels over one port: each message
// is prefixed with its channel's byte. Messages on a channel nobody opened
// are dropped. Close closes the port and every channel.
type Mux struct {
	p Port

	mu    sync.Mutex
	chans map[byte]*muxChan
	err   error // set when the reader stopped
	done  chan struct{}
}

// NewMux starts reading p and returns the multiplexer, with the given
// channels open before the first message is read (so none of theirs is
// dropped).
func NewMux(p Port, open ...byte) *Mux {
	m := &Mux{p: p, chans: make(map[byte]*muxChan), done: make(chan struct{})}
	for _, c := range open {
		m.Channel(c)
	}
	go m.read()
	return m
}

// Channel returns the port of channel c (the same one each time).
func (m *Mux) Channel(c byte) Port {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.chans[c]
	if !ok {
		ch = &muxChan{m: m, c: c, in: make(chan []byte, 64)}
		m.chans[c] = ch
	}
	return ch
}

// Done is closed when the underlying port closed.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Close closes the port.
func (m *Mux) Close() error { return m.p.Close() }

func (m *Mux) read() {
	defer close(m.done)
	for {
		msg, err := m.p.Recv(context.Background())
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			return
		}
		if len(msg) == 0 {
			continue
		}
		m.mu.Lock()
		ch := m.chans[msg[0]]
		m.mu.Unlock()
		if ch == nil {
			continue
		}
		ch.in <- msg[1:] // a channel not read holds up the others: read every channel opened
	}
}

type muxChan struct {
	m  *Mux
	c  byte
	in chan []byte
}

func (c *muxChan) Send(ctx context.Context, msg []byte) error {
	out := make([]byte, 1+len(msg))
	out[0] = c.c
	copy(out[1:], msg)
	return c.m.p.Send(ctx, out)
}

func (c *muxChan) Recv(ctx context.Context) ([]byte, error) {
	select {
	case msg := <-c.in:
		return msg, nil
	default:
	}
	select {
	case msg := <-c.in:
		return msg, nil
	case <-c.m.done:
		return nil, fmt.Errorf("%w: %v", ErrClosed, c.m.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the whole port: a replication session that ends closes
// the connection, as it would without a mux.
func (c *muxChan) Close() error { return c.m.Close() }

func (c *muxChan) Local() identity.ID  { return c.m.p.Local() }
func (c *muxChan) Remote() identity.ID { return c.m.p.Remote() }
