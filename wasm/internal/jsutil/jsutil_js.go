//go:build js && wasm

package jsutil

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall/js"
)

// Error is a JavaScript exception or rejection as a Go error.
type Error struct {
	Name, Message string
}

func (e *Error) Error() string {
	if e.Name == "" {
		return e.Message
	}
	return e.Name + ": " + e.Message
}

// AsError converts a JS value thrown or rejected to a Go error.
func AsError(v js.Value) error {
	if v.Type() == js.TypeObject {
		name, msg := v.Get("name"), v.Get("message")
		if msg.Type() == js.TypeString {
			e := &Error{Message: msg.String()}
			if name.Type() == js.TypeString {
				e.Name = name.String()
			}
			return e
		}
	}
	return &Error{Message: v.Call("toString").String()}
}

// NewError returns a JS Error carrying err's message; an error in err's
// chain with a JSName method names it (e.g. QuotaExceededError), so the
// page can tell it apart.
func NewError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	var named interface{ JSName() string }
	if errors.As(err, &named) {
		e.Set("name", named.JSName())
	}
	return e
}

// Await waits for a promise to settle, or for ctx to end.
func Await(ctx context.Context, promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	var onOK, onErr js.Func
	// The callbacks release themselves when the promise settles, so a ctx
	// that ends first leaves no released function behind for JS to call.
	release := func() { onOK.Release(); onErr.Release() }
	onOK = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		done <- result{v: arg(args)}
		return nil
	})
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		done <- result{err: AsError(arg(args))}
		return nil
	})
	promise.Call("then", onOK, onErr)
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}

func arg(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// settle runs fn and settles its promise with what it returns: resolved
// with the value (converted by js.ValueOf), or rejected with an Error. A
// panic in fn rejects the promise instead of killing the module.
func settle(resolve, reject js.Value, fn func() (any, error)) {
	v, err := safely(fn)
	if err != nil {
		reject.Invoke(NewError(err))
		return
	}
	resolve.Invoke(v)
}

func safely(fn func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
			println("taskmessenger: panic:", fmt.Sprint(r), "\n", string(debug.Stack()))
		}
	}()
	return fn()
}

// Funcs holds the JS functions made from Go so they can all be released.
type Funcs struct {
	fs []js.Func
}

// Add makes a JS function of fn and keeps it for Release. A panic in fn
// returns an Error object instead of killing the module.
func (f *Funcs) Add(fn func(this js.Value, args []js.Value) any) js.Func {
	jf := js.FuncOf(func(this js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				println("taskmessenger: panic:", fmt.Sprint(r), "\n", string(debug.Stack()))
				out = js.Global().Get("Error").New(fmt.Sprintf("internal error: %v", r))
			}
		}()
		return fn(this, args)
	})
	f.fs = append(f.fs, jf)
	return jf
}

// Async adds a method that returns a promise: fn runs on a goroutine.
// The promise is made in JavaScript (asyncMethod), which hands its
// resolve and reject to the Go function with the call's arguments: made
// from Go, its executor would call back into the module on every call.
func (f *Funcs) Async(fn func(args []js.Value) (any, error)) js.Value {
	jf := f.Add(func(_ js.Value, args []js.Value) any {
		if len(args) < 2 {
			return NewError(errors.New("internal error: an async method called without its promise"))
		}
		resolve, reject, args := args[0], args[1], args[2:]
		go settle(resolve, reject, func() (any, error) { return fn(args) })
		return nil
	})
	return asyncMethod.Invoke(jf.Value, false)
}

// AsyncJSON adds a method like Async's whose arguments fn gets as JSON
// (a JSON array, made at the call by asyncMethod), not as JS values each
// made a Go value and put in an array again to be made JSON; or, if they
// are not JSON values, the error that says why.
func (f *Funcs) AsyncJSON(fn func(args []byte, bad error) (any, error)) js.Value {
	jf := f.Add(func(_ js.Value, args []js.Value) any {
		if len(args) < 4 {
			return NewError(errors.New("internal error: an async method called without its promise"))
		}
		resolve, reject := args[0], args[1]
		var in []byte
		var err error
		if args[2].Type() == js.TypeString {
			in = []byte(args[2].String())
		} else {
			err = fmt.Errorf("not a JSON value: %s", args[3].String())
		}
		go settle(resolve, reject, func() (any, error) { return fn(in, err) })
		return nil
	})
	return asyncMethod.Invoke(jf.Value, true)
}

// asyncMethod makes the JS method of a Go function for Async and
// AsyncJSON.
var asyncMethod = Helper("asyncMethod", asyncMethodSrc)

//go:embed js/asyncMethod.js
var asyncMethodSrc string

// Release releases every function added.
func (f *Funcs) Release() {
	for _, jf := range f.fs {
		jf.Release()
	}
	f.fs = nil
}

// Bytes copies a Uint8Array (or ArrayBuffer) into Go.
func Bytes(v js.Value) ([]byte, error) {
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, errors.New("not a Uint8Array")
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

// Uint8Array copies b into a new Uint8Array.
func Uint8Array(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// Stringify returns JSON.stringify(v), or an error if v is not JSON (a
// function, undefined, a cycle, a BigInt).
func Stringify(v js.Value) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not a JSON value: %v", r)
		}
	}()
	s := js.Global().Get("JSON").Call("stringify", v)
	if s.Type() != js.TypeString {
		return nil, errors.New("not a JSON value")
	}
	return []byte(s.String()), nil
}

// Parse returns JSON.parse of b.
func Parse(b []byte) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not JSON: %v", r)
		}
	}()
	return js.Global().Get("JSON").Call("parse", string(b)), nil
}

// HelpersGlobal is the global object the page's helpers script
// (static/taskmessenger-helpers.js, loaded by static/taskmessenger.js
// before the module) defines, one function per helper.
const HelpersGlobal = "taskmessengerHelpers"

// Helper returns the JavaScript function name, whose source (a function
// expression, kept in a .js file of the package that uses it) is src. In
// the page it is the function the helpers script defined, so the page's
// Content-Security-Policy needs no 'unsafe-eval'; where no such script ran
// (the test runner's page) it is made from src.
func Helper(name, src string) js.Value {
	if h := js.Global().Get(HelpersGlobal); h.Truthy() {
		if fn := h.Get(name); fn.Type() == js.TypeFunction {
			return fn
		}
	}
	return js.Global().Call("eval", "("+src+")")
}

// Call calls v's method with args, returning what it throws as an error.
func Call(v js.Value, method string, args ...any) (js.Value, error) {
	return catch(func() js.Value { return v.Call(method, args...) })
}

// New calls new on the constructor ctor, returning what it throws as an
// error.
func New(ctor js.Value, args ...any) (js.Value, error) {
	return catch(func() js.Value { return ctor.New(args...) })
}

// catch runs f, turning a JavaScript exception into an error.
func catch(f func() js.Value) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = AsError(e.Value)
		}
	}()
	return f(), nil
}

// yielder is the channel Yield posts to: a message event is a task of its
// own, run after the tasks queued before it, and not held back like a
// timer (browsers wait at least 4 ms for a nested setTimeout).
var yielder struct {
	once    sync.Once
	port    js.Value      // set by once: the channel's sending end
	mu      sync.Mutex    // guards waiting
	waiting []chan<- bool // in the order posted: each message wakes the first
}

// Yield lets the browser run the tasks waiting for the page's thread (a
// websocket's messages, IndexedDB's answers, a timer) and returns after
// them. The module has one thread, and a goroutine that does not block
// keeps every JavaScript task waiting: runtime.Gosched runs other
// goroutines, never the browser's tasks. A long loop calls Yield now and
// then so that what arrives meanwhile is taken in. Without a
// MessageChannel it only lets other goroutines run.
func Yield() {
	y := &yielder
	y.once.Do(func() {
		mc := js.Global().Get("MessageChannel")
		if mc.Type() != js.TypeFunction {
			return
		}
		ch := mc.New()
		ch.Get("port1").Set("onmessage", js.FuncOf(func(js.Value, []js.Value) any {
			y.mu.Lock()
			w := y.waiting[0]
			y.waiting = y.waiting[1:]
			y.mu.Unlock()
			w <- true
			return nil
		}))
		y.port = ch.Get("port2")
	})
	if y.port.IsUndefined() {
		runtime.Gosched()
		return
	}
	w := make(chan bool, 1)
	y.mu.Lock()
	y.waiting = append(y.waiting, w)
	y.mu.Unlock()
	y.port.Call("postMessage", nil)
	<-w
}
