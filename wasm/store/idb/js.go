//go:build js && wasm

package idb

import (
	"errors"
	"syscall/js"

	"github.com/hack-pad/go-indexeddb/idb"

	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
)

// The JS glue go-indexeddb does not cover: raw calls, event listeners on
// requests and connections, bytes, errors.

// call calls v[method](args...), returning an exception as an error.
func call(v js.Value, method string, args ...any) (js.Value, error) {
	return catch(func() js.Value { return v.Call(method, args...) })
}

// catch runs fn, returning a JavaScript exception it throws as an error.
func catch(fn func() js.Value) (res js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			jsErr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = asError(jsErr.Value)
		}
	}()
	return fn(), nil
}

// listen calls fn with the event's name on each of the named events of
// target, until the returned function is called. fn runs in the browser's
// event dispatch and must not block.
func listen(target js.Value, fn func(event string), events ...string) (unlisten func()) {
	fns := make([]js.Func, len(events))
	for i, ev := range events {
		fns[i] = js.FuncOf(func(js.Value, []js.Value) any {
			fn(ev)
			return nil
		})
		target.Call("addEventListener", ev, fns[i])
	}
	return func() {
		for i, ev := range events {
			target.Call("removeEventListener", ev, fns[i])
			fns[i].Release()
		}
	}
}

// bytesJS copies b into a new Uint8Array, which IndexedDB takes as a binary
// key (ordered bytewise) or stores as a value.
func bytesJS(b []byte) js.Value { return jsutil.Uint8Array(b) }

// goBytes copies a Uint8Array (a value) or an ArrayBuffer (a binary key as
// IndexedDB returns it) into Go.
func goBytes(v js.Value) ([]byte, error) {
	b, err := jsutil.Bytes(v)
	if err != nil {
		return nil, errors.New("idb: stored value or key is not binary")
	}
	return b, nil
}

// asError converts a thrown value or a request's error (a DOMException) to
// an error with its name and message.
func asError(v js.Value) error {
	if v.IsNull() || v.IsUndefined() {
		return errors.New("unknown error")
	}
	return jsutil.AsError(v)
}

// domError turns a JS exception that go-indexeddb (through safejs) returns
// as a js.Error, whose message lacks the DOMException's name, into an error
// with the name and message. Other errors are returned as they are.
func domError(err error) error {
	var jsErr js.Error
	if errors.As(err, &jsErr) {
		return asError(jsErr.Value)
	}
	return err
}

// isDOM reports whether err is a DOMException called name, from
// go-indexeddb or from our own calls.
func isDOM(err error, name string) bool {
	if errors.Is(err, idb.NewDOMException(name)) {
		return true
	}
	var jsErr *jsutil.Error
	return errors.As(err, &jsErr) && jsErr.Name == name
}
