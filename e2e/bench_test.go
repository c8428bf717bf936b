package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
)

// pageReadyWarm is how many warm loads BenchmarkPageReady averages per
// browser.
const pageReadyWarm = 3

// loadTimes are window.taskmessenger.times of a load of the test page:
// each step's performance.now() (ms since navigation).
type loadTimes struct {
	Loader       float64 `json:"loader"`
	Scripts      float64 `json:"scripts"`
	Compiled     float64 `json:"compiled"`
	Instantiated float64 `json:"instantiated"`
	Main         float64 `json:"main"`
	Ready        float64 `json:"ready"`
	From         string  `json:"from"` // window.taskmessenger.moduleFrom: "cache" or "network"
}

// loadPage opens url in a new tab, waits until the module is
// ready, closes the tab and returns its steps.
func loadPage(b *testing.B, br *browser, url string) loadTimes {
	tab := br.open(b, url)
	tab.ready()
	var t loadTimes
	tab.run(`return { ...window.taskmessenger.times, from: window.taskmessenger.moduleFrom }`, &t)
	tab.close()
	return t
}

// BenchmarkPageReady: navigation → module ready (fetched, compiled,
// instantiated, the Go runtime and every package's init run, the API
// made). Each iteration starts a fresh browser: its first load is the
// cold one (empty caches: the module comes from the server); then
// pageReadyWarm loads in new tabs, as a returning user's, from the HTTP
// cache (the module's content-hashed name is cached for good: no
// request at all) with whatever compiled code the browser kept.
// ready-ms is the warm mean, cold-ready-ms the first load; the warm
// loads' steps: compile-ms (loader start → module compiled, the fetch
// included), init-ms (instantiated → Go's main: runtime and package
// inits), api-ms (main → ready).
func BenchmarkPageReady(b *testing.B) {
	var cold, warm, compile, init, api float64
	for range b.N {
		br := newBrowser(b)
		cold += loadPage(b, br, pageURL(testPage, "")).Ready
		for range pageReadyWarm {
			t := loadPage(b, br, pageURL(testPage, ""))
			warm += t.Ready
			compile += t.Compiled - t.Loader
			init += t.Main - t.Instantiated
			api += t.Ready - t.Main
		}
	}
	n, w := float64(b.N), float64(b.N*pageReadyWarm)
	b.ReportMetric(warm/w, "ready-ms")
	b.ReportMetric(cold/n, "cold-ready-ms")
	b.ReportMetric(compile/w, "compile-ms")
	b.ReportMetric(init/w, "init-ms")
	b.ReportMetric(api/w, "api-ms")
	b.ReportMetric(float64(site.wasmBytes), "wasm-bytes")
	b.ReportMetric(float64(site.gzipBytes), "wasm-gzip-bytes")
}

// BenchmarkPageReadyApp is BenchmarkPageReady for the messenger's own
// page as a returning user opens it: index.html with its service worker
// active (the shell kept at the first visit), each warm load in a new
// tab. The loader then reads the module from the worker's copy in Cache
// Storage (taskmessenger.js, kept); from-cache-% is the share of warm
// loads that did.
func BenchmarkPageReadyApp(b *testing.B) {
	var warm, compile, init float64
	var fromCache int
	page := pageURL("index.html", "profile=pageready")
	for range b.N {
		br := newBrowser(b)
		first := br.open(b, page)
		first.ready()
		first.waitWorker()
		first.close()
		for range pageReadyWarm {
			t := loadPage(b, br, page)
			warm += t.Ready
			compile += t.Compiled - t.Loader
			init += t.Main - t.Instantiated
			if t.From == "cache" {
				fromCache++
			}
		}
	}
	w := float64(b.N * pageReadyWarm)
	b.ReportMetric(warm/w, "ready-ms")
	b.ReportMetric(compile/w, "compile-ms")
	b.ReportMetric(init/w, "init-ms")
	b.ReportMetric(100*float64(fromCache)/w, "from-cache-%")
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
