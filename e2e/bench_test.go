package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
)

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

// BenchmarkModuleSize reports the size of the module the page loads:
// plain, gzip -9 (as served to browsers without brotli) and brotli 11 (as
// `make wasm` precompresses it). It measures no time: it is the table's
// row for the module's size (tools/wasmsize says where the bytes go).
func BenchmarkModuleSize(b *testing.B) {
	br, err := brotliSize()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
	}
	b.ReportMetric(float64(site.wasmBytes), "wasm-bytes")
	b.ReportMetric(float64(site.gzipBytes), "wasm-gzip-bytes")
	b.ReportMetric(float64(br), "wasm-br-bytes")
}

// brotliSize is the size of the site's module under brotli 11, computed
// once (it takes a while).
var brotliSize = sync.OnceValues(func() (int, error) {
	raw, err := os.ReadFile(filepath.Join(site.dir, "taskmessenger.wasm"))
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	w := brotli.NewWriterLevel(&buf, brotli.BestCompression)
	if _, err := w.Write(raw); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return buf.Len(), nil
})
