//go:build js && wasm

package jsutil

import (
	"sync"
	"syscall/js"
	"testing"
	"time"
)

// A goroutine that never blocks but calls Yield lets a browser task run
// (runtime.Gosched would not: the timer below would never fire).
func TestYieldRunsBrowserTasks(t *testing.T) {
	fired := make(chan struct{})
	f := js.FuncOf(func(js.Value, []js.Value) any { close(fired); return nil })
	defer f.Release()
	js.Global().Call("setTimeout", f, 0)
	yields := 0
	for start := time.Now(); ; yields++ {
		select {
		case <-fired:
			t.Logf("the timer fired after %d yields", yields)
			return
		default:
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the timer did not fire in %d yields", yields)
		}
		Yield()
	}
}

// Goroutines yielding at once all return.
func TestYieldConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				Yield()
			}
		}()
	}
	wg.Wait()
}
