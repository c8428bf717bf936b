//go:build js && wasm

package wsconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
)

// A Conn is the browser's WebSocket. Its handlers only queue: they never
// wait. Reads go on one goroutine; writes and Close may come from any.
type Conn struct {
	ws        js.Value      // immutable
	readLimit int           // immutable
	wake      chan struct{} // signalled when a message is queued or the connection ends

	mu     sync.Mutex
	funcs  []js.Func // guarded by mu: the handlers, released when the connection ends
	msgs   []message // guarded by mu: received, not yet read
	opened bool      // guarded by mu
	err    error     // guarded by mu: why the connection ended; nil while open
}

type message struct {
	typ MessageType
	b   []byte
}

// A closeError is the close frame that ended a connection.
type closeError struct {
	code   StatusCode
	reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("websocket closed: status %d, reason %q", e.code, e.reason)
}

// errClosed is the error of a connection this end closed.
var errClosed = errors.New("websocket: closed")

// Dial opens a websocket to url, reading messages of at most readLimit
// bytes and offering the subprotocols given. ctx bounds the dial only.
func Dial(ctx context.Context, url string, readLimit int64, protocols ...string) (*Conn, error) {
	offer := make([]any, len(protocols))
	for i, p := range protocols {
		offer[i] = p
	}
	ws, err := try(func() js.Value { return js.Global().Get("WebSocket").New(url, offer) })
	if err != nil {
		return nil, err
	}
	ws.Set("binaryType", "arraybuffer")
	c := &Conn{ws: ws, readLimit: int(readLimit), wake: make(chan struct{}, 1)}
	c.on("open", func(js.Value) { c.update(func() { c.opened = true }) })
	c.on("message", c.onMessage)
	c.on("close", func(e js.Value) {
		c.end(&closeError{code: StatusCode(e.Get("code").Int()), reason: e.Get("reason").String()})
	})
	for {
		c.mu.Lock()
		opened, err := c.opened, c.err
		c.mu.Unlock()
		switch {
		case err != nil:
			c.release()
			return nil, fmt.Errorf("websocket: dial %s: %w", url, err)
		case opened:
			return c, nil
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			c.CloseNow()
			return nil, ctx.Err()
		}
	}
}

// Subprotocol is the subprotocol the server chose, or "".
func (c *Conn) Subprotocol() string { return c.ws.Get("protocol").String() }

// on sets the WebSocket's "on"+name handler.
func (c *Conn) on(name string, fn func(js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(args[0])
		return nil
	})
	c.mu.Lock()
	c.funcs = append(c.funcs, f)
	c.mu.Unlock()
	c.ws.Set("on"+name, f)
}

func (c *Conn) onMessage(e js.Value) {
	data := e.Get("data")
	var m message
	if data.Type() == js.TypeString {
		m = message{typ: Text, b: []byte(data.String())}
	} else {
		a := js.Global().Get("Uint8Array").New(data)
		m = message{typ: Binary, b: make([]byte, a.Get("length").Int())}
		js.CopyBytesToGo(m.b, a)
	}
	if len(m.b) > c.readLimit {
		c.Close(StatusMessageTooBig, "message too big")
		c.end(fmt.Errorf("websocket: message of %d bytes, at most %d", len(m.b), c.readLimit))
		return
	}
	c.update(func() { c.msgs = append(c.msgs, m) })
}

// update changes the state under mu and wakes the reader.
func (c *Conn) update(f func()) {
	c.mu.Lock()
	f()
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// end records why the connection ended (the first reason stays) and
// clears the handlers.
func (c *Conn) end(err error) {
	c.update(func() {
		if c.err == nil {
			c.err = err
		}
	})
	c.release()
}

func (c *Conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range []string{"open", "message", "close"} {
		c.ws.Set("on"+name, js.Null())
	}
	for _, f := range c.funcs {
		f.Release()
	}
	c.funcs = nil
}

// Read reads the next message; those received before the connection ended
// come first.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	for {
		c.mu.Lock()
		var m message
		ok := len(c.msgs) > 0
		if ok {
			m = c.msgs[0]
			c.msgs = c.msgs[1:]
		}
		err := c.err
		c.mu.Unlock()
		switch {
		case ok:
			return m.typ, m.b, nil
		case err != nil:
			return 0, nil, err
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// Write sends one message (the browser buffers it: it never waits).
func (c *Conn) Write(ctx context.Context, typ MessageType, b []byte) error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var v any = string(b)
	if typ == Binary {
		a := js.Global().Get("Uint8Array").New(len(b))
		js.CopyBytesToJS(a, b)
		v = a
	}
	_, err = try(func() js.Value { return c.ws.Call("send", v) })
	return err
}

// Close closes the connection with code and reason (with no code if a
// page may not send it). Reads still queued stay readable.
func (c *Conn) Close(code StatusCode, reason string) error {
	var err error
	if code == StatusNormalClosure || code >= 3000 && code <= 4999 {
		_, err = try(func() js.Value { return c.ws.Call("close", int(code), reason) })
	}
	if err != nil || code != StatusNormalClosure && (code < 3000 || code > 4999) {
		_, err = try(func() js.Value { return c.ws.Call("close") })
	}
	c.end(errClosed)
	return err
}

// CloseNow closes the connection.
func (c *Conn) CloseNow() error {
	_, err := try(func() js.Value { return c.ws.Call("close") })
	c.end(errClosed)
	return err
}

// CloseStatus returns the status and reason of the close frame that ended
// the connection err comes from; ok is false if none did.
func CloseStatus(err error) (code StatusCode, reason string, ok bool) {
	var ce *closeError
	if !errors.As(err, &ce) {
		return 0, "", false
	}
	return ce.code, ce.reason, true
}

// try runs f, returning what JavaScript throws as an error.
func try(f func() js.Value) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = errors.New("websocket: " + e.Value.Get("message").String())
		}
	}()
	return f(), nil
}
