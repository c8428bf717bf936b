// Package client is the relay's client: it dials the relay, proves its
// key's id, and sends and receives frames (package relay/wire). It builds
// natively and for js/wasm, where it links neither the server nor
// net/http (its websocket is package internal/wsconn's).
package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/internal/wsconn"
	"github.com/task-messenger/task-messenger/relay/hostname"
	"github.com/task-messenger/task-messenger/relay/wire"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Errors returned by the package (wire.ErrBadFrame for frames).
var (
	// ErrRefused means the relay did not let the client in: it refused
	// the upgrade (too many connections, shutting down) or closed the
	// connection during the handshake (bad id or signature, timeout). The
	// error says why.
	ErrRefused = errors.New("relay: refused")
	// ErrReplaced means a newer connection proved the same id and the
	// relay closed this one. Reconnecting would replace that one in turn.
	ErrReplaced = errors.New("relay: replaced by a newer connection")
	// ErrClosed means the client was closed with Close.
	ErrClosed = errors.New("relay: client closed")
	// ErrHost means a relay URL whose host is not a valid relay host
	// (hostname.ParseHost).
	ErrHost = errors.New("relay: bad host")
	// ErrURL means a relay node's address the page may not be sent to
	// (see CheckURL).
	ErrURL = errors.New("relay: relay URL must be ws:// or wss:// with a host, and no wildcard, quote, semicolon or space")
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
	Type    wire.FrameType // FrameRecv, FramePresence or FrameError
	From    identity.ID    // recv: the sender; presence: the peer; error: the peer concerned, if any
	Kind    wire.Kind      // recv
	Payload []byte         // recv
	Online  bool           // presence
	Code    string         // error: CodeOffline, CodeLimit, CodeBadFrame
	Detail  string         // error
}

// A Client is a connection to the relay, registered under its key's id.
// It builds natively and for js/wasm (package internal/wsconn); in the
// browser a refused upgrade (HTTP 503) cannot be told from a failed
// connection.
//
// Send and Watch may be called from any goroutine. One goroutine, started
// by Dial and ended by Close or by the end of the connection, reads frames
// and hands them to Events.
type Client struct {
	ws    *wsconn.Conn
	id    identity.ID // immutable
	batch bool        // immutable: the relay sends batches (wire.BatchProtocol)

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
	ws, err := wsconn.Dial(ctx, url, wire.MaxFrameSize+readSlack, wire.BatchProtocol)
	if err != nil {
		var re *wsconn.RefusedError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: %s: %s", ErrRefused, re.Status, re.Body)
		}
		return nil, fmt.Errorf("relay: dial: %w", err)
	}
	c := &Client{
		ws:      ws,
		id:      key.ID(),
		batch:   ws.Subprotocol() == wire.BatchProtocol,
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

// Batches reports whether the relay sends this client batches
// (wire.BatchProtocol agreed).
func (c *Client) Batches() bool { return c.batch }

// handshake answers the challenge, signing it for host (the relay dialled).
func (c *Client) handshake(ctx context.Context, key *identity.Key, host wire.Host) error {
	f, err := c.read(ctx)
	if err != nil {
		return err
	}
	if f.Type != wire.FrameChallenge {
		return fmt.Errorf("%w: expected challenge, got frame type %d", wire.ErrBadFrame, f.Type)
	}
	// From the hello on, the handshake is finished even if ctx ends: a
	// hello the relay reads after this client gave up would register it
	// then, replacing whatever connection of this id came meanwhile.
	// Finished, a connection that ctx gave up on closes in order.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), welcomeWait)
	defer cancel()
	hello := &wire.Frame{Type: wire.FrameHello, ID: c.id, Sig: key.Sign(wire.HelloMessage(host, f.Nonce)), Host: host}
	if err := c.write(hctx, hello); err != nil {
		return err
	}
	if f, err = c.read(hctx); err != nil {
		return err
	}
	if f.Type != wire.FrameWelcome {
		return fmt.Errorf("%w: expected welcome, got frame type %d", wire.ErrBadFrame, f.Type)
	}
	return ctx.Err()
}

// welcomeWait bounds the wait for the relay's welcome once the hello went.
const welcomeWait = 10 * time.Second

// writeWait bounds one write to the relay: past it the relay is taken as
// stuck, and the connection closes.
const writeWait = 10 * time.Second

// read reads one frame during the handshake.
func (c *Client) read(ctx context.Context) (*wire.Frame, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		if code, reason, ok := wsconn.CloseStatus(err); ok {
			return nil, fmt.Errorf("%w: %s (status %d)", ErrRefused, reason, code)
		}
		return nil, fmt.Errorf("relay: handshake: %w", err)
	}
	return wire.Decode(b)
}

// write sends f. ctx bounds only the wait before the write starts: a
// websocket write that its context cuts short closes the connection
// (coder/websocket), and with it every port of this client, so a port's
// session that gives up mid-write (its peer went offline) took down the
// others' too. Once started, a write gets writeWait.
func (c *Client) write(ctx context.Context, f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeWait)
	defer cancel()
	if err := c.ws.Write(wctx, wsconn.Binary, b); err != nil {
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
		_, reason, closed := wsconn.CloseStatus(err)
		switch {
		case closed && reason == wire.ReasonReplaced:
			err = fmt.Errorf("%w: %w", ErrReplaced, err)
		case errors.Is(err, wire.ErrBadFrame):
			c.ws.Close(wsconn.StatusPolicyViolation, "bad frame from relay")
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
		fs, err := wire.DecodeMessage(b, c.batch)
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
func (c *Client) handle(f *wire.Frame) error {
	ev := Event{Type: f.Type, From: f.ID}
	switch f.Type {
	case wire.FrameRecv:
		ev.Kind, ev.Payload = f.Kind, f.Payload
	case wire.FramePresence:
		ev.Online = f.Online
	case wire.FrameError:
		ev.Code, ev.Detail = f.Code, f.Detail
	default:
		return fmt.Errorf("%w: frame type %d from the relay", wire.ErrBadFrame, f.Type)
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
func (c *Client) Send(ctx context.Context, to identity.ID, kind wire.Kind, payload []byte) error {
	if len(payload) > wire.MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes, at most %d", wire.ErrBadFrame, len(payload), wire.MaxPayload)
	}
	if kind != wire.KindSignal && kind != wire.KindFrame {
		return fmt.Errorf("%w: kind %d", wire.ErrBadFrame, kind)
	}
	return c.write(ctx, &wire.Frame{Type: wire.FrameSend, ID: to, Kind: kind, Payload: payload})
}

// Watch asks the relay to tell the client when ids come and go: a
// presence event for each at once, then on every change. Watches add up;
// the relay bounds the total (an error event {CodeLimit} refuses a watch
// that would pass it).
func (c *Client) Watch(ctx context.Context, ids ...identity.ID) error {
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxWatch)
		if err := c.write(ctx, &wire.Frame{Type: wire.FrameWatch, IDs: ids[:n]}); err != nil {
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
		c.ws.Close(wsconn.StatusNormalClosure, "")
	})
	<-c.done
	return nil
}

// dialHost returns the host a client signs for the relay at rawURL: the
// URL's host, without the scheme's default port (as a browser sends it in
// Host).
func dialHost(rawURL string) (wire.Host, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return wire.Host{}, fmt.Errorf("%w: relay URL: %v", ErrHost, err)
	}
	h, err := hostname.ParseURLHost(u)
	if err != nil {
		return wire.Host{}, fmt.Errorf("%w %q: %v", ErrHost, clip(u.Host, 64), err)
	}
	return h, nil
}

// clip cuts s to at most n bytes for errors.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// CheckURL checks a relay node's address for PageConfig.Relays and
// PageCSPWith: a ws:// or wss:// URL with a host, no user, query or
// fragment, and nothing that could end or widen a CSP source (no
// wildcard, quote, semicolon, comma or space).
func CheckURL(raw string) error {
	bad := func() error { return fmt.Errorf("%w: %q", ErrURL, clip(raw, 64)) }
	if strings.ContainsAny(raw, "*'\"\\;, \t\r\n") {
		return bad()
	}
	for _, r := range raw {
		if r < 0x21 || r > 0x7e {
			return bad()
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Hostname() == "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return bad()
	}
	if s := strings.ToLower(u.Scheme); s != "ws" && s != "wss" {
		return bad()
	}
	return nil
}
