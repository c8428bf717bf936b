package e2e

import (
	"os"
	"testing"
)

// TestDebugPage opens static/debug.html on a profile, clicks Add and sees
// the books table gain a row; the screenshot is artifacts/debug-page.png.
func TestDebugPage(t *testing.T) {
	b := newBrowser(t)
	tab := b.open(t, pageURL("debug.html", "profile=dbg"))
	tab.poll(`document.getElementById('status').textContent === 'profile dbg open'`)
	// The table is filled after the status: wait until it shows every book.
	var before int
	tab.run(`return (await profile.db.books()).length`, &before)
	tab.poll(script(`document.querySelectorAll('#books tr').length === {{n}}`, map[string]any{"n": before}))

	tab.click("#add")
	tab.poll(script(`document.querySelectorAll('#books tr').length === {{n}}`, map[string]any{"n": before + 1}))
	var got struct {
		Status string     `json:"status"`
		Error  bool       `json:"error"`
		Rows   [][]string `json:"rows"`
	}
	tab.run(`return {
  status: document.getElementById('status').textContent,
  error: document.getElementById('status').hasAttribute('data-error'),
  rows: [...document.querySelectorAll('#books tr')].map((tr) => [...tr.cells].map((td) => td.textContent)),
}`, &got)
	if got.Status != "added page 1 to notes" || got.Error {
		t.Errorf("status %q (error %v) after Add, want %q", got.Status, got.Error, "added page 1 to notes")
	}
	found := false
	for _, r := range got.Rows {
		if len(r) == 5 && r[0] == "notes" && r[2] == "2" && r[3] == "true" {
			found = true
		}
	}
	if !found {
		t.Errorf("books table %q has no row for notes, 2 pages, writable", got.Rows)
	}
	path := tab.screenshot("debug-page.png")
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("screenshot %s: %v", path, err)
	}
	t.Logf("screenshot: %s", path)
}
