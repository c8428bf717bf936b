// debug.js — the debug page (debug.html); no inline scripts: the page's CSP allows none.
'use strict'
const $ = (id) => document.getElementById(id)
let tm, profile
const status = (text, error) => { $('status').textContent = text; $('status').toggleAttribute('data-error', !!error) }
const log = (...args) => { $('log').textContent = args.map((a) => typeof a === 'string' ? a : JSON.stringify(a)).join(' ') + '\n' + $('log').textContent }
const guard = (fn) => async () => { try { await fn() } catch (err) { status(err.message, true); log('error:', err.message) } }

// scheduleRefresh refreshes the books table once after a burst of changes
// (the messenger in another tab writes while this page follows it).
let refreshTimer
const scheduleRefresh = () => {
  clearTimeout(refreshTimer)
  refreshTimer = setTimeout(() => { refresh().catch((err) => log('error:', err.message)) }, 100)
}

async function refresh () {
  const rows = (await profile.db.books()).map((b) => {
    const tr = document.createElement('tr')
    for (const v of [b.name, b.key.slice(0, 12) + '…', b.length, b.writable, b.verified]) {
      const td = document.createElement('td'); td.textContent = String(v); tr.appendChild(td)
    }
    return tr
  })
  $('books').replaceChildren(...rows)
}

$('open').onclick = guard(async () => {
  if (profile) await profile.db.close()
  profile = await tm.vault({ name: $('profile').value })
  $('id').textContent = profile.id
  profile.db.on((e) => { log(e.type, e.key.slice(0, 8), e.index, e.data === undefined ? '' : e.data); scheduleRefresh() })
  // A profile another tab writes (the messenger) is shown through it: this
  // page's actions are carried out there.
  status(profile.db.role && profile.db.role() === 'follower'
    ? `profile ${profile.name} open through another tab, which writes it`
    : `profile ${profile.name} open`)
  await refresh()
})
$('add').onclick = guard(async () => {
  const book = await profile.db.author($('book').value)
  const i = await book.add(JSON.parse($('value').value))
  status(`added page ${i} to ${book.name}`)
  await refresh()
})
$('export').onclick = guard(async () => {
  const ex = await profile.db.export()
  const a = document.createElement('a')
  a.href = URL.createObjectURL(new Blob([JSON.stringify(ex)], { type: 'application/json' }))
  a.download = `taskmessenger-${profile.name}.json`
  a.click()
  status(`exported ${ex.books.length} books`)
})
$('import').onchange = guard(async () => {
  const file = $('import').files[0]
  if (!file) return
  const res = await profile.db.import(await file.text())
  status(`imported ${res.length} books`)
  await refresh()
})
$('reset').onclick = guard(async () => {
  if (!confirm(`Delete every book of profile ${profile.name}?`)) return
  await profile.db.reset()
  profile = null
  $('id').textContent = '—'
  $('books').replaceChildren()
  status('profile deleted')
})

window.taskmessenger.ready.then(async (api) => {
  tm = api
  status(`ready in ${Math.round(window.taskmessenger.readyMs)} ms`)
  const p = new URLSearchParams(location.search).get('profile')
  if (p) { $('profile').value = p; await $('open').onclick() }
}, (err) => status(err.message, true))
