//go:build js && wasm

package jsapi

import (
	"context"
	_ "embed"
	"errors"
	"sync"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/tabs"
)

// lockName and busName name a profile's Web Lock and BroadcastChannel.
func lockName(profile string) string { return "taskmessenger:writer:" + profile }
func busName(profile string) string  { return "taskmessenger:tabs:" + profile }

// webLock is a profile's exclusive Web Lock (navigator.locks), shared by
// every tab and page of the origin.
type webLock struct{ name string }

var requestLock = jsutil.Helper("requestLock", requestLockSrc)

//go:embed js/requestLock.js
var requestLockSrc string

// webHeld is a Web Lock this tab holds.
type webHeld struct {
	release js.Value // resolves the promise the lock is held by
	lost    chan struct{}
	once    sync.Once
}

func (h *webHeld) Lost() <-chan struct{} { return h.lost }
func (h *webHeld) Release()              { h.once.Do(func() { h.release.Invoke() }) }

// Acquire requests the lock and waits for it; ctx ending aborts the
// request (a lock granted meanwhile is given back).
func (l webLock) Acquire(ctx context.Context, steal bool) (tabs.Held, error) {
	mode := "wait"
	if steal {
		mode = "steal"
	}
	return l.request(ctx, mode)
}

// Try takes the lock if no tab holds it; nil if one does.
func (l webLock) Try(ctx context.Context) (tabs.Held, error) { return l.request(ctx, "try") }

func (l webLock) request(ctx context.Context, mode string) (tabs.Held, error) {
	grantedCh := make(chan js.Value, 1)
	endedCh := make(chan string, 1)
	var granted, ended js.Func
	granted = js.FuncOf(func(_ js.Value, args []js.Value) any {
		granted.Release()
		grantedCh <- args[0]
		return nil
	})
	ended = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ended.Release()
		why := ""
		if len(args) > 0 && args[0].Type() == js.TypeString {
			why = args[0].String()
		}
		endedCh <- why
		return nil
	})
	signal := js.Undefined()
	abort := js.Undefined()
	if mode == "wait" {
		abort = js.Global().Get("AbortController").New()
		signal = abort.Get("signal")
	}
	requestLock.Invoke(l.name, mode, signal, granted, ended)
	held := func(release js.Value) *webHeld {
		h := &webHeld{release: release, lost: make(chan struct{})}
		go func() {
			// The request ends when Release resolves it, or when another
			// tab steals the lock (AbortError): lost then.
			if why := <-endedCh; why != "" {
				close(h.lost)
			}
		}()
		return h
	}
	select {
	case r := <-grantedCh:
		if r.IsNull() {
			return nil, nil // mode try: held by another tab
		}
		return held(r), nil
	case why := <-endedCh:
		return nil, errors.New("lock " + l.name + ": " + why)
	case <-ctx.Done():
	}
	if !abort.IsUndefined() {
		abort.Call("abort")
	}
	select {
	case r := <-grantedCh: // granted before the abort: give it back
		if !r.IsNull() {
			held(r).Release()
		}
	case <-endedCh:
	}
	return nil, ctx.Err()
}

// channelBus is a profile's BroadcastChannel.
type channelBus struct {
	bc    js.Value
	onMsg js.Func

	mu     sync.Mutex
	msgs   chan []byte
	closed bool
}

// busDepth bounds the messages a tab has not yet taken; more are dropped
// (a call then waits for its context, a hello is sent again).
const busDepth = 4096

func newChannelBus(name string) *channelBus {
	b := &channelBus{bc: js.Global().Get("BroadcastChannel").New(name), msgs: make(chan []byte, busDepth)}
	b.onMsg = js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 {
			return nil
		}
		d := args[0].Get("data")
		if d.Type() != js.TypeString {
			return nil
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.closed {
			return nil
		}
		select {
		case b.msgs <- []byte(d.String()):
		default:
		}
		return nil
	})
	b.bc.Set("onmessage", b.onMsg)
	return b
}

func (b *channelBus) Post(msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("bus closed")
	}
	b.bc.Call("postMessage", string(msg))
	return nil
}

func (b *channelBus) Messages() <-chan []byte { return b.msgs }

func (b *channelBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.bc.Set("onmessage", js.Null())
	b.bc.Call("close")
	b.onMsg.Release()
	close(b.msgs)
	return nil
}

var pageTimer = jsutil.Helper("pageTimer", pageTimerSrc)

//go:embed js/pageTimer.js
var pageTimerSrc string

// pageAwake is tabs.Config.Awake for this page: a browser timer fired in
// the last 3 s (it fires every second; a frozen page's does not).
var pageAwake = sync.OnceValue(func() func() bool {
	timer := pageTimer.Invoke(1000)
	date := js.Global().Get("Date")
	return func() bool { return date.Call("now").Float()-timer.Get("at").Float() < 3000 }
})
