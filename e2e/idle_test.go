package e2e

import "testing"

// TestIdleCollects: tm.idle() makes the module's first garbage collection
// (a fresh module has made none: its heap is below the collector's first
// goal), and the messenger's page calls it once its first page is shown.
func TestIdleCollects(t *testing.T) {
	b := newBrowser(t)
	tab := b.open(t, pageURL(testPage, ""))
	tab.ready()
	var n int
	tab.run(`const tm = await window.taskmessenger.ready; return tm.idle()`, &n)
	if n < 1 {
		t.Errorf("tm.idle() = %d collections, want at least 1", n)
	}

	page := openMessenger(t, b, "idle", "")
	page.poll(`document.body.dataset.idle === '1'`)
	page.run(`const tm = await window.taskmessenger.ready; return tm.idle()`, &n)
	if n < 1 {
		t.Errorf("the page's module made %d collections once idle, want at least 1", n)
	}
}
