package e2e

import "testing"

// BenchmarkPageReady loads the page in a fresh tab b.N times and reports
// the mean of window.taskmessenger.readyMs (load to ready: fetch, compile
// and start of the module) and the size of the module, plain and gzipped.
func BenchmarkPageReady(b *testing.B) {
	br := newBrowser(b)
	var total float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tab := br.open(b, pageURL(testPage, ""))
		total += tab.ready()
		tab.close()
	}
	b.StopTimer()
	b.ReportMetric(total/float64(b.N), "ready-ms")
	b.ReportMetric(float64(site.wasmBytes), "wasm-bytes")
	b.ReportMetric(float64(site.gzipBytes), "wasm-gzip-bytes")
}
