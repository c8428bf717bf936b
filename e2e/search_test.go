package e2e

import (
	"testing"
)

// TestSearchJumps is search on the page: a profile with two tasks, the
// message looked for three pages back in the task not selected; typing a
// word's start in the search box lists it, Enter opens its task at the
// message, marked and in view. Screenshot: artifacts/search.png.
func TestSearchJumps(t *testing.T) {
	b := newBrowser(t)
	tab := openMessenger(t, b, "search-ana", "")
	tab.typeText("#new-title", "Fix the roof", true)
	tab.poll(`document.getElementById('room-title').textContent === 'Fix the roof'`)
	var ids [2]string // the roof task, the message looked for
	tab.run(`const app = window.tmApp
  const roof = (await app.tasks()).find((t) => t.title === 'Fix the roof').id
  const texts = ['Where is the ladder? It is in the blue shed, behind the bikes.']
  for (let i = 0; i < 150; i++) texts.push('tiles, nails and rain ' + i)
  await app.sendMany(roof, texts)
  const tl = await app.timeline(roof, { limit: 1000 })
  const target = tl.find((m) => m.data && String(m.data.text).startsWith('Where is the ladder')).id
  return [roof, target]`, &ids)
	roof, target := ids[0], ids[1]
	tab.typeText("#new-title", "Groceries", true)
	tab.poll(`document.getElementById('room-title').textContent === 'Groceries'`)
	tab.typeText("#text", "Milk, eggs and a ladder for the kitchen?", true)
	tab.waitText("Milk, eggs and a ladder for the kitchen?")

	// As typed: "lad" finds both, newest first; "lad sh" only the roof's.
	tab.typeText("#search-input", "lad", false)
	tab.poll(`document.querySelectorAll('#search-results button').length === 2`)
	tab.typeText("#search-input", " sh", false)
	tab.poll(script(`(() => { const bs = document.querySelectorAll('#search-results button')
  return bs.length === 1 && bs[0].dataset.id === {{id}} && bs[0].dataset.task === {{task}} &&
    bs[0].querySelector('.result-text').textContent.includes('ladder') &&
    document.getElementById('search-status').textContent === '1 found' })()`, map[string]any{"id": target, "task": roof}))
	tab.typeText("#search-input", "", true) // Enter: the first result

	tab.poll(script(`(() => {
  if (document.getElementById('room-title').textContent !== 'Fix the roof') return false
  const li = document.querySelector('#timeline li.msg[data-id="' + CSS.escape({{id}}) + '"]')
  if (!li || !li.classList.contains('found')) return false
  const r = li.getBoundingClientRect(), s = document.getElementById('scroller').getBoundingClientRect()
  return r.top >= s.top && r.bottom <= s.bottom })()`, map[string]any{"id": target}))
	tab.screenshot("search.png")

	// Nothing typed: no results.
	tab.run(`const i = document.getElementById('search-input'); i.value = ''; i.dispatchEvent(new Event('input')); return true`, nil)
	tab.poll(`document.querySelectorAll('#search-results li').length === 0 && document.getElementById('search-status').textContent === ''`)
}
