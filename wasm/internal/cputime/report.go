package cputime

import "testing"

// Start returns a function that reports the CPU time used since, per op
// and per unit (n units an op; unit names them), as b's metrics
// "cpu-µs/op" and "cpu-µs/"+unit. Nothing is reported where the platform
// does not tell the CPU time.
func Start(b *testing.B, n int, unit string) (stop func()) {
	t0, ok := Used()
	return func() {
		t1, _ := Used()
		if !ok || b.N == 0 {
			return
		}
		per := float64(t1-t0) / 1e3 / float64(b.N)
		b.ReportMetric(per, "cpu-µs/op")
		if n > 1 {
			b.ReportMetric(per/float64(n), "cpu-µs/"+unit)
		}
	}
}
