//go:build js && wasm

// Command taskmessenger is the browser module: it exposes the JS API on
// globalThis.__taskmessenger and tells the loader (static/taskmessenger.js)
// it is ready. Nothing else lives here.
package main

import (
	"context"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/internal/yield"
	"github.com/task-messenger/task-messenger/wasm/jsapi"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/idb"
)

// dbName is the IndexedDB database of a profile.
func dbName(profile string) string { return "taskmessenger-" + profile }

func main() {
	// The runtime and every package's init are done: the loader's step
	// "main" (window.taskmessenger.times).
	if tm := js.Global().Get("taskmessenger"); tm.Type() == js.TypeObject && tm.Get("mark").Type() == js.TypeFunction {
		tm.Call("mark", "main")
	}
	// Long work gives way to the page's tasks, not only to goroutines.
	yield.Set(jsutil.Yield)
	api := jsapi.New(jsapi.Storage{
		Open: func(ctx context.Context, profile string) (store.Store, error) {
			return idb.Open(ctx, dbName(profile))
		},
		Delete: func(ctx context.Context, profile string) error {
			return idb.Delete(ctx, dbName(profile))
		},
	})
	ready := js.Global().Get("__taskmessengerReady")
	if ready.Type() == js.TypeFunction {
		ready.Invoke(api.Value())
	} else {
		js.Global().Set("__taskmessenger", api.Value())
	}
	select {} // serve calls from JavaScript until the page goes away
}
