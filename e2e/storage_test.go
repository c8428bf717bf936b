package e2e

import (
	"testing"
)

// TestStoragePage: storage the user controls, through the page. Ana's
// page says whether the browser keeps her data and asks it with "Keep my
// data"; the Storage panel shows what each task holds; "Delete my copy"
// of one task removes it from the tree and the panel and frees its bytes
// (app.usage before and after), the other task untouched; "Leave" on the
// other tells Bob, whose page shows that Ana left.
func TestStoragePage(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "storage-bob", "")
	ana := openMessenger(t, b, "storage-ana", "")
	var anaID string
	ana.run(`return window.tmApp.id`, &anaID)

	// Persistence: the note and its button agree with the browser's word.
	ana.poll(`document.getElementById('persist-note').dataset.persisted !== undefined`)
	var persisted bool
	ana.run(`return await navigator.storage.persisted()`, &persisted)
	if !persisted {
		ana.poll(`!document.getElementById('persist-note').hidden && !document.getElementById('persist').hidden &&
  document.getElementById('persist-state').textContent.includes('may clear your messages')`)
		ana.screenshot("storage-persist-asked.png")
		ana.click("#persist")
		// The browser decides: kept (the note goes), or refused (said so).
		ana.poll(`(async () => { const kept = await navigator.storage.persisted(); const note = document.getElementById('persist-note')
  return kept ? note.hidden && note.dataset.persisted === 'true' : note.dataset.persisted === 'false' && document.getElementById('persist-state').textContent.includes('did not agree') })()`)
	} else {
		ana.poll(`document.getElementById('persist-note').hidden`)
	}

	// Two tasks of Bob's, Ana in both; the roof holds far more.
	var roof, garden string
	bob.run(`return (await window.tmApp.createTask({ title: 'Roof' })).id`, &roof)
	bob.run(`return (await window.tmApp.createTask({ title: 'Garden' })).id`, &garden)
	for _, task := range []string{roof, garden} {
		var code string
		bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
		ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	}
	bob.run(script(`for (let i = 0; i < 20; i++) await window.tmApp.send({{task}}, 'tiles '.repeat(2000) + i); return true`, map[string]any{"task": roof}), nil)
	ana.poll(script(`(async () => (await window.tmApp.timeline({{task}}, { limit: 100 })).filter((m) => m.type === 'chat').length === 20)()`, map[string]any{"task": roof}))

	// The Storage panel: each task and what it holds.
	ana.click("#show-storage")
	row := func(task string) string { return `#storage-tasks li[data-task="` + task + `"]` }
	ana.poll(`document.querySelector('` + row(roof) + `') !== null && document.querySelector('` + row(garden) + `') !== null &&
  +document.querySelector('` + row(roof) + `').dataset.bytes > 20 * 12000 && document.getElementById('storage-total').textContent.includes('This profile holds')`)
	ana.screenshot("storage-usage.png")
	var before struct {
		Total int64            `json:"total"`
		Tasks map[string]int64 `json:"tasks"`
	}
	ana.run(`return await window.tmApp.usage()`, &before)

	// Delete my copy of the roof.
	pick := func(task string) string { return `.pick[data-task="` + task + `"]` }
	ana.poll(`document.querySelector('` + pick(roof) + `') !== null`)
	ana.click(pick(roof))
	ana.poll(`document.getElementById('room-title').textContent === 'Roof'`)
	ana.click("#forget-task")
	ana.poll(`!document.getElementById('drop').hidden && document.getElementById('drop-text').textContent.includes('Roof')`)
	ana.screenshot("storage-forget-confirm.png")
	ana.click("#drop-confirm")
	ana.poll(`document.getElementById('drop-status').textContent.includes('freed') && document.querySelector('` + pick(roof) + `') === null &&
  document.querySelector('` + row(roof) + `') === null && document.querySelector('` + row(garden) + `') !== null && document.getElementById('room').hidden`)
	ana.screenshot("storage-forgotten.png")
	var after struct {
		Total int64            `json:"total"`
		Tasks map[string]int64 `json:"tasks"`
	}
	ana.run(`return await window.tmApp.usage()`, &after)
	t.Logf("usage %d → %d bytes; the roof held %d", before.Total, after.Total, before.Tasks[roof])
	if _, ok := after.Tasks[roof]; ok || after.Total > before.Total-before.Tasks[roof]+4096 || after.Tasks[garden] != before.Tasks[garden] {
		t.Fatalf("usage before %+v, after %+v: the roof's bytes were not freed, or the garden changed", before, after)
	}
	// After a reload the roof stays gone.
	ana.reload()
	ana.poll(`document.body.dataset.ready === '1' && document.querySelector('` + pick(garden) + `') !== null && document.querySelector('` + pick(roof) + `') === null`)

	// Leave the garden: Bob's page says Ana left.
	ana.click(pick(garden))
	ana.poll(`document.getElementById('room-title').textContent === 'Garden'`)
	ana.click("#leave-task")
	ana.poll(`!document.getElementById('drop').hidden && document.getElementById('drop-confirm').textContent === 'Leave'`)
	ana.click("#drop-confirm")
	ana.poll(`document.getElementById('drop-status').textContent.includes('Left the task') && document.querySelector('` + pick(garden) + `') === null`)
	bob.poll(`document.querySelector('` + pick(garden) + `') !== null`)
	bob.click(pick(garden))
	bob.poll(`[...document.querySelectorAll('#timeline li[data-type="leave"]')].some((li) => li.textContent.includes('left the task'))`)
	bob.poll(`document.querySelector('#members li[data-peer="` + anaID + `"]')?.textContent.includes('left the task')`)
	bob.run(`const s = document.getElementById('scroller'); s.scrollTop = s.scrollHeight; return true`, nil)
	bob.screenshot("storage-left.png")
}
