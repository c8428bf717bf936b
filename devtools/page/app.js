'use strict'
// The devtools page: plain JS over the JSON API and its live feed. Text
// from peers is only ever set with textContent, never parsed as HTML.

const $ = (id) => document.getElementById(id)
const state = { peers: [], books: [], book: null, bookKey: '', pageIndex: null, from: 0, next: null, aliases: {} }

// el builds an element; string children become text nodes.
function el (tag, attrs, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue
    if (k === 'class') e.className = v
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
    else e.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c))
  return e
}
const short = (id) => id ? id.slice(0, 8) : ''
const who = (id) => state.aliases[id] ? `${state.aliases[id]} (${short(id)})` : short(id)
const badge = (status) => el('span', { class: 'badge ' + status }, status)
const status = (text, error) => { $('status').textContent = text; $('status').toggleAttribute('data-error', !!error) }

async function api (path, opts) {
  const r = await fetch(path, opts)
  const ct = r.headers.get('Content-Type') || ''
  const body = ct.startsWith('application/json') ? await r.json() : await r.text()
  if (!r.ok) throw new Error((body && body.error) || r.statusText)
  return body
}
// post sends a state-changing request as the server demands of the page
// (same origin, JSON, and the server's token, fetched same-origin once).
let tokenHeaders = null
async function post (path, body) {
  if (!tokenHeaders) {
    const { token, header } = await api('/api/token')
    tokenHeaders = { [header]: token }
  }
  const r = await fetch(path, { method: 'POST', body: body || '{}', headers: { 'Content-Type': 'application/json', ...tokenHeaders } })
  if (r.status === 403) tokenHeaders = null // a restarted server has a new token
  return r
}
async function apiPost (path, body) {
  const r = await post(path, body)
  const ct = r.headers.get('Content-Type') || ''
  const out = ct.startsWith('application/json') ? await r.json() : await r.text()
  if (!r.ok) throw new Error((out && out.error) || r.statusText)
  return out
}
const guard = (fn) => async (...args) => { try { await fn(...args) } catch (err) { status(err.message, true) } }

function query () {
  const q = new URLSearchParams()
  if ($('task').value) q.set('task', $('task').value)
  if ($('peer').value) q.set('peer', $('peer').value)
  return q.toString()
}

// --- peers ---
async function loadPeers () {
  const { peers } = await api('/api/peers')
  state.peers = peers
  for (const p of peers) state.aliases[p.id] = p.alias
  $('peers').replaceChildren(...peers.map((p) => el('tr', { class: p.status },
    el('td', { title: p.id }, el('span', { class: p.connected ? 'online' : 'offline' }, p.connected ? '● ' : '○ '), p.alias || '(no alias)', ' ', el('code', {}, short(p.id))),
    el('td', {}, badge(p.status), p.dropped ? el('span', { class: 'note' }, ` ${p.dropped} dropped`) : null),
    el('td', {}, p.books),
    el('td', {},
      el('button', { onclick: guard(() => exportPeer(p)), disabled: !p.connected }, 'Export'), ' ',
      el('button', { onclick: () => importPeer(p), disabled: !p.connected }, 'Import'), ' ',
      el('button', { onclick: guard(() => resetPeer(p)), disabled: !p.connected }, 'Reset')))))
  fillSelect($('peer'), peers.map((p) => [p.id, who(p.id)]), 'all')
  fillSelect($('seq-a'), peers.map((p) => [p.id, who(p.id)]))
  fillSelect($('seq-b'), peers.map((p) => [p.id, who(p.id)]))
  if ($('seq-a').value === $('seq-b').value) {
    const other = peers.find((p) => p.id !== $('seq-a').value)
    if (other) $('seq-b').value = other.id
  }
}

function fillSelect (sel, options, all) {
  const cur = sel.value
  const opts = options.map(([v, t]) => el('option', { value: v }, t))
  if (all) opts.unshift(el('option', { value: '' }, all))
  sel.replaceChildren(...opts)
  if ([...sel.options].some((o) => o.value === cur)) sel.value = cur
}

async function exportPeer (p) {
  if (!confirm(`Ask ${who(p.id)} to export all its books?`)) return
  status(`exporting ${who(p.id)}…`)
  const r = await post(`/api/peers/${p.id}/export`)
  if (!r.ok) throw new Error((await r.json()).error)
  const url = URL.createObjectURL(await r.blob())
  const a = el('a', { href: url, download: `export-${p.alias || short(p.id)}.json` })
  document.body.append(a); a.click(); a.remove(); URL.revokeObjectURL(url)
  status(`exported ${who(p.id)}`)
}

function importPeer (p) {
  const input = $('import-file')
  input.value = ''
  input.onchange = guard(async () => {
    const file = input.files[0]
    if (!file || !confirm(`Import ${file.name} into ${who(p.id)}? It is verified first, then written to the peer's storage.`)) return
    status(`importing into ${who(p.id)}…`)
    await apiPost(`/api/peers/${p.id}/import`, await file.text())
    status(`imported ${file.name} into ${who(p.id)}`)
  })
  input.click()
}

async function resetPeer (p) {
  if (!confirm(`Reset ${who(p.id)}? This wipes the peer's storage.`)) return
  await apiPost(`/api/peers/${p.id}/reset`)
  status(`reset ${who(p.id)}`)
}

// --- books ---
async function loadBooks () {
  const all = await api('/api/books')
  const tasks = [...new Set(all.books.map((b) => b.task).filter(Boolean))].sort()
  fillSelect($('task'), tasks.map((t) => [t, t]), 'all')
  const q = query()
  const { books } = q ? await api('/api/books?' + q) : all
  state.books = books
  $('books').replaceChildren(...books.map((b) => el('tr', { class: b.status + (b.key === state.bookKey ? ' selected' : ''), onclick: () => selectBook(b.key) },
    el('td', { title: b.key }, b.name ? bookLabel(b) : el('code', {}, short(b.key))),
    el('td', {}, b.author ? who(b.author) : '?'),
    el('td', {}, b.length),
    el('td', {}, badge(b.status)),
    el('td', {}, b.readers.map(who).join(', ')))))
}

function bookLabel (b) {
  if (b.task && b.author && b.reader) return `${state.aliases[b.author] || short(b.author)} → ${state.aliases[b.reader] || short(b.reader)} · ${b.task.slice(0, 8)}`
  return b.name
}

const selectBook = guard(async (key) => {
  if (key !== state.bookKey) { state.from = 0; state.pageIndex = null; $('page-section').hidden = true }
  state.bookKey = key
  await loadBook()
  await loadBooks()
})

async function loadBook () {
  if (!state.bookKey) return
  const b = await api('/api/books/' + state.bookKey)
  state.book = b
  $('book-section').hidden = false
  $('book-h').textContent = 'Book ' + (b.name ? bookLabel(b) : short(b.key))
  const info = [['key', el('code', {}, b.key)], ['name', b.name || '?'], ['status', badge(b.status)], ['author', b.author ? who(b.author) : 'unknown (no genesis yet)'],
    ['verified length', b.length], ['verified tree', `${b.tree} pages`]]
  if (b.head) info.push(['head root', el('code', {}, b.head.root)], ['head signature', el('code', {}, b.head.sig)])
  if (b.genesis) info.push(['genesis', `${b.genesis.name}${b.genesis.meta ? ' · meta: ' + b.genesis.meta : ''}`])
  if (b.fork) info.push(['fork', el('span', { class: 'forked' }, b.fork.note + (b.fork.evidence ? ` (evidence: heads ${b.fork.old.length} and ${b.fork.new.length}, verified)` : ''))])
  info.push(['events', `${b.events.kept} kept, ${b.events.dropped} dropped`])
  $('book-info').replaceChildren(...info.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))
  $('copies').replaceChildren(...b.copies.map((c) => el('tr', { class: c.status },
    el('td', {}, who(c.peer)), el('td', {}, c.role), el('td', {}, c.length),
    el('td', {}, c.have.map(([s, e]) => `[${s}, ${e})`).join(' ')), el('td', {}, badge(c.status)), el('td', { class: 'error' }, c.problem || ''))))
  $('problems').replaceChildren(...(b.problems.length ? [el('h3', {}, 'Problems'), el('ul', {}, ...b.problems.map((p) =>
    el('li', { class: 'error' }, `${who(p.peer)} at ${p.index}: ${p.error}`)))] : []))
  $('retention').textContent = b.retention.note || `${b.retention.pages} pages held`
  await loadPages()
}

async function loadPages () {
  const r = await api(`/api/books/${state.bookKey}/pages?from=${state.from}&limit=50`)
  state.next = r.next
  $('pages-next').disabled = r.next === null
  $('pages-prev').disabled = state.from <= (r.retention.first || 0)
  $('pages').replaceChildren(...r.pages.map((p) => el('tr', { class: p.status + (p.index === state.pageIndex ? ' selected' : ''), onclick: guard(() => selectPage(p)) },
    el('td', {}, p.index), el('td', {}, badge(p.status)), el('td', {}, p.size), el('td', {}, sealBadge(p), summary(p)))))
}

// sealBadge marks a sealed page: opened (by a reporting tab) or not.
function sealBadge (p) {
  if (!p.sealed) return null
  return el('span', { class: 'badge sealed' + (p.openedBy ? '' : ' closed'), title: p.openedBy ? `plaintext sent by ${who(p.openedBy)}: its word, not verified` : p.note }, p.openedBy ? 'sealed · opened' : 'sealed · unopened')
}

function summary (p) {
  if (p.genesis) return `genesis: ${p.genesis.name}`
  if (p.message) return `${p.message.type} #${p.message.mid} by ${who(p.message.by)}${p.message.data ? ': ' + JSON.stringify(p.message.data).slice(0, 80) : ''}`
  if (p.sealed) return p.plainText !== undefined ? p.plainText.slice(0, 100) : (p.note || '')
  if (p.text !== undefined) return p.text.slice(0, 100)
  return `${p.size} bytes (binary)`
}

async function selectPage (p) {
  state.pageIndex = p.index
  $('page-section').hidden = false
  $('page-h').textContent = `Page ${p.index} of ${state.book.name ? bookLabel(state.book) : short(state.bookKey)}`
  const parsed = [['status', badge(p.status)], ['reported by', who(p.by)], ['size', `${p.size} bytes`], ['leaf hash', el('code', {}, p.leaf)]]
  if (p.error) parsed.push(['error', el('span', { class: 'error' }, p.error)])
  if (p.sealed) {
    parsed.push(['sealed', el('span', {}, sealBadge(p), ` epoch ${p.epoch || 0}; ` + (p.openedBy
      ? `opened by ${who(p.openedBy)} (its plaintext, not verified: the server verifies the ciphertext only)`
      : p.note))])
  }
  if (p.genesis) parsed.push(['genesis author', who(p.genesis.author)], ['name', p.genesis.name], ['meta', p.genesis.meta || ''])
  if (p.message) {
    const m = p.message
    parsed.push(['type', m.type], ['by', who(m.by)], ['to', m.to ? who(m.to) : 'everyone'], ['mid', m.mid],
      ['cause', m.cause ? `${who(m.cause[0])} #${m.cause[1]}` : '—'], ['date', new Date(m.date).toISOString()], ['clock', m.clock],
      ['data', el('pre', {}, JSON.stringify(m.data, null, 2))])
  }
  if (p.note && !(p.sealed && !p.openedBy)) parsed.push(['not a message', p.note])
  $('page-parsed').replaceChildren(...parsed.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))
  $('page-raw').textContent = p.text !== undefined ? p.text : hex(p.data)
  $('page-plain-h').hidden = $('page-plain').hidden = !p.plain
  $('page-plain').textContent = p.plain ? (p.plainText !== undefined ? p.plainText : hex(p.plain)) : ''
  try {
    const pr = await api(`/api/books/${state.bookKey}/proof?index=${p.index}`)
    const rows = [['kind', pr.kind], ['verified', pr.verified ? '✓ by the server' : '✗'], ['against', `${pr.signed ? 'signed head' : 'tree root'} of length ${pr.head.length}`],
      ['root', el('code', {}, pr.head.root)], ['leaf', el('code', {}, pr.leaf)]]
    if (pr.kind === 'inclusion') rows.push(['path', el('pre', {}, pr.proof.join('\n'))])
    else rows.push(['pages', `[${pr.start}, ${pr.end})`], ['left', el('pre', {}, pr.left.join('\n'))], ['tree', el('pre', {}, pr.tree.join('\n'))])
    $('page-proof').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))
  } catch (err) {
    $('page-proof').replaceChildren(el('dt', {}, 'proof'), el('dd', {}, err.message))
  }
  await loadPages()
}

function hex (b64) {
  const bin = atob(b64 || '')
  let out = ''
  for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, '0') + (i % 32 === 31 ? '\n' : ' ')
  return out
}

$('pages-next').onclick = guard(async () => { if (state.next !== null) { state.from = state.next; await loadPages() } })
$('pages-prev').onclick = guard(async () => { state.from = Math.max(0, state.from - 50); await loadPages() })

// --- timeline and sequence diagram ---
async function loadTimeline () {
  const q = query()
  const { events, dropped } = await api('/api/timeline?limit=200' + (q ? '&' + q : ''))
  const rows = events.slice(-100).reverse().map((e) => el('tr', { class: e.status || '' },
    el('td', {}, e.seq), el('td', {}, new Date(e.at).toISOString().slice(11, 23)), el('td', {}, who(e.peer)),
    el('td', {}, e.kind + (e.type ? ' ' + e.type : '')), el('td', {}, detail(e))))
  if (dropped) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'note' }, `${dropped} older events were dropped from memory`)))
  $('timeline').replaceChildren(...rows)
  await drawSequence()
}

function detail (e) {
  const parts = []
  if (e.remote) parts.push((e.send ? '→ ' : '← ') + who(e.remote))
  if (e.book) parts.push('book ' + short(e.book))
  if (e.end) parts.push(`[${e.start || 0}, ${e.end})`)
  if (e.bytes) parts.push(`${e.bytes} B`)
  if (e.transport) parts.push(e.transport)
  if (e.status) parts.push(e.status)
  if (e.text) parts.push(e.text)
  return parts.join(' · ')
}

const SVG = 'http://www.w3.org/2000/svg'
function svg (tag, attrs, text) {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  if (text !== undefined) e.textContent = text
  return e
}

// drawSequence draws the messages between two peers over time: one arrow
// per message, from sender to receiver. When both peers report, their
// sends are drawn; receives only for a sender that does not report.
async function drawSequence () {
  const a = $('seq-a').value; const b = $('seq-b').value
  if (!a || !b || a === b) { $('seq').replaceChildren(el('p', { class: 'note' }, 'Pick two peers.')); return }
  const { events } = await api(`/api/timeline?limit=2000&peer=${a}`)
  const pair = events.filter((e) => (e.peer === a && e.remote === b) || (e.peer === b && e.remote === a))
  const reporting = new Set(pair.filter((e) => e.send).map((e) => e.peer))
  const shown = pair.filter((e) => e.kind === 'port' ? e.peer === a : e.send || !reporting.has(e.remote)).slice(-80)
  const W = 720; const xa = 170; const xb = 550; const row = 22; const H = 60 + row * Math.max(shown.length, 1)
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `messages between ${who(a)} and ${who(b)}` })
  const defs = svg('defs', {})
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' })
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#0969da' }))
  defs.append(marker); s.append(defs)
  for (const [x, id] of [[xa, a], [xb, b]]) {
    s.append(svg('text', { x, y: 16, 'text-anchor': 'middle' }, who(id)))
    s.append(svg('line', { x1: x, y1: 24, x2: x, y2: H - 6, class: 'life' }))
  }
  shown.forEach((e, i) => {
    const y = 44 + i * row
    const t = new Date(e.at).toISOString().slice(11, 23)
    s.append(svg('text', { x: 4, y: y + 4 }, t))
    if (e.kind === 'port') {
      s.append(svg('line', { x1: xa, y1: y, x2: xb, y2: y, class: 'port' + (e.open ? '' : ' closed') }))
      s.append(svg('text', { x: (xa + xb) / 2, y: y - 3, 'text-anchor': 'middle' }, `port ${e.open ? 'open' : 'closed'}${e.transport ? ' · ' + e.transport : ''}`))
      return
    }
    const from = e.send ? e.peer : e.remote
    const [x1, x2] = from === a ? [xa, xb] : [xb, xa]
    s.append(svg('line', { x1, y1: y, x2, y2: y, class: 'msg' + (e.kind === 'app' ? ' app' : '') + (e.send ? '' : ' recv') }))
    const label = [e.type, e.book ? short(e.book) : '', e.end ? `[${e.start || 0},${e.end})` : '', e.bytes ? `${e.bytes}B` : ''].filter(Boolean).join(' ')
    s.append(svg('text', { x: (xa + xb) / 2, y: y - 3, 'text-anchor': 'middle' }, label))
  })
  $('seq').replaceChildren(s)
}

// --- live feed ---
let timer = null
const dirty = new Set()
function refresh (...what) {
  for (const w of what) dirty.add(w)
  if (timer) return
  timer = setTimeout(guard(async () => {
    timer = null
    const d = new Set(dirty); dirty.clear()
    if (d.has('peers')) await loadPeers()
    if (d.has('books')) await loadBooks()
    if (d.has('book')) await loadBook()
    if (d.has('timeline')) await loadTimeline()
  }), 250)
}

function live () {
  const es = new EventSource('/api/events')
  es.onopen = () => { $('live').textContent = 'live'; $('live').className = 'badge verified'; refresh('peers', 'books', 'book', 'timeline') }
  es.onerror = () => { $('live').textContent = 'reconnecting…'; $('live').className = 'badge unverified' }
  es.onmessage = (m) => {
    const msg = JSON.parse(m.data)
    if (msg.type === 'peer') refresh('peers')
    else if (msg.type === 'book') refresh('books', ...(msg.key === state.bookKey ? ['book'] : []))
    else if (msg.type === 'event') refresh('timeline', ...(msg.event.kind === 'connect' || msg.event.kind === 'disconnect' ? ['peers'] : []))
    else refresh('peers', 'books', 'book', 'timeline')
  }
}

for (const id of ['task', 'peer']) $(id).onchange = () => refresh('books', 'timeline')
for (const id of ['seq-a', 'seq-b']) $(id).onchange = guard(drawSequence)
guard(async () => { await loadPeers(); await loadBooks(); await loadTimeline(); live() })()
