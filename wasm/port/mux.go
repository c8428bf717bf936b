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
	ChannelHeld byte = 3 // a mirror's signed statements of what it holds (package held)
)

// Bounds of what a Mux holds for a channel whose reader has not taken it.
// The mux reader stops reading the port while a channel is at a bound (so
// the port's own bound on unread messages applies, and a peerio port closes
// past MaxInbox); it waits only for that channel's reader, Close, or the
// port closing.
const (
	// ChannelBuffer bounds the bytes a channel holds. A message larger than
	// that is taken alone, when the channel holds nothing.
	ChannelBuffer = 4 << 20
	// channelMessages bounds the messages a channel holds.
	channelMessages = 64
)

// A Mux carries several independent channels over one port: each message
// is prefixed with its channel's byte. Messages on a channel nobody opened
// are dropped. Close closes the port and every channel. A channel holds at
// most ChannelBuffer bytes its reader has not taken: a channel not read
// holds up the others, so read every channel opened.
type Mux struct {
	p Port

	mu      sync.Mutex
	chans   map[byte]*muxChan
	err     error // set when the reader stopped
	done    chan struct{}
	closing chan struct{} // closed by Close: the reader stops waiting for room
	once    sync.Once
}

// NewMux starts reading p and returns the multiplexer, with the given
// channels open before the first message is read (so none of theirs is
// dropped).
func NewMux(p Port, open ...byte) *Mux {
	m := &Mux{p: p, chans: make(map[byte]*muxChan), done: make(chan struct{}), closing: make(chan struct{})}
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
		ch = &muxChan{m: m, c: c, arrived: make(chan struct{}, 1), taken: make(chan struct{}, 1)}
		m.chans[c] = ch
	}
	return ch
}

// Done is closed when the underlying port closed.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Close closes the port.
func (m *Mux) Close() error {
	m.once.Do(func() { close(m.closing) })
	return m.p.Close()
}

// waitHook, if set (tests), is called when the reader waits for room.
var waitHook func()

func (m *Mux) read() {
	defer close(m.done)
	// A port that tells when it closes (peerio's) ends a wait for room too.
	var portDone <-chan struct{}
	if d, ok := m.p.(interface{ Done() <-chan struct{} }); ok {
		portDone = d.Done()
	}
	for {
		msg, err := m.p.Recv(context.Background())
		if err != nil {
			m.stop(err)
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
		for !ch.put(msg[1:]) {
			if waitHook != nil {
				waitHook()
			}
			select {
			case <-ch.taken:
			case <-m.closing:
				m.stop(ErrClosed)
				return
			case <-portDone:
				m.stop(ErrClosed)
				return
			}
		}
	}
}

// stop records why the reader stopped.
func (m *Mux) stop(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

type muxChan struct {
	m *Mux
	c byte

	mu      sync.Mutex
	queue   [][]byte      // guarded by mu: messages Recv has not taken
	bytes   int           // guarded by mu: their length
	arrived chan struct{} // capacity 1: signalled when queue gains a message
	taken   chan struct{} // capacity 1: signalled when Recv takes a message
}

// put queues msg if the channel has room for it (see ChannelBuffer).
func (c *muxChan) put(msg []byte) bool {
	c.mu.Lock()
	ok := len(c.queue) == 0 || len(c.queue) < channelMessages && c.bytes+len(msg) <= ChannelBuffer
	if ok {
		c.queue = append(c.queue, msg)
		c.bytes += len(msg)
	}
	c.mu.Unlock()
	if ok {
		select {
		case c.arrived <- struct{}{}:
		default:
		}
	}
	return ok
}

// take returns the next queued message, if any.
func (c *muxChan) take() ([]byte, bool) {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.mu.Unlock()
		return nil, false
	}
	msg := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	c.bytes -= len(msg)
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
	c.mu.Unlock()
	select {
	case c.taken <- struct{}{}:
	default:
	}
	return msg, true
}

func (c *muxChan) Send(ctx context.Context, msg []byte) error {
	out := make([]byte, 1+len(msg))
	out[0] = c.c
	copy(out[1:], msg)
	return c.m.p.Send(ctx, out)
}

func (c *muxChan) Recv(ctx context.Context) ([]byte, error) {
	for {
		if msg, ok := c.take(); ok {
			return msg, nil
		}
		select {
		case <-c.arrived:
		case <-c.m.done:
			if msg, ok := c.take(); ok {
				return msg, nil
			}
			c.m.mu.Lock()
			err := c.m.err
			c.m.mu.Unlock()
			return nil, fmt.Errorf("%w: %v", ErrClosed, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close closes the whole port: a replication session that ends closes
// the connection, as it would without a mux.
func (c *muxChan) Close() error { return c.m.Close() }

func (c *muxChan) Local() identity.ID  { return c.m.p.Local() }
func (c *muxChan) Remote() identity.ID { return c.m.p.Remote() }
