package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// readSlack is what the client's websocket read limit allows beyond
// MaxFrameSize, so a frame just over the bound is reported as a bad frame
// rather than cut off by the websocket library.
const readSlack = 1 << 10

// eventQueue is how many events wait for the application before the
// client stops reading (and the relay, whose send queue then fills, drops
// it).
const eventQueue = 64

// An Event is a frame the relay sent to the client.
type Event struct {
	Type    FrameType   // FrameRecv, FramePresence or FrameError
	From    identity.ID // recv: the sender; presence: the peer; error: the peer concerned, if any
	Kind    Kind        // recv
	Payload []byte      // recv
	Online  bool        // presence
	Code    string      // error: CodeOffline, CodeLimit, CodeBadFrame
	Detail  string      // error
}

// A Client is a connection to the relay, registered under its key's id.
// It builds natively and for js/wasm (coder/websocket); in the browser a
// refused upgrade (HTTP 503) cannot be told from a failed connection.
//
// Send and Watch may be called from any goroutine. One goroutine, started
// by Dial and ended by Close or by the end of the connection, reads frames
// and hands them to Events.
type Client struct {
	ws    *websocket.Conn
	id    identity.ID // immutable
	batch bool        // immutable: the relay sends batches (BatchProtocol)

	events chan Event // the reader sends and closes it when the connection ends

	closeOnce sync.Once
	closing   chan struct{} // closed by Close

	done chan struct{} // closed by the reader when it has ended, after err is set
	err  error         // why the connection ended; written by the reader before done
}

// Dial connects to the relay at url (ws:// or wss://, the /relay endpoint)
// and proves key's id. It returns an error wrapping ErrRefused if the relay
// does not accept the connection. ctx bounds only the dial and handshake.
func Dial(ctx context.Context, url string, key *identity.Key) (*Client, error) {
	host, err := dialHost(url)
	if err != nil {
		return nil, err
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{BatchProtocol}})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			return nil, fmt.Errorf("%w: %s: %s", ErrRefused, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil, fmt.Errorf("relay: dial: %w", err)
	}
	ws.SetReadLimit(MaxFrameSize + readSlack)
	c := &Client{
		ws:      ws,
		id:      key.ID(),
		batch:   ws.Subprotocol() == BatchProtocol,
		events:  make(chan Event, eventQueue),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := c.handshake(ctx, key, host); err != nil {
		ws.CloseNow()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// handshake answers the challenge, signing it for host (the relay dialled).
func (c *Client) handshake(ctx context.Context, key *identity.Key, host Host) error {
	f, err := c.read(ctx)
	if err != nil {
		return err
	}
	if f.Type != FrameChallenge {
		return fmt.Errorf("%w: expected challenge, got frame type %d", ErrBadFrame, f.Type)
	}
	// From the hello on, the handshake is finished even if ctx ends: a
	// hello the relay reads after this client gave up would register it
	// then, replacing whatever connection of this id came meanwhile.
	// Finished, a connection that ctx gave up on closes in order.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), welcomeWait)
	defer cancel()
	hello := &Frame{Type: FrameHello, ID: c.id, Sig: key.Sign(HelloMessage(host, f.Nonce)), Host: host}
	if err := c.write(hctx, hello); err != nil {
		return err
	}
	if f, err = c.read(hctx); err != nil {
		return err
	}
	if f.Type != FrameWelcome {
		return fmt.Errorf("%w: expected welcome, got frame type %d", ErrBadFrame, f.Type)
	}
	return ctx.Err()
}

// welcomeWait bounds the wait for the relay's welcome once the hello went.
const welcomeWait = 10 * time.Second

// read reads one frame during the handshake.
func (c *Client) read(ctx context.Context) (*Frame, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w: %s (status %d)", ErrRefused, ce.Reason, ce.Code)
		}
		return nil, fmt.Errorf("relay: handshake: %w", err)
	}
	return Decode(b)
}

func (c *Client) write(ctx context.Context, f *Frame) error {
	b, err := Encode(f)
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		select {
		case <-c.done:
			return c.err
		default:
		}
		return fmt.Errorf("relay: write: %w", err)
	}
	return nil
}

// readLoop hands the relay's frames to Events until the connection ends.
func (c *Client) readLoop() {
	err := c.readFrames()
	select {
	case <-c.closing:
		err = ErrClosed
	default:
		var ce websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Reason == reasonReplaced:
			err = fmt.Errorf("%w: %w", ErrReplaced, err)
		case errors.Is(err, ErrBadFrame):
			c.ws.Close(websocket.StatusPolicyViolation, "bad frame from relay")
		default:
			err = fmt.Errorf("relay: connection ended: %w", err)
		}
		c.ws.CloseNow()
	}
	c.err = err
	close(c.done)
	close(c.events)
}

func (c *Client) readFrames() error {
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			return err
		}
		fs, err := decodeMessage(b, c.batch)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if err := c.handle(f); err != nil {
				return err
			}
		}
	}
}

// handle hands a frame from the relay to Events.
func (c *Client) handle(f *Frame) error {
	ev := Event{Type: f.Type, From: f.ID}
	switch f.Type {
	case FrameRecv:
		ev.Kind, ev.Payload = f.Kind, f.Payload
	case FramePresence:
		ev.Online = f.Online
	case FrameError:
		ev.Code, ev.Detail = f.Code, f.Detail
	default:
		return fmt.Errorf("%w: frame type %d from the relay", ErrBadFrame, f.Type)
	}
	select {
	case c.events <- ev:
		return nil
	case <-c.closing:
		return ErrClosed
	}
}

// ID returns the peer id the client is registered under.
func (c *Client) ID() identity.ID { return c.id }

// Send asks the relay to deliver payload (at most MaxPayload bytes) to the
// peer to. Delivery is not confirmed: if to is not connected, an error
// event {CodeOffline, to} follows. If ctx ends while the frame is being
// written, the connection is closed (a frame cut short cannot be taken
// back), as for any failed write.
func (c *Client) Send(ctx context.Context, to identity.ID, kind Kind, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes, at most %d", ErrBadFrame, len(payload), MaxPayload)
	}
	if kind != KindSignal && kind != KindFrame {
		return fmt.Errorf("%w: kind %d", ErrBadFrame, kind)
	}
	return c.write(ctx, &Frame{Type: FrameSend, ID: to, Kind: kind, Payload: payload})
}

// Watch asks the relay to tell the client when ids come and go: a
// presence event for each at once, then on every change. Watches add up;
// the relay bounds the total (an error event {CodeLimit} refuses a watch
// that would pass it).
func (c *Client) Watch(ctx context.Context, ids ...identity.ID) error {
	for len(ids) > 0 {
		n := min(len(ids), MaxWatch)
		if err := c.write(ctx, &Frame{Type: FrameWatch, IDs: ids[:n]}); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Events returns the frames the relay sends: recv, presence and error
// events. It is closed when the connection ends (see Err). Read it
// promptly: a client that falls behind stops reading its websocket, and
// the relay drops clients that do not keep up.
func (c *Client) Events() <-chan Event { return c.events }

// Err returns why the connection ended (ErrClosed after Close, an error
// wrapping ErrReplaced, or the websocket's error), or nil while it is up.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection (status 1000) and waits for the reader to
// end. Events already queued stay readable.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.ws.Close(websocket.StatusNormalClosure, "")
	})
	<-c.done
	return nil
}
