package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// axeScript is axe-core (tools/axe, installed by `make e2e` with npm ci).
const axeScript = "tools/axe/node_modules/axe-core/axe.min.js"

// axeViolation is what axe reports of one rule the page breaks.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkA11y runs axe-core on the page as it is and fails the test on any
// violation (WCAG 2.x A and AA, and axe's best practices), each said with
// the elements that break it.
func (t *tab) checkA11y(view string) {
	t.tb.Helper()
	src, err := os.ReadFile(filepath.Join(site.root, axeScript))
	if err != nil {
		t.tb.Fatalf("e2e: no axe-core (%v): run `npm ci --prefix tools/axe` (make e2e does)", err)
	}
	var loaded bool
	t.run(string(src)+"\n;return typeof axe === 'object'", &loaded)
	if !loaded {
		t.tb.Fatal("e2e: axe-core did not load")
	}
	var raw json.RawMessage
	t.run(`const r = await axe.run(document, { resultTypes: ['violations'] }); return r.violations`, &raw)
	var vs []axeViolation
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.tb.Fatal(err)
	}
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			b, _ := json.Marshal(n.Target)
			where = append(where, string(b)+": "+strings.ReplaceAll(n.Summary, "\n", " "))
		}
		t.tb.Errorf("%s: accessibility: %s (%s): %s\n  %s", view, v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
	}
}

// press sends one key to the page, as the keyboard does.
func (t *tab) press(key string) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(key)); err != nil {
		t.tb.Fatalf("e2e: %s: pressing %q: %v", t.name, key, err)
	}
}

// TestA11y: axe-core finds nothing wrong with the main views of the page:
// a new profile, a task open with messages (a reply among them), the
// devices panel, and the notice of a new version; the task tree works by
// keyboard, its focus visible.
func TestA11y(t *testing.T) {
	b := newBrowser(t)
	tab := openMessenger(t, b, "a11y", "")
	tab.checkA11y("empty profile")
	t.Logf("screenshot: %s", tab.screenshot("a11y-empty.png"))

	tab.typeText("#new-title", "Accessible <b>task</b>", true)
	tab.poll(`document.getElementById('room-title').textContent === 'Accessible <b>task</b>'`)
	tab.typeText("#text", "first message", true)
	tab.waitText("first message")
	tab.run(`document.querySelector('#timeline li.msg:not(.system) button.act').click(); return true`, nil)
	tab.typeText("#text", "a reply", true)
	tab.waitText("a reply")
	tab.checkA11y("task with messages")
	t.Logf("screenshot: %s", tab.screenshot("a11y-task.png"))

	// The tree by keyboard: arrows move between tasks, close and open
	// subtasks; Enter selects; the focus is always visible.
	var first string
	tab.run(`return document.querySelector('.pick[aria-current="true"]').dataset.task`, &first)
	tab.run(script(`await window.tmApp.createTask({ title: 'Sub', parent: {{id}} }); return true`, map[string]any{"id": first}), nil)
	tab.typeText("#new-title", "Second", true)
	tab.poll(`document.getElementById('room-title').textContent === 'Second' && document.querySelectorAll('#tree .pick').length === 3`)
	tab.run(script(`document.querySelector('.pick[data-task=' + JSON.stringify({{id}}) + ']').focus(); return true`, map[string]any{"id": first}), nil)
	focused := func(text string) {
		t.Helper()
		tab.poll(script(`document.activeElement?.classList.contains('pick') && document.activeElement.firstChild.textContent === {{text}} &&
  getComputedStyle(document.activeElement).outlineStyle !== 'none'`, map[string]any{"text": text}))
	}
	tab.press(kb.ArrowDown)
	focused("Sub")
	tab.press(kb.ArrowLeft) // Sub has no subtasks: to its parent
	focused("Accessible <b>task</b>")
	tab.press(kb.ArrowLeft) // closes it
	tab.poll(`document.querySelector('#tree > li[role=treeitem]').getAttribute('aria-expanded') === 'false'`)
	focused("Accessible <b>task</b>")
	tab.press(kb.ArrowDown)
	focused("Second")
	tab.press(kb.ArrowUp)
	tab.press(kb.ArrowRight) // opens it again
	tab.poll(`document.querySelector('#tree > li[role=treeitem]').getAttribute('aria-expanded') === 'true'`)
	tab.press(kb.Enter)
	tab.poll(`document.getElementById('room-title').textContent === 'Accessible <b>task</b>'`)

	tab.click("#show-devices")
	tab.poll(`!document.getElementById('devices').hidden && document.querySelector('#device-list li') !== null`)
	tab.run(`document.getElementById('update-text').textContent = 'A new version of task-messenger is ready.'; document.getElementById('update').hidden = false; return true`, nil)
	tab.checkA11y("devices panel and a new version")
	t.Logf("screenshot: %s", tab.screenshot("a11y-devices.png"))
}
