// Package yield lets long work give way to the platform's own tasks. In a
// browser the module has one thread, and a goroutine that does not block
// holds back every JavaScript task (a websocket's messages, IndexedDB's
// answers, timers): runtime.Gosched runs other goroutines, never those.
// The browser's entry point sets the browser's yield (jsutil.Yield);
// elsewhere Now is runtime.Gosched.
package yield

import (
	"runtime"
	"sync/atomic"
)

var fn atomic.Pointer[func()]

// Set makes Now call f; nil restores runtime.Gosched.
func Set(f func()) {
	if f == nil {
		fn.Store(nil)
		return
	}
	fn.Store(&f)
}

// Now lets other work run before the caller goes on: the platform's tasks
// waiting for the thread (after Set), or else the goroutines ready to run.
func Now() {
	if f := fn.Load(); f != nil {
		(*f)()
		return
	}
	runtime.Gosched()
}
