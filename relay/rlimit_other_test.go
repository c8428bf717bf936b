//go:build !unix

package relay

import "time"

func raiseFiles(n uint64) error { return nil }

// cpuTime returns 0: the benchmark's CPU split needs getrusage.
func cpuTime() time.Duration { return 0 }
