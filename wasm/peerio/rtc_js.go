//go:build js && wasm

package peerio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
)

// canWaitInCallback: in the browser a data channel's messages queue in Go
// for the peer's event goroutine (jsPeer), and the browser keeps receiving
// meanwhile, so waiting would not slow the sender (Port.slowDown).
const canWaitInCallback = false

// newRTC returns a maker of the browser's RTCPeerConnections (with no ICE
// servers, as natively). The browser implements the data channel itself:
// the module links none of pion's stack.
func newRTC(*RTCConfig) newPeerFunc {
	return func() (rtcPeer, error) {
		ctor := js.Global().Get("RTCPeerConnection")
		if ctor.Type() != js.TypeFunction {
			return nil, errors.New("no RTCPeerConnection in this browser")
		}
		pc, err := jsutil.New(ctor)
		if err != nil {
			return nil, err
		}
		p := &jsPeer{pc: pc, wake: make(chan struct{}, 1), done: make(chan struct{})}
		go p.run()
		return p, nil
	}
}

// jsPeer is an rtcPeer over the browser's RTCPeerConnection. JS events
// never wait: a data channel's events queue and run, in order, on the
// peer's own goroutine (run), which Close ends.
type jsPeer struct {
	pc   js.Value      // immutable
	wake chan struct{} // run's: signalled when events are queued
	done chan struct{} // closed by Close

	mu     sync.Mutex
	events []func()     // guarded by mu: queued for run
	funcs  jsutil.Funcs // guarded by mu: every handler, released by Close
	unset  []js.Value   // guarded by mu: objects whose on* handlers Close clears
	names  [][]string   // guarded by mu: the handlers set on each of unset
	closed bool         // guarded by mu
}

func (p *jsPeer) Offer(ctx context.Context, ev channelEvents) (string, error) {
	dc, err := jsutil.Call(p.pc, "createDataChannel", "taskmessenger", map[string]any{"ordered": true})
	if err != nil {
		return "", err
	}
	p.attach(dc, ev)
	return p.describe(ctx, "createOffer")
}

func (p *jsPeer) Answer(ctx context.Context, offer string, ev channelEvents) (string, error) {
	p.on(p.pc, "datachannel", func(e js.Value) { p.attach(e.Get("channel"), ev) })
	if err := p.setRemote(ctx, "offer", offer); err != nil {
		return "", err
	}
	return p.describe(ctx, "createAnswer")
}

func (p *jsPeer) Accept(ctx context.Context, answer string) error {
	return p.setRemote(ctx, "answer", answer)
}

// Close closes the connection, clears and releases every handler (so no
// event comes after it), and ends the event goroutine.
func (p *jsPeer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for i, obj := range p.unset {
		for _, name := range p.names[i] {
			obj.Set("on"+name, js.Null())
		}
	}
	_, err := jsutil.Call(p.pc, "close")
	p.funcs.Release()
	p.unset, p.names, p.events = nil, nil, nil
	close(p.done)
	return err
}

func (p *jsPeer) setRemote(ctx context.Context, typ, sdp string) error {
	promise, err := jsutil.Call(p.pc, "setRemoteDescription", map[string]any{"type": typ, "sdp": sdp})
	if err == nil {
		_, err = jsutil.Await(ctx, promise)
	}
	return err
}

// describe creates this end's description with method (createOffer or
// createAnswer), sets it, and returns its SDP once every ICE candidate is
// gathered.
func (p *jsPeer) describe(ctx context.Context, method string) (string, error) {
	gathered := make(chan struct{})
	var once sync.Once
	complete := func() bool { return p.pc.Get("iceGatheringState").String() == "complete" }
	p.on(p.pc, "icegatheringstatechange", func(js.Value) {
		if complete() {
			once.Do(func() { close(gathered) })
		}
	})
	desc, err := p.await(ctx, method)
	if err != nil {
		return "", err
	}
	if _, err := p.await(ctx, "setLocalDescription", desc); err != nil {
		return "", err
	}
	if !complete() {
		select {
		case <-gathered:
		case <-ctx.Done():
			return "", fmt.Errorf("ICE gathering: %w", ctx.Err())
		}
	}
	return p.pc.Get("localDescription").Get("sdp").String(), nil
}

// await calls the connection's method and waits for the promise it returns.
func (p *jsPeer) await(ctx context.Context, method string, args ...any) (js.Value, error) {
	promise, err := jsutil.Call(p.pc, method, args...)
	if err != nil {
		return js.Undefined(), err
	}
	return jsutil.Await(ctx, promise)
}

// attach reports the events of the data channel dc to ev.
func (p *jsPeer) attach(dc js.Value, ev channelEvents) {
	dc.Set("binaryType", "arraybuffer")
	c := &jsDataChannel{dc: dc}
	p.on(dc, "open", func(js.Value) { p.queue(func() { ev.open(c) }) })
	p.on(dc, "close", func(js.Value) { p.queue(func() { ev.closed(c) }) })
	p.on(dc, "message", func(e js.Value) {
		b, err := jsutil.Bytes(e.Get("data"))
		if err != nil {
			return // a text message: the port sends none
		}
		p.queue(func() { ev.message(b) })
	})
}

// on sets obj's "on"+name handler to fn, which runs in the JS event and
// must not wait. After Close it does nothing.
func (p *jsPeer) on(obj js.Value, name string, fn func(js.Value)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	f := p.funcs.Add(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			fn(args[0])
		}
		return nil
	})
	obj.Set("on"+name, f)
	for i, o := range p.unset {
		if o.Equal(obj) {
			p.names[i] = append(p.names[i], name)
			return
		}
	}
	p.unset = append(p.unset, obj)
	p.names = append(p.names, []string{name})
}

// queue hands f to the event goroutine.
func (p *jsPeer) queue(f func()) {
	p.mu.Lock()
	p.events = append(p.events, f)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run runs the queued events in order until Close.
func (p *jsPeer) run() {
	for {
		select {
		case <-p.wake:
		case <-p.done:
			return
		}
		for {
			p.mu.Lock()
			events := p.events
			p.events = nil
			p.mu.Unlock()
			if len(events) == 0 {
				break
			}
			for _, f := range events {
				f()
			}
		}
	}
}

// jsDataChannel is a dataChannel over the browser's RTCDataChannel.
type jsDataChannel struct{ dc js.Value }

// Send sends b, or says why it cannot (the channel is not open, or its
// buffer is full).
func (c *jsDataChannel) Send(b []byte) error {
	if state := c.dc.Get("readyState").String(); state != "open" {
		return fmt.Errorf("data channel %s", state)
	}
	_, err := jsutil.Call(c.dc, "send", jsutil.Uint8Array(b))
	return err
}
