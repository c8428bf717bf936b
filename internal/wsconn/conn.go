//go:build !js

package wsconn

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// A Conn is a websocket connection. Reads go on one goroutine; writes and
// Close may come from any.
type Conn struct{ ws *websocket.Conn }

// Dial opens a websocket to url, reading messages of at most readLimit
// bytes and offering the subprotocols given. ctx bounds the dial only.
func Dial(ctx context.Context, url string, readLimit int64, protocols ...string) (*Conn, error) {
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protocols})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			return nil, &RefusedError{Status: resp.Status, Body: strings.TrimSpace(string(body))}
		}
		return nil, err
	}
	ws.SetReadLimit(readLimit)
	return &Conn{ws: ws}, nil
}

// Subprotocol is the subprotocol the server chose, or "".
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// Read reads the next message.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	typ, b, err := c.ws.Read(ctx)
	return MessageType(typ), b, err
}

// Write writes one message; if ctx ends meanwhile, the connection closes.
func (c *Conn) Write(ctx context.Context, typ MessageType, b []byte) error {
	return c.ws.Write(ctx, websocket.MessageType(typ), b)
}

// Close closes the connection with a close frame of code and reason.
func (c *Conn) Close(code StatusCode, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), reason)
}

// CloseNow closes the connection without a close frame.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// CloseStatus returns the status and reason of the close frame that ended
// the connection err comes from; ok is false if none did.
func CloseStatus(err error) (code StatusCode, reason string, ok bool) {
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		return 0, "", false
	}
	return StatusCode(ce.Code), ce.Reason, true
}
