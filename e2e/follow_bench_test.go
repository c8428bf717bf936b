package e2e

import (
	"slices"
	"testing"
)

// addAll appends n pages to the debug page's book 'bench', one at a time,
// and returns how long each book.add took, in ms, sorted.
func (t *tab) addAll(n int) []float64 {
	t.tb.Helper()
	var ms []float64
	t.run(script(`const book = await profile.db.author('bench')
const ms = []
for (let i = 0; i < {{n}}; i++) {
  const t0 = performance.now()
  await book.add({ i })
  ms.push(performance.now() - t0)
}
return ms`, map[string]any{"n": n}), &ms)
	slices.Sort(ms)
	return ms
}

// BenchmarkFollowerDB: book.add on the debug page (tm.vault), 200 pages
// one at a time, when the page writes the profile itself and when it
// follows a messenger tab that writes it (each add carried out there):
// p50 and p99 of the call, in ms.
func BenchmarkFollowerDB(b *testing.B) {
	const n = 200
	for range b.N {
		br := newBrowser(b)
		alone := br.open(b, pageURL("debug.html", "profile=fdb-alone"))
		alone.poll(`document.getElementById('status').textContent === 'profile fdb-alone open'`)
		own := alone.addAll(n)

		openMessenger(b, br, "fdb-bob", "")
		dbg := br.open(b, pageURL("debug.html", "profile=fdb-bob"))
		dbg.poll(`document.getElementById('status').textContent.includes('through another tab')`)
		through := dbg.addAll(n)

		b.Logf("add, writing itself   ms: p50 %5.1f  p90 %5.1f  p99 %6.1f", quantile(own, 0.5), quantile(own, 0.9), quantile(own, 0.99))
		b.Logf("add, through the writer ms: p50 %5.1f  p90 %5.1f  p99 %6.1f", quantile(through, 0.5), quantile(through, 0.9), quantile(through, 0.99))
		b.ReportMetric(quantile(own, 0.5), "writer-add-p50-ms")
		b.ReportMetric(quantile(own, 0.99), "writer-add-p99-ms")
		b.ReportMetric(quantile(through, 0.5), "follower-add-p50-ms")
		b.ReportMetric(quantile(through, 0.99), "follower-add-p99-ms")
	}
}
