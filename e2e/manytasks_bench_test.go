package e2e

import "testing"

// BenchmarkOpen10kTasksPage: the page on a profile of 10,000 tasks (made
// with room.CreateTasks, imported as a backup): ms from the module being
// ready to the tree shown with a task's room and its composer focused.
func BenchmarkOpen10kTasksPage(b *testing.B) {
	const n = 10000
	backupJSON, ids := manyTasksBackup(b, n)
	br := newBrowser(b)
	tab := manyTasksTab(b, br, "many-bench", backupJSON)
	var total float64
	for i := range b.N {
		ms := openTimed(b, tab, "many-bench", ids[(i*997)%n])
		total += ms
		b.Logf("open %d: %.0f ms", i, ms)
	}
	b.ReportMetric(total/float64(b.N), "ms-ready-to-typing")
}
