//go:build js && wasm

package jsapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// jsIO is the JS face of a peer's IO: { id, alias, on(handler), at(id, {
// timeout }), close() }. With a db (the vault's), every port also runs a
// replication session on its sync channel, so books flow without the page
// passing lengths by hand; the page's port is the app channel.
type jsIO struct {
	io    *peerio.IO
	db    *journal.DB // may be nil
	funcs jsutil.Funcs

	mu      sync.Mutex
	handler js.Value
	muxes   map[port.Port]*portMux
}

// defaultRelay is the relay of the page's own origin.
func defaultRelay() string {
	loc := js.Global().Get("location")
	scheme := "ws:"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss:"
	}
	return scheme + "//" + loc.Get("host").String() + "/relay"
}

// openIO is tm.IO(alias, seed, { relay }).
func (a *API) openIO(args []js.Value) (any, error) {
	if len(args) < 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeString {
		return nil, errors.New("IO(alias, seed, opts): alias and seed must be strings")
	}
	seed, err := identity.ParseSeed(args[1].String())
	if err != nil {
		return nil, fmt.Errorf("IO: %w", err)
	}
	opts := option(args, 2)
	relayURL, err := stringOpt(opts, "relay", defaultRelay())
	if err != nil {
		return nil, fmt.Errorf("IO: %w", err)
	}
	return newJSIO(args[0].String(), seed, relayURL, opts.Get("webrtc").Truthy(), nil).value(), nil
}

// newJSIO makes the IO of a seed. With webrtc, ports move to a data
// channel when one opens (off by default: a browser offers its network
// addresses as ICE candidates).
func newJSIO(alias string, seed identity.Seed, relayURL string, webrtc bool, db *journal.DB) *jsIO {
	cfg := peerio.Config{Relay: relayURL, Logger: logs.Default()}
	if webrtc {
		cfg.WebRTC = &peerio.RTCConfig{}
	}
	io := peerio.New(alias, seed, cfg)
	return &jsIO{io: io, db: db, muxes: make(map[port.Port]*portMux)}
}

func (j *jsIO) value() js.Value {
	o := js.Global().Get("Object").New()
	o.Set("id", j.io.ID().String())
	o.Set("alias", j.io.Alias())
	o.Set("on", j.funcs.Async(j.on))
	o.Set("at", j.funcs.Async(j.at))
	o.Set("close", j.funcs.Async(func([]js.Value) (any, error) { return nil, j.io.Close() }))
	return o
}

// on is io.on(handler): online with handler(port) for every new port;
// io.on(null) goes offline.
func (j *jsIO) on(args []js.Value) (any, error) {
	if len(args) < 1 || args[0].IsNull() || args[0].IsUndefined() {
		return nil, j.io.On(context.Background(), nil)
	}
	if args[0].Type() != js.TypeFunction {
		return nil, errors.New("on(handler): handler must be a function, or null to go offline")
	}
	j.mu.Lock()
	j.handler = args[0]
	j.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return nil, j.io.On(ctx, j.accept)
}

// at is io.at(id, { timeout }): a port to the peer, waiting while it is offline.
func (j *jsIO) at(args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New("at(id): id must be a peer id string")
	}
	id, err := identity.ParseID(args[0].String())
	if err != nil {
		return nil, fmt.Errorf("at(id): %w", err)
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if t := option(args, 1).Get("timeout"); t.Type() == js.TypeNumber && t.Float() > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t.Float()*float64(time.Millisecond)))
	}
	defer cancel()
	p, err := j.io.At(ctx, id)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("at(%s): timed out: the peer did not come online", id.Short())
	}
	if err != nil {
		return nil, err
	}
	return j.portValue(p), nil
}

// accept runs for every new port: replication on its sync channel (with a
// db), then the page's handler with the app channel.
func (j *jsIO) accept(p port.Port) {
	j.mu.Lock()
	h := j.handler
	j.mu.Unlock()
	if h.Type() != js.TypeFunction {
		return
	}
	callHook(h, j.portValue(p))
}

// portValue returns the page's port for p: { by, to, postMessage(x),
// onmessage, onclose, close() }, the same object for the same port.
func (j *jsIO) portValue(p port.Port) js.Value {
	j.mu.Lock()
	defer j.mu.Unlock()
	if m, ok := j.muxes[p]; ok {
		return m.obj
	}
	m := &portMux{}
	app := p
	if j.db != nil {
		m.mux = port.NewMux(p, port.ChannelSync, port.ChannelApp)
		app = m.mux.Channel(port.ChannelApp)
		go func() {
			err := replication.NewSession(j.db, m.mux.Channel(port.ChannelSync), replication.Config{}).Run(context.Background())
			if err != nil {
				println("taskmessenger: replication with", p.Remote().Short(), "ended:", err.Error())
			}
		}()
	}
	o := js.Global().Get("Object").New()
	o.Set("by", p.Local().String())
	o.Set("to", p.Remote().String())
	o.Set("onmessage", js.Null())
	o.Set("onclose", js.Null())
	o.Set("postMessage", j.funcs.Async(func(args []js.Value) (any, error) {
		if len(args) < 1 {
			return nil, errors.New("postMessage(x): a value is required")
		}
		b, err := jsutil.Stringify(args[0])
		if err != nil {
			return nil, fmt.Errorf("postMessage(x): %w", err)
		}
		return nil, app.Send(context.Background(), b)
	}))
	o.Set("close", j.funcs.Async(func([]js.Value) (any, error) { return nil, p.Close() }))
	o.Set("transport", j.funcs.Add(func(js.Value, []js.Value) any {
		if pp, ok := p.(*peerio.Port); ok {
			return pp.Transport()
		}
		return "memory"
	}))
	m.obj = o
	j.muxes[p] = m
	go j.pump(p, app, o)
	return o
}

type portMux struct {
	mux *port.Mux
	obj js.Value
}

// pump delivers the app channel's messages to port.onmessage, then calls
// port.onclose.
func (j *jsIO) pump(p, app port.Port, o js.Value) {
	defer func() {
		j.mu.Lock()
		delete(j.muxes, p)
		j.mu.Unlock()
		if fn := o.Get("onclose"); fn.Type() == js.TypeFunction {
			callHook(fn, js.Undefined())
		}
	}()
	for {
		msg, err := app.Recv(context.Background())
		if err != nil {
			return
		}
		v, err := jsutil.Parse(msg)
		if err != nil {
			continue
		}
		if fn := o.Get("onmessage"); fn.Type() == js.TypeFunction {
			ev := js.Global().Get("Object").New()
			ev.Set("data", v)
			ev.Set("target", o)
			callHook(fn, ev)
		}
	}
}
