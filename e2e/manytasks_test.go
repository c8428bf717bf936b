package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
)

const manyPass = "many tasks passphrase"

// manyTasksBackup makes, natively, a profile of n tasks (n/10 top-level
// tasks of 9 subtasks each) with room.CreateTasks, the bulk path, and
// returns its backup sealed under manyPass (as the page's Export makes it)
// and the tasks' ids. The page imports it like any backup.
func manyTasksBackup(tb testing.TB, n int) (string, []room.TaskID) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seed, err := identity.NewSeed()
	if err != nil {
		tb.Fatal(err)
	}
	db, err := journal.Open(ctx, store.NewMemory(), seed, nil)
	if err != nil {
		tb.Fatal(err)
	}
	offline := func(ctx context.Context, _ identity.ID) (port.Port, error) { <-ctx.Done(); return nil, ctx.Err() }
	m, err := room.Open(ctx, room.Config{DB: db, Dial: offline})
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	tasks := make([]room.NewTask, n)
	for i := range tasks {
		if i%10 == 0 {
			tasks[i] = room.NewTask{Title: fmt.Sprintf("Task %05d", i), Parent: -1}
		} else {
			tasks[i] = room.NewTask{Title: fmt.Sprintf("Task %05d.%d", i-i%10, i%10), Parent: i - i%10}
		}
	}
	ids, err := m.CreateTasks(ctx, tasks)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := backup.Of(ctx, db, manyPass)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw), ids
}

// manyTasksTab opens a new profile in the page and imports the backup into
// it (the identity with it), through the JS API's import.
func manyTasksTab(tb testing.TB, br *browser, profile, backupJSON string) *tab {
	tb.Helper()
	tab := openMessenger(tb, br, profile, "")
	start := time.Now()
	if err := tab.try(script(`await window.tmApp.import({{backup}}, { passphrase: {{pass}} }); return true`,
		map[string]any{"backup": backupJSON, "pass": manyPass}), nil); err != nil {
		tb.Fatalf("import of the %d-byte backup: %v", len(backupJSON), err) // not the script: megabytes
	}
	tb.Logf("imported the %d-byte backup in %v", len(backupJSON), time.Since(start).Round(time.Millisecond))
	return tab
}

// openTimed loads the page on the profile and task, and returns the ms
// from the module being ready to the tree shown with the task's room and
// its composer focused (the page's firstPageMs − moduleAt).
func openTimed(tb testing.TB, tab *tab, profile string, task room.TaskID) float64 {
	tb.Helper()
	tab.navigate(pageURL("index.html", "profile="+profile+"&task="+task.String()))
	tab.poll(`document.body.dataset.ready === '1'`)
	var ms struct{ Total, Open float64 }
	tab.run(`const tm = window.taskmessenger; return { total: tm.firstPageMs - tm.moduleAt, open: tm.openMs }`, &ms)
	tb.Logf("module ready → typing: %.0f ms, of which tm.open %.0f ms", ms.Total, ms.Open)
	return ms.Total
}

// keys presses keys in the element that has the focus (the tree's rows
// are drawn again as it scrolls: a selector may name a node replaced).
func (t *tab) keys(keys string) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, evalTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
		t.tb.Fatalf("e2e: %s: keys %q: %v", t.name, keys, err)
	}
}

// TestManyTasks: a profile of 10,000 tasks opens on one of them, shows the
// tree with only the rows on screen in the DOM, and takes typing; the tree
// scrolls to its end and the keyboard moves through it.
func TestManyTasks(t *testing.T) {
	const n = 10000
	backupJSON, ids := manyTasksBackup(t, n)
	br := newBrowser(t)
	tab := manyTasksTab(t, br, "many", backupJSON)
	ms := openTimed(t, tab, "many", ids[5000])
	t.Logf("%d tasks: module ready → tree and room shown, composer focused: %.0f ms", n, ms)

	var tasksMs float64
	tab.run(`const t0 = performance.now(); await window.tmApp.tasks(); return performance.now() - t0`, &tasksMs)
	t.Logf("app.tasks() of %d tasks: %.0f ms", n, tasksMs)
	var rows struct{ Items, Pick int }
	tab.run(`return { items: document.querySelectorAll('#tree [role=treeitem]').length, pick: document.querySelectorAll('#tree .pick').length }`, &rows)
	if rows.Items == 0 || rows.Items > 200 {
		t.Fatalf("the tree has %d treeitems in the DOM for %d tasks, want a screenful", rows.Items, n)
	}
	var focused bool
	tab.run(`return document.activeElement === document.getElementById('text')`, &focused)
	if !focused {
		t.Error("the composer is not focused once the task is shown")
	}
	tab.typeText("#text", "typed at once", true)
	tab.waitText("typed at once")
	tab.poll(script(`document.querySelector('.pick[aria-current="true"]')?.dataset.task === {{id}}`, map[string]any{"id": ids[5000].String()}))

	// Scroll to the end: the last task is drawn, still a screenful of rows.
	tab.run(`const t = document.getElementById('tree'); t.scrollTop = t.scrollHeight; return true`, nil)
	tab.poll(script(`[...document.querySelectorAll('#tree .pick')].some((b) => b.dataset.task === {{id}})`, map[string]any{"id": ids[n-1].String()}))
	// Keyboard: focus a row, arrow down moves to the next one, Left on a
	// subtask goes to its parent, Enter opens it.
	tab.run(script(`const b = document.querySelector('#tree .pick[data-task=' + JSON.stringify({{id}}) + ']'); b.click(); b.focus(); return true`,
		map[string]any{"id": ids[n-2].String()}), nil)
	tab.poll(script(`document.getElementById('room-title').textContent === {{title}}`, map[string]any{"title": "Task 09990.8"}))
	tab.keys(kb.ArrowDown)
	tab.poll(script(`document.activeElement?.dataset?.task === {{id}}`, map[string]any{"id": ids[n-1].String()}))
	tab.keys(kb.ArrowLeft)
	tab.poll(script(`document.activeElement?.dataset?.task === {{id}}`, map[string]any{"id": ids[n-10].String()}))
	tab.keys(kb.Enter)
	tab.poll(`document.getElementById('room-title').textContent === 'Task 09990'`)
	// The task opened, its row current, and the composer takes the focus
	// (the tree redraws its rows meanwhile: the focus was left on the row
	// by the user, so it moves on to the composer all the same).
	tab.poll(script(`document.querySelector('.pick[aria-current="true"]')?.dataset.task === {{id}} && document.activeElement === document.getElementById('text')`,
		map[string]any{"id": ids[n-10].String()}))
	// Moving through the tree by keyboard keeps the focus there when the
	// tree redraws (a message's unread count, a scroll).
	tab.run(script(`document.querySelector('#tree .pick[data-task=' + JSON.stringify({{id}}) + ']').focus(); return true`, map[string]any{"id": ids[n-10].String()}), nil)
	tab.keys(kb.ArrowDown)
	tab.poll(script(`document.activeElement?.dataset?.task === {{id}}`, map[string]any{"id": ids[n-9].String()}))
	tab.run(`const t = document.getElementById('tree'); t.dispatchEvent(new Event('scroll')); return true`, nil)
	tab.poll(script(`document.activeElement?.dataset?.task === {{id}} && document.activeElement.isConnected`, map[string]any{"id": ids[n-9].String()}))
	t.Logf("screenshot: %s", tab.screenshot("manytasks.png"))
}

// TestUnread: a message arrives in a task that is not selected: its row
// shows the count, the tab title the total; opening it shows the "new"
// divider before the message, and the counts go away.
func TestUnread(t *testing.T) {
	br := newBrowser(t)
	bob := openMessenger(t, br, "unread-bob", "")
	ana := openMessenger(t, br, "unread-ana", "")
	var ids struct{ Roof, Garden string }
	bob.run(`const roof = await window.tmApp.createTask({ title: 'Roof' })
const garden = await window.tmApp.createTask({ title: 'Garden' })
return { roof: roof.id, garden: garden.id }`, &ids)
	for _, id := range []string{ids.Roof, ids.Garden} {
		var code string
		bob.run(script(`return await window.tmApp.invite({{id}})`, map[string]any{"id": id}), &code)
		ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	}
	pick := func(id string) string { return `.pick[data-task="` + id + `"]` }
	// Bob reads both (Ana's joins), and stays on the roof.
	bob.poll(`document.querySelectorAll('#tree .pick').length === 2`)
	bob.click(pick(ids.Garden))
	bob.poll(`document.querySelector('#timeline li[data-type="join"]') !== null`)
	bob.click(pick(ids.Roof))
	bob.poll(script(`!document.querySelector({{sel}} + ' .unread') && document.title === 'task-messenger'`, map[string]any{"sel": pick(ids.Garden)}))

	// Ana writes in the garden, through her page.
	ana.click(pick(ids.Garden))
	ana.poll(`document.getElementById('room-title').textContent === 'Garden'`)
	ana.typeText("#text", "the roses need water", true)
	ana.waitText("the roses need water")

	bob.poll(script(`document.querySelector({{sel}} + ' .unread')?.textContent.includes('1 unread')`, map[string]any{"sel": pick(ids.Garden)}))
	bob.poll(`document.title === '(1) task-messenger'`)
	var roofBadge bool
	bob.run(script(`return !!document.querySelector({{sel}} + ' .unread')`, map[string]any{"sel": pick(ids.Roof)}), &roofBadge)
	if roofBadge {
		t.Error("the selected task shows an unread count")
	}
	t.Logf("screenshot: %s", bob.screenshot("unread-badge.png"))

	bob.click(pick(ids.Garden))
	bob.poll(`document.querySelector('#timeline li.divider')?.nextElementSibling?.querySelector('p.text')?.textContent === 'the roses need water'`)
	bob.checkA11y("a task opened on its unread messages")
	bob.poll(script(`!document.querySelector({{sel}} + ' .unread') && document.title === 'task-messenger'`, map[string]any{"sel": pick(ids.Garden)}))
	t.Logf("screenshot: %s", bob.screenshot("unread-divider.png"))

	// Read state survives a reload: no count comes back.
	bob.reload()
	bob.poll(`document.body.dataset.ready === '1'`)
	bob.poll(`document.querySelectorAll('#tree .pick').length === 2`)
	var total string
	bob.run(`return document.title + ' ' + document.querySelectorAll('#tree .unread').length`, &total)
	if !strings.HasPrefix(total, "task-messenger 0") {
		t.Errorf("after a reload: title and badges %q, want none", total)
	}
}
