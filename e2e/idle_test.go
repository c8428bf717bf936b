package e2e

import "testing"

// TestIdleCollects: tm.idle() makes the module's first garbage collection
// (a fresh module has made none: its heap is below the collector's first
// goal), and the messenger's page calls it once its first page is shown,
// in every tab of a profile and again after a reload.
func TestIdleCollects(t *testing.T) {
	b := newBrowser(t)
	bare := b.open(t, pageURL(testPage, ""))
	bare.ready()
	var n int
	bare.run(`const tm = await window.taskmessenger.ready; return tm.idle()`, &n)
	if n < 1 {
		t.Errorf("tm.idle() = %d collections, want at least 1", n)
	}

	page := openMessenger(t, b, "idle", "")
	page.poll(`document.body.dataset.idle === '1'`)
	page.run(`const tm = await window.taskmessenger.ready; return tm.idle()`, &n)
	if n < 1 {
		t.Errorf("the page's module made %d collections once idle, want at least 1", n)
	}

	// A second tab of the profile (one browser, one storage: it follows
	// the first) is idle on its own, and so is the first once reloaded.
	second := openMessenger(t, b, "idle", "")
	second.poll(`document.body.dataset.idle === '1'`)
	page.navigate(pageURL("index.html", "profile=idle"))
	page.poll(`document.body.dataset.idle === '1'`)
	for _, tb := range []*tab{second, page} {
		tb.run(`const tm = await window.taskmessenger.ready; return tm.idle()`, &n)
		if n < 1 {
			t.Errorf("%s: %d collections once idle, want at least 1", tb.name, n)
		}
	}
}
