// Package cputime reads the CPU time the process has used, for benchmarks
// that compare two variants on a machine shared with other work: CPU time
// leaves out the time spent waiting for a core, which wall time does not.
package cputime

import "time"

// Used returns the user and system CPU time of the process so far, and
// whether this platform tells it.
func Used() (time.Duration, bool) { return used() }
