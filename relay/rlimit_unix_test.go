//go:build unix

package relay

import (
	"fmt"
	"syscall"
	"time"
)

// raiseFiles makes sure the process may open n files, raising its soft
// limit (and, if allowed, its hard limit).
func raiseFiles(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	lim.Cur = max(lim.Cur, min(n, lim.Max))
	if lim.Max < n {
		lim.Cur, lim.Max = n, n // works only with CAP_SYS_RESOURCE
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE to %d: %w", n, err)
	}
	return nil
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
