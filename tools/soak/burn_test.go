//go:build !js

package soak

import (
	"os/exec"
	"runtime"
	"sync"
	"testing"
)

// A burner makes the CPU busy as another program would: one spinning
// process per core while on.
type burner struct {
	mu   sync.Mutex
	cmds []*exec.Cmd // guarded by mu: the processes spinning
}

// newBurner returns a burner that stops when the test ends.
func newBurner(t testing.TB) *burner {
	b := new(burner)
	t.Cleanup(b.stop)
	return b
}

// start starts the spinning processes, if not already.
func (b *burner) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cmds) > 0 {
		return nil
	}
	for range runtime.NumCPU() {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return err
		}
		b.cmds = append(b.cmds, cmd)
	}
	return nil
}

// stop kills the processes it started, by PID, and waits for them.
func (b *burner) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cmd := range b.cmds {
		cmd.Process.Kill()
		cmd.Wait()
	}
	b.cmds = nil
}
