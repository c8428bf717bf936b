// app.js — the messenger page: one profile per URL (/?profile=ana),
// plain DOM on the wasm module's messenger API (tm.open). Text from peers
// is only ever set as textContent, never as HTML.
(function () {
  'use strict'
  const $ = (id) => document.getElementById(id)
  $('no-script').remove() // the page's script runs: it says itself how loading goes
  const params = new URLSearchParams(location.search)
  const profile = params.get('profile') || 'default'
  const PAGE = 50
  const state = {
    app: null,
    current: null, // the selected task id
    tasks: new Map(), // id → task
    collapsed: new Set(),
    msgs: [], // the loaded messages of the current task, in timeline order (by key)
    byId: new Map(), // message id → message, for replies
    atStart: false, // the oldest message is loaded
    loadingOlder: null,
    replyTo: null,
    join: null, // the AbortController of a join under way
    stopped: false, // another tab opened the profile: this one no longer works
    forks: new Map(), // task → the members who proved this profile forked its book to them
    forkLines: new Map(), // task → what the page said of forks healed or followed in it
    members: null, // the current task's members (app.members()), for the messages' status
    readSent: new Map(), // "task author" → the newest of the author's messages this page marked read, and its from
    person: null, // the person this device belongs to (app.person()): app.id on a first device
    link: null, // the AbortController of a link of this browser under way
    expiry: null // the timer counting down the pairing code shown
  }

  // el makes an element; strings become text nodes, never HTML.
  function el (tag, props, ...children) {
    const e = document.createElement(tag)
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
      else if (k === 'text') e.textContent = v
      else e.setAttribute(k, v)
    }
    for (const c of children) if (c != null) e.append(c)
    return e
  }
  const short = (id) => String(id || '').slice(0, 8)
  const who = (id) => (state.app && (id === state.app.id || id === state.person) ? 'you' : nameFor(id))
  // step marks a step of the page's start (window.taskmessenger.times).
  const step = (name) => { if (window.taskmessenger && window.taskmessenger.mark && !(name in window.taskmessenger.times)) window.taskmessenger.mark(name) }
  const clip = (s, n) => { s = String(s); return s.length > n ? s.slice(0, n) + '…' : s }

  function setState (node, text, cls) {
    node.textContent = text
    node.className = (node.id === 'me-state' ? 'state ' : '') + (cls || '')
  }

  // said shows what came of an action the person took (export, import,
  // a restore) on its own line: the relay connection's state, shown
  // beside the id, changes on its own and must not replace an error the
  // person has not read yet.
  function said (text, cls) {
    const node = $('action-status')
    node.textContent = text
    node.className = `action-status ${cls || ''}`
    node.hidden = false
  }

  // turns gives each call of a refresher a turn; fresh() says whether it is
  // still the newest call once its answer came. An older call answering
  // after a newer one (a busy tab) would otherwise put back what was shown
  // before: a member shown as not removed after the removal.
  function turns () {
    let last = 0
    return () => { const mine = ++last; return () => mine === last }
  }

  // ---- tasks -------------------------------------------------------------

  const tasksTurn = turns()
  async function refreshTasks () {
    if (state.stopped) return
    const fresh = tasksTurn()
    const tree = await state.app.tasks().catch(() => null) // the app stopped meanwhile
    if (!tree || !fresh()) return
    state.tasks.clear()
    const walk = (nodes) => nodes.forEach((t) => { state.tasks.set(t.id, t); walk(t.children) })
    walk(tree)
    renderTree(tree) // ---- many tasks ----: only the rows on screen
    $('no-tasks').hidden = tree.length > 0
    showLinkForm()
    if (state.current && state.tasks.has(state.current)) $('room-title').textContent = state.tasks.get(state.current).title
    showRemoved()
    showAbove() // ---- unread ----
  }

  // showRemoved says so when this profile was removed from the current
  // task (its creator removed it): it reads what it had, and writes no more.
  function showRemoved () {
    const t = state.current && state.tasks.get(state.current)
    const by = t && t.removedBy
    $('removed').hidden = !by
    $('removed').textContent = by ? `You were removed from this task by ${who(by)}: you keep what you had, and get nothing written after.` : ''
    $('text').disabled = $('send').disabled = !!by
  }

  async function select (id) {
    const focus = focusAt() // the composer takes the focus at the end, unless the user moved it meanwhile
    uiSelected(state.current, id)
    state.current = id
    state.msgs = []
    state.byId.clear()
    state.atStart = false
    $('above').hidden = true // until this task's counts are read (refreshTasks)
    cancelReply()
    // Never the last task's draft: this task's is put back with its
    // timeline (and once more as freshly read: another tab may have written
    // it), unless the user typed meanwhile.
    ui.typed = null
    $('text').value = ''
    updateCount()
    $('timeline').replaceChildren()
    $('room').hidden = false
    $('empty').hidden = true
    const t = state.tasks.get(id)
    $('room-title').textContent = t ? t.title : id
    $('invite-code').value = '' // an invite is a capability: made on demand (Copy invite), revocable
    $('revoke-invite').hidden = true
    showNotice()
    showRemoved()
    const page = await state.app.timeline(id, { limit: PAGE })
    step('timeline')
    if (state.current !== id) return
    state.atStart = page.length < PAGE
    page.forEach(insert)
    if (ui.typed !== id) putDraft((ui.saved.drafts || {})[id])
    const divider = await showDivider(id, t) // ---- unread ----
    markRead()
    for (const said of state.forkLines.get(id) || []) showForkLine(said)
    olderHint()
    scrollToEnd()
    if (divider) divider.scrollIntoView({ block: 'center' }) // news first; the draft and scroll of last time otherwise
    await uiRestore(id, !!divider)
    refreshMembers()
    refreshTasks()
    if (focusAt() === focus || document.activeElement === document.body) $('text').focus()
    if (state.current === id) document.body.dataset.shown = id // for tests: the task is shown, its draft and place put back
  }

  // focusAt names where the keyboard focus is: a row of the task tree by its
  // task, as the virtual tree draws its rows anew (the focused element is
  // replaced, the focus stays on the row), any other element by itself.
  function focusAt () {
    const a = document.activeElement
    const task = a && a.closest && a.closest('#tree') && a.dataset && a.dataset.task
    return task ? 'row:' + task : a
  }

  // A member proved this profile wrote its messages to them from two places
  // at once (a fork): say so in that task, in words.
  function showNotice () {
    const who = state.forks.get(state.current)
    $('room-notice').hidden = !who
    if (who) {
      $('room-notice').textContent = `Your messages in this task no longer reach ${[...who].map(short).join(', ')}: ` +
        'this profile wrote them from two places at once (another browser or device, or an older backup), ' +
        'so they cannot tell which to believe. Use one place for this profile.'
    }
  }

  // A fork healed (this profile goes on in a new book to a member) or
  // followed (a member wrote from two places; both are kept): a line at
  // the end of that task's timeline, in words, shown again when the task is
  // opened in this page.
  function forkLine (ev) {
    const said = ev.state === 'healed'
      ? `This profile wrote to ${who(ev.peer)} from two places at once (another browser or device, or an older backup). ` +
        'Your messages to them go on in a new book: those they lacked were sent again, after the ones they have.'
      : `${who(ev.peer)} wrote from two places at once (another browser or device, or an older backup). ` +
        'The messages of both are kept here, each once.'
    if (!state.forkLines.has(ev.task)) state.forkLines.set(ev.task, [])
    state.forkLines.get(ev.task).push(said)
    if (ev.task === state.current) showForkLine(said)
  }

  function showForkLine (said) {
    $('timeline').appendChild(el('li', { class: 'msg system fork', 'data-type': 'fork', role: 'status', text: said }))
    scrollToEnd()
  }

  // ---- mirrors -----------------------------------------------------------

  // refreshMirrors shows where this profile's books are kept while its
  // members are away: each mirror, up or not, and why not (a full quota,
  // a copy that failed verification).
  const mirrorsTurn = turns()
  async function refreshMirrors () {
    if (state.stopped || !state.app.mirrors) return
    const fresh = mirrorsTurn()
    const ms = await state.app.mirrors().catch(() => null)
    if (!ms || !fresh()) return
    $('mirrors').textContent = ms.length === 0 ? '' : ms.map((m) => 'mirror ' + short(m.id) + ': ' +
      (m.online ? 'up' + (m.pinning ? `, keeps ${m.pinned} of your books` : '') : m.gone ? 'unreachable' : 'connecting') +
      ((m.refused || []).length ? ` · refused (served bad data for ${m.refused.length} book(s))` : '') +
      (/over quota/.test(m.error || '') ? ' · full: it keeps no more of your books (they are safe here)' : '')).join(' · ')
    $('mirrors').title = ms.filter((m) => m.error).map((m) => short(m.id) + ': ' + m.error).join('\n')
  }

  // ---- members -----------------------------------------------------------

  let membersTimer = null
  function refreshMembersSoon () {
    if (!membersTimer) membersTimer = setTimeout(() => { membersTimer = null; refreshMembers() }, 150)
  }

  const membersTurn = turns()
  async function refreshMembers () {
    if (!state.current || state.stopped) return
    const fresh = membersTurn()
    const ms = await state.app.members(state.current).catch(() => null) // the app stopped meanwhile
    if (!ms || !fresh()) return
    state.members = ms
    learnNames(ms)
    updateStatuses()
    const mine = ms[0].length - 1 // the number of this profile's newest message in the task (its log's length − 1)
    const creator = ms[0].creator
    $('members').replaceChildren(...byPerson(ms).map((devs) => devs.length === 1 ? memberItem(devs[0], mine, creator) : personItem(devs, mine, creator)))
  }

  // byPerson groups members (one entry per device) by person, in the
  // order of each person's first device.
  function byPerson (ms) {
    const groups = new Map()
    for (const m of ms) {
      const p = m.person || m.id
      if (!groups.has(p)) groups.set(p, [])
      groups.get(p).push(m)
    }
    return [...groups.values()]
  }

  // syncText says how far a member device and this profile are synced.
  function syncText (m, mine) {
    return ' · ' + healthText(m)
  }

  // warnings are a member's equivocations, forks and successor, in words.
  function warnings (eq, forks, continued) {
    let text = eq ? ` · ⚠ wrote different things to different members (${eq})` : ''
    if (forks) text += ' · wrote from two places (both kept)'
    if (continued) text += ' · your messages to them go on in a new book'
    return text
  }

  const eqTitle = '\nThis member wrote different versions of the same message for different readers: the evidence (both signed versions) is in app.members().'

  // memberItem is the entry of a person with one device.
  function memberItem (m, mine, creator) {
    let text = who(m.id) + idSuffix(m.person || m.id) + (m.label ? ` · ${clip(m.label, 40)}` : '') + (m.creator ? ' (creator)' : '')
    const person = m.person || m.id
    if (m.removed) {
      return el('li', { class: 'off removed', title: m.id, 'data-peer': m.id, 'data-person': person, text: text + ' · removed' })
    }
    if (m.left) return el('li', { class: 'off left', title: m.id, 'data-peer': m.id, 'data-person': person, text: text + ' · left the task' })
    if (!m.self) text += syncText(m, mine)
    const eq = (m.equivocations || []).length
    text += warnings(eq, m.forks, m.continued)
    const li = el('li', { class: (m.self || m.online ? 'on' : 'off') + (eq ? ' forked' : ''), title: m.id + (eq ? eqTitle : '') + (m.health ? '\n' + healthTitle(m) : ''), 'data-peer': m.id, 'data-person': person, 'data-health': m.health ? m.health.state : '', text })
    if (creator && !m.self) li.append(' ', removeButton(person, [m.id]))
    return li
  }

  // personItem is the entry of a person with several devices (revoked
  // ones included): online if any device is, its devices (label and id)
  // in the title, "N devices" while more than one is live.
  function personItem (devs, mine, creator) {
    const person = devs[0].person || devs[0].id
    const live = devs.filter((m) => !m.removed)
    const self = devs.some((m) => m.self)
    let text = who(person) + idSuffix(person) + (devs.some((m) => m.creator) ? ' (creator)' : '')
    const title = devs.map((m) => `${m.label || 'device'}: ${m.id}${m.removed ? ' (revoked)' : ''}${m.self ? ' (this device)' : ''}`).join('\n')
    const suffix = live.length > 1 ? ` · ${live.length} devices` : ''
    if (live.length === 0) {
      return el('li', { class: 'off removed', title, 'data-peer': person, 'data-person': person, text: text + ' · removed' })
    }
    const others = live.filter((m) => !m.self)
    if (!self && others.length) {
      const online = others.find((m) => m.online)
      // The person has what any of its devices has: the device furthest along speaks.
      const best = others.reduce((a, m) => (m.paired && m.have >= m.length ? m.received : -1) > (a.paired && a.have >= a.length ? a.received : -1) ? m : a)
      text += syncText({ ...best, online: !!online, transport: online ? online.transport : '' }, mine)
    }
    const eq = live.reduce((n, m) => n + (m.equivocations || []).length, 0)
    text += warnings(eq, live.some((m) => m.forks), live.some((m) => m.continued)) + suffix
    const li = el('li', { class: (self || others.some((m) => m.online) ? 'on' : 'off') + (eq ? ' forked' : ''), title: title + (eq ? eqTitle : ''), 'data-peer': person, 'data-person': person, text })
    if (creator && !self) li.append(' ', removeButton(person, live.map((m) => m.id)))
    return li
  }

  // removeButton removes a person's devices ids from the current task.
  function removeButton (person, ids) {
    return el('button', { type: 'button', class: 'remove-member', 'aria-label': 'Remove ' + who(person), text: 'remove', onclick: () => removeMember(person, ids) })
  }

  // removeMember removes a member of the current task (its creator only),
  // each of its devices: the task's secret rotates; they get nothing
  // written after.
  async function removeMember (person, ids) {
    if (!confirm(`Remove ${who(person)} from this task? They keep what they have, and get nothing written after.`)) return
    try {
      for (const id of ids) await state.app.removeMember(state.current, id)
      refreshMembersSoon()
    } catch (err) {
      $('send-status').textContent = 'Could not remove: ' + err.message
    }
  }

  // ---- timeline ------------------------------------------------------------

  // position is where a key goes in the loaded messages (keys compare as strings).
  function position (key) {
    let lo = 0; let hi = state.msgs.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (state.msgs[mid].key < key) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  // unshow takes a message shown off the page.
  function unshow (m) {
    const i = state.msgs.indexOf(m)
    if (i >= 0) state.msgs.splice(i, 1)
    if (m.node) m.node.remove()
    state.byId.delete(m.id)
  }

  function insert (m) {
    let had = state.byId.get(m.id)
    if (m.withdrawn) {
      // Shown pending, not stored in time (its author's write failed):
      // off the page; if it is stored after all, it comes again.
      if (had && had.pending && had.key === m.key) {
        unshow(had)
        if (state.replyTo === had) cancelReply()
      }
      return
    }
    learnName(m)
    if (had && had.pending && !m.pending && (had.key !== m.key || JSON.stringify(had.data) !== JSON.stringify(m.data))) {
      // The message stored at this place is not the one shown pending: its
      // author's write of that one failed after a preview. Show the stored;
      // a reply begun to the one shown goes too (its id names the other).
      unshow(had)
      if (state.replyTo === had) cancelReply()
      had = null
    }
    if (had && had.key === m.key) {
      // Shown while it was being stored (pending): now it is stored, the
      // same message; only the mark goes.
      if (had.pending && !m.pending) {
        had.pending = false
        if (had.node) { had.node.classList.remove('pending'); had.node.removeAttribute('title') }
      }
      return
    }
    const i = position(m.key)
    const node = renderMessage(m)
    const next = state.msgs[i]
    $('timeline').insertBefore(node, next ? next.node : null)
    m.node = node
    state.msgs.splice(i, 0, m)
    state.byId.set(m.id, m)
  }

  function text (m) {
    const d = m.data || {}
    const label = (c) => (c && typeof c.label === 'string' && c.label ? ` “${clip(c.label, 40)}”` : '')
    switch (m.type) {
      case 'chat': return null
      case 'device': return `${who(m.person || m.head[0])} linked a new device${label(d.cert)} (${short(d.id)})`
      case 'revoke-device': return `${who(m.person || m.head[0])} revoked the device ${short(d.id)}: its later messages are refused`
      case 'task': return `${who(m.head[0])} created the task “${d.title}”`
      case 'join': return `${who(m.head[0])} joined` + (d.via ? ` (invited by ${who(d.via)})` : '')
      case 'member': return `${who(m.head[0])} admitted ${who(d.id)}` + (d.via && d.via !== m.head[0] ? ` (introduced by ${who(d.via)})` : '') + (d.invite ? ` with invite ${d.invite}` : '')
      case 'rename': return `${who(m.head[0])} renamed the task to “${d.title}”`
      case 'subtask': return `${who(m.head[0])} added the subtask “${d.title}”`
      case 'remove': return `${who(m.head[0])} removed ${who(d.id)}`
      case 'name': return `${who(m.person || m.head[0])} set their name to “${d.name}”`
      case 'leave': return `${who(m.head[0])} left the task`
      case 'invalid': return `invalid message from ${who(m.head[0])}` + (m.reason ? `: ${clip(m.reason, 200)}` : '') + (m.raw ? ` (${clip(m.raw, 120)})` : '')
      default: return `message of unknown type “${m.type}” from ${who(m.head[0])}: ${clip(JSON.stringify(m.data), 200)}`
    }
  }

  // renderMessage renders one message. A message the page cannot render
  // (a peer's bad data that got past the module's checks) shows as an
  // invalid message instead: it never hides the messages after it.
  function renderMessage (m) {
    try {
      return renderValid(m)
    } catch (err) {
      const by = Array.isArray(m && m.head) ? String(m.head[0]) : ''
      return el('li', { class: 'msg unknown', 'data-id': String(m && m.id), 'data-key': String(m && m.key), 'data-type': 'invalid' },
        el('span', { class: 'text', text: `invalid message from ${who(by)}: ${clip(String(err && err.message), 120)}` }))
    }
  }

  // The formats of toLocaleString and toLocaleTimeString, made once: each
  // of those calls makes its formatter again (most of a page's render).
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: 'numeric', second: 'numeric' })
  // And the hour and minute a member's status says (since): the members'
  // list is drawn again as messages come, every member's status with it.
  const minuteFormat = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' })

  // The formats of each second shown (both formats stop at seconds): Intl
  // formatting was a tenth of a ms of each message drawn, and a message is
  // drawn twice (pending, then stored), mostly in the same second as others.
  const formatted = new Map()
  function timeOf (m) {
    const date = new Date(m.meta && m.meta.date)
    if (isNaN(date.getTime())) return el('time', { text: 'unknown time' })
    const second = Math.floor(date.getTime() / 1000)
    let f = formatted.get(second)
    if (!f) {
      if (formatted.size >= 512) formatted.clear()
      f = { title: dateTimeFormat.format(date), text: timeFormat.format(date) }
      formatted.set(second, f)
    }
    return el('time', { datetime: date.toISOString(), title: f.title, text: f.text })
  }

  function renderValid (m) {
    const device = m.head[0]
    if (typeof device !== 'string') throw new Error('no author')
    // A person's devices are one author: the message names the person,
    // the device is on hover.
    const by = typeof m.person === 'string' && m.person ? m.person : device
    const time = timeOf(m)
    const sys = text(m)
    const known = ['chat', 'task', 'join', 'member', 'rename', 'subtask', 'device', 'revoke-device', 'remove', 'name', 'leave'].includes(m.type)
    const li = el('li', { class: 'msg' + (sys == null ? '' : known ? ' system' : ' unknown') + (by === state.app.id || by === state.person ? ' mine' : '') + (m.pending ? ' pending' : ''), 'data-id': m.id, 'data-person': by, 'data-key': m.key, 'data-type': m.type })
    // A pending message is verified and still being stored: it may be
    // lost if the tab closes now (it is sent again later), never wrong.
    if (m.pending) li.title = 'received, being saved'
    if (sys != null) {
      li.append(el('span', { class: 'text', text: sys }), ' ', time)
      return li
    }
    const from = device === by ? by : `${by}\nfrom the device ${m.device ? `“${m.device}” ` : ''}${device}`
    li.append(el('span', { class: 'who', title: from, text: who(by) }), time)
    const cause = m.refs && m.refs.cause
    if (cause) {
      const cid = `${cause[0]}/${cause[1]}`
      li.append(quoteOf(cid, cause[0]))
    }
    li.append(textOf(m))
    renderFiles(li, m)
    if (by === state.app.id) li.append(statusMark(m))
    li.append(el('button', { type: 'button', class: 'act', 'aria-label': `Reply to ${who(by)}`, onclick: () => replyTo(m), text: 'Reply' }))
    addEditControls(li, m, by)
    return li
  }

  // statusOf is where one of this profile's messages is: saved (here),
  // on a mirror (a mirror signed that it holds every member's copy),
  // delivered (every other member's receipt holds it), read (every one
  // read it). Receipts come from the members and the mirrors themselves
  // (app.members(): received, read, mirrored).
  function statusOf (m) {
    const mid = midOf(m)
    const others = (state.members || []).filter((x) => !x.self && x.paired)
    if (!others.length) return 'saved'
    if (others.every((x) => x.read >= mid)) return 'read'
    if (others.every((x) => x.received >= mid)) return 'delivered'
    const got = others.filter((x) => x.received >= mid).length
    const delivered = got ? `delivered to ${got} of ${others.length}` : ''
    if (others.every((x) => (x.mirrored || 0) >= mid)) return 'on a mirror' + (got ? ` · ${delivered}` : '')
    return got ? delivered : 'saved'
  }

  const midOf = (m) => Number(String(m.id).split('/')[1])

  // vouchersOf says which mirrors vouch for holding a message's copies.
  function vouchersOf (m) {
    const mid = midOf(m)
    const ids = new Set()
    for (const x of state.members || []) {
      if (x.self) continue
      for (const v of x.vouches || []) if (v.mid >= mid) ids.add(v.mirror)
    }
    return ids.size ? `held by mirror ${[...ids].map(short).join(', ')} (signed)` : ''
  }

  function updateStatuses () {
    for (const m of state.msgs) {
      const span = m.node && m.node.querySelector(':scope > .status')
      if (span) paintStatus(span, m)
    }
  }

  // markRead tells each author of the task's messages on screen that the
  // user read them up to the newest (a receipt), once per new message.
  // Unless the page holds the task from its start, it says from where it
  // shows every message: an author's unread message sorting above that
  // (written offline long before it arrived) is not seen, and the mark
  // stops before it until the page shows it.
  function markRead () {
    if (!state.current || document.visibilityState !== 'visible') return
    const newest = new Map()
    for (const m of state.msgs) if (m.head[0] !== state.app.id) newest.set(m.head[0], m)
    const opts = !state.atStart && state.msgs.length ? { from: state.msgs[0].key } : {}
    for (const [by, m] of newest) {
      const key = `${state.current} ${by}`
      const sent = `${m.id} ${opts.from || ''}`
      if (state.readSent.get(key) === sent) continue
      state.readSent.set(key, sent)
      state.app.read(state.current, m.id, opts).catch(() => {})
        .finally(() => { document.body.dataset.reads = String(++readsDone) }) // for tests: the marks the app has taken
    }
  }
  let readsDone = 0

  async function jumpTo (id) {
    for (let i = 0; i < 40 && !state.byId.has(id) && !state.atStart; i++) await loadOlder()
    const m = state.byId.get(id)
    if (!m) return
    m.node.scrollIntoView({ block: 'center' })
    m.node.classList.add('flash')
    m.node.tabIndex = -1
    m.node.focus()
    setTimeout(() => m.node.classList.remove('flash'), 1500)
  }

  function olderHint () {
    $('older').textContent = state.atStart ? 'Start of the task.' : 'Scroll up for older messages.'
  }

  function loadOlder () {
    if (state.atStart || !state.msgs.length) return Promise.resolve()
    if (state.loadingOlder) return state.loadingOlder
    const id = state.current
    const sc = $('scroller')
    state.loadingOlder = (async () => {
      const before = sc.scrollHeight - sc.scrollTop
      const page = await state.app.timeline(id, { before: state.msgs[0].key, limit: PAGE })
      if (state.current !== id) return
      state.atStart = page.length < PAGE
      page.forEach(insert)
      sc.scrollTop = sc.scrollHeight - before
      olderHint()
      showAbove()
    })().finally(() => { state.loadingOlder = null })
    return state.loadingOlder
  }

  const nearEnd = () => { const sc = $('scroller'); return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 80 }
  const scrollToEnd = () => {
    if (endSoon) { cancelAnimationFrame(endSoon); endSoon = 0 }
    const sc = $('scroller'); sc.scrollTop = sc.scrollHeight
  }
  // followEnd keeps the timeline at its end as messages come: at the next
  // frame, once for however many batches came meanwhile. Scrolling at once
  // laid the page out for each batch, before the frame laid it out again.
  let endSoon = 0
  const followEnd = () => { if (!endSoon) endSoon = requestAnimationFrame(() => { endSoon = 0; scrollToEnd() }) }

  // Messages arrive one event each; those that arrive together (the module
  // hands them over in one turn of the event loop) are shown in one batch,
  // at the end of that turn (a microtask: no timer's delay), so a catch-up
  // of thousands costs one layout, not one each.
  let pending = []
  let many = false // messages came as one event of their count (a catch-up): read the newest page
  let flushTimer = null
  function onMessage (ev) {
    if (ev.task !== state.current) return
    if (!ev.message) many = many || ev.count > 0
    else if (onChange(ev.message)) return // an edit or a delete: not a line of its own
    else pending.push(ev.message)
    if (!flushTimer) { flushTimer = true; queueMicrotask(flush) }
  }

  async function flush () {
    flushTimer = null
    const batch = pending
    const afresh = many
    pending = []
    many = false
    const id = state.current
    const follow = endSoon !== 0 || nearEnd()
    if (afresh || (batch.length > PAGE && follow)) {
      // Many at once (a catch-up): show the newest page afresh.
      const page = await state.app.timeline(id, { limit: PAGE })
      if (state.current !== id) return
      state.msgs = []
      state.byId.clear()
      $('timeline').replaceChildren()
      state.atStart = page.length < PAGE
      page.forEach(insert)
      olderHint()
    } else {
      for (const m of batch) {
        if (state.msgs.length && m.key < state.msgs[0].key && !state.atStart) continue // older than what is shown: loads on scroll
        insert(m)
      }
    }
    if (follow) followEnd()
    // Read marks go to the module after the frame that shows the messages:
    // calling it now would run its ready work before the paint. (Not later:
    // a tab closed or reloaded meanwhile would show the messages unread
    // again.)
    if (!readSoon) readSoon = setTimeout(() => { readSoon = null; markRead() }, 0)
    refreshMembersSoon()
  }
  let readSoon = null

  // ---- composer ----------------------------------------------------------

  function replyTo (m) {
    state.replyTo = m
    $('replying-text').textContent = `Replying to ${who(m.head[0])}: ${clip((m.data && m.data.text) || '', 80)}`
    $('replying').hidden = false
    $('text').focus()
    uiDraft()
  }
  function cancelReply () { state.replyTo = null; $('replying').hidden = true }

  async function send (e) {
    e.preventDefault()
    const files = attached()
    const t = $('text').value.replace(/^[\r\n]+|[\r\n]+$/g, '') || fileCaption(files) // blank lines around a message are not part of it
    if (!t.trim() || !state.current || overLimit()) return
    $('send-status').textContent = ''
    try {
      const m = await state.app.send(state.current, t, Object.assign(state.replyTo ? { replyTo: state.replyTo.id } : {}, files.length ? { files } : {}))
      $('text').value = ''
      updateCount()
      clearAttached()
      cancelReply()
      uiSent()
      insert(m)
      scrollToEnd()
    } catch (err) {
      $('send-status').textContent = `Not sent: ${err.message}`
      storageError(err)
    }
  }

  // ---- join --------------------------------------------------------------

  async function join (e) {
    e.preventDefault()
    if (state.join) return
    const code = $('join-code').value.trim()
    const status = $('join-status')
    state.join = new AbortController()
    $('join').disabled = true
    $('join-cancel').hidden = false
    setState(status, 'Connecting to the host… (waiting while they are offline)', 'waiting')
    try {
      const t = await state.app.join(code, { signal: state.join.signal })
      setState(status, `Joined “${t.title}”.`, '')
      $('join-code').value = ''
      await refreshTasks()
      await select(t.id)
    } catch (err) {
      setState(status, state.join.signal.aborted ? 'Join cancelled.' : err.message, 'error')
    } finally {
      state.join = null
      $('join').disabled = false
      $('join-cancel').hidden = true
    }
  }

  // ---- debug -------------------------------------------------------------

  // exportBooks downloads a backup: with a passphrase it holds the identity
  // (the seed, sealed); without, only the books. It says which it made;
  // false if the user cancelled.
  async function exportBooks () {
    const passphrase = prompt('A passphrase to seal your identity into the backup (needed to restore it).\nLeave it empty to export the books only: that backup does not hold your identity and cannot restore this profile.')
    if (passphrase === null) return false
    const ex = await state.app.export(passphrase ? { passphrase } : {})
    said(passphrase ? 'backup with your identity exported (keep the passphrase)' : 'books exported: this backup does not hold your identity', 'ok')
    const a = el('a', { href: URL.createObjectURL(new Blob([JSON.stringify(ex)], { type: 'application/json' })), download: `taskmessenger-${profile}.json` })
    a.click()
    URL.revokeObjectURL(a.href)
    return true
  }

  async function importBooks (e) {
    const file = e.target.files[0]
    if (!file) return
    try {
      const text = await file.text()
      let opts = {}
      try {
        if (JSON.parse(text).seal) {
          const passphrase = prompt('This backup holds an identity. Its passphrase restores it (empty: import the books only):')
          if (passphrase === null) { e.target.value = ''; return }
          if (passphrase) opts = { passphrase }
        }
      } catch (_) {} // import says what is wrong with the file
      const before = state.app.id
      const res = await state.app.import(text, opts)
      if (state.app.id !== before) { location.reload(); return } // restored another identity
      said(`imported ${res.length} books`, 'ok')
      await refreshTasks()
    } catch (err) {
      said(`import failed: ${err.message}`, 'error')
    }
    e.target.value = ''
  }

  // showRecovery shows the profile's recovery code, after a warning: it is
  // the whole identity.
  async function showRecovery () {
    if (!$('recovery').hidden) { hideRecovery(); return }
    if (!confirm('Your recovery code is your whole identity: anyone who reads it can write as you in every task. Show it now (check nobody is looking at your screen)?')) return
    try {
      $('recovery-code').textContent = await state.app.recoveryCode()
      $('recovery').hidden = false
    } catch (err) {
      said(`no recovery code: ${err.message}`, 'error')
    }
  }

  function hideRecovery () {
    $('recovery-code').textContent = ''
    $('recovery').hidden = true
  }

  // recoverFromCode makes this (empty) profile the identity of a recovery
  // code; its tasks and messages come back from its members as they come
  // online.
  async function recoverFromCode () {
    const code = prompt('Your recovery code (tmr1-…). This browser\'s profile must be empty: the code replaces its identity, and your tasks come back from your members when they are online.')
    if (!code) return
    try {
      const st = await state.app.recover(code)
      $('me-id').textContent = state.app.id
      showRestore(st)
      await refreshTasks()
    } catch (err) {
      said(`not restored: ${err.message}`, 'error')
    }
  }

  // showRestore says where a restore from a recovery code stands.
  function showRestore (st) {
    if (!st || !st.restored) return
    const back = `${st.tasks} task${st.tasks === 1 ? '' : 's'} and ${st.messages} of your messages back`
    if (st.active) {
      const waiting = st.waiting.length ? `; waiting for ${st.waiting.map(short).join(', ')}` : '; waiting for your members to come online'
      $('restore-text').textContent = `Restoring from your members: ${back}${waiting}. You can write once they answered (or stop waiting: a member who answers later still gives back what it holds).`
      $('restore-finish').hidden = false
    } else {
      $('restore-text').textContent = `Restored: ${back}.`
      $('restore-finish').hidden = true
    }
    $('restore-status').hidden = false
  }

  async function reset () {
    const lost = `Reset deletes profile “${profile}” from this browser: its identity (your id, which your tasks' members know you by), and every task, message and book it holds here. A new identity replaces it; without a backup holding the identity, or its recovery code, nothing of it can be restored.`
    if (confirm(`${lost}\n\nExport a backup first? (OK: export, then reset; Cancel: go on without one)`)) {
      try {
        if (!(await exportBooks())) return
      } catch (err) {
        said(`export failed: ${err.message}`, 'error')
        return
      }
    }
    if (!confirm(`${lost}\n\nReset now? This cannot be undone.`)) return
    await state.app.reset()
    location.reload()
  }

  // ---- devices -------------------------------------------------------------

  // refreshPerson learns the person this device belongs to: its own id on
  // a first device, another after this browser was linked.
  async function refreshPerson () {
    state.person = await state.app.person().catch(() => state.person)
    $('me-id').title = state.person && state.person !== state.app.id
      ? `this device's id; you (the person) are ${state.person}`
      : 'your peer id'
    showLinkForm()
  }

  // showLinkForm offers, on a fresh profile's first screen, to link this
  // browser to an account shown on another device.
  function showLinkForm () {
    const fresh = state.tasks.size === 0 && state.person != null && state.person === state.app.id
    $('link-form').hidden = !fresh && !state.link
  }

  // defaultLabel names this browser for the devices list ("Chromium on Linux").
  function defaultLabel () {
    const ua = navigator.userAgent
    const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'browser'
    const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : ''
    return os ? `${browser} on ${os}` : browser
  }

  // linkThis links this (empty) profile to the account whose other device
  // shows the code typed; Cancel aborts the wait.
  async function linkThis (e) {
    e.preventDefault()
    if (state.link) return
    const code = $('link-input').value.trim()
    const label = $('link-label').value.trim() || defaultLabel()
    const status = $('link-form-status')
    state.link = new AbortController()
    $('link').disabled = true
    $('link-cancel').hidden = false
    setState(status, 'Connecting to your other device… (keep its code shown)', 'waiting')
    try {
      await state.app.link(code, { label, signal: state.link.signal })
      setState(status, 'Linked: this browser is one of your devices now. Your tasks arrive from your other devices and members.', '')
      $('link-input').value = ''
      await refreshPerson()
      await refreshTasks()
      refreshDevices()
    } catch (err) {
      setState(status, state.link.signal.aborted ? 'Link cancelled.' : err.message, 'error')
    } finally {
      state.link = null
      $('link').disabled = false
      $('link-cancel').hidden = true
    }
  }

  function toggleDevices () {
    const show = $('devices').hidden
    $('devices').hidden = !show
    $('show-devices').setAttribute('aria-expanded', String(show))
    if (show) refreshDevices()
  }

  // refreshDevices lists the person's devices in the Devices panel.
  const devicesTurn = turns()
  async function refreshDevices () {
    if ($('devices').hidden || state.stopped) return
    const fresh = devicesTurn()
    let ds
    try {
      ds = await state.app.devices()
    } catch (err) {
      setState($('link-status'), `No devices: ${err.message}`, 'error')
      return
    }
    if (!fresh()) return
    $('device-list').replaceChildren(...ds.map(renderDevice))
    if (!ds.length) $('device-list').append(el('li', { class: 'hint', text: 'Only this browser so far.' }))
  }

  function renderDevice (d) {
    const name = clip(d.label || short(d.id), 64)
    const by = d.revokedBy ? ` by ${d.revokedBy === state.app.id ? 'this browser' : short(d.revokedBy)}` : ''
    const text = name + (d.self ? ' (this browser)' : '') + (d.holder ? ' · holds your identity key' : '') +
      (d.revoked ? ` · revoked${by}` : d.self ? '' : d.online ? ' · online' : ' · offline')
    const title = String(d.id) + (d.created ? `\nlinked ${new Date(d.created).toLocaleString()}` : '')
    const li = el('li', { class: d.revoked ? 'revoked' : d.self || d.online ? 'on' : 'off', title, 'data-device': d.id }, text)
    if (!d.revoked && !d.self) {
      li.append(el('button', { type: 'button', class: 'revoke-device', 'aria-label': 'Revoke ' + name, text: 'revoke', onclick: () => revokeDevice(d.id, name) }))
    }
    return li
  }

  // revokeDevice revokes a device of the person (lost, sold), after a confirm.
  async function revokeDevice (id, name) {
    if (!confirm(`Revoke “${name}”? It can no longer write, and reads nothing new in your tasks; what it wrote so far stays. This cannot be undone.`)) return
    try {
      await state.app.revokeDevice(id)
      setState($('link-status'), `Revoked “${name}”.`, '')
    } catch (err) {
      setState($('link-status'), `Not revoked: ${err.message}`, 'error')
    }
    refreshDevices()
  }

  // linkDevice shows a new pairing code, its QR image and how long it is valid.
  async function linkDevice () {
    setState($('link-status'), 'Making a pairing code…', 'waiting')
    try {
      const offer = await state.app.linkDevice({})
      $('link-code').textContent = offer.code
      $('link-qr').src = offer.qr
      $('link-offer').hidden = false
      setState($('link-status'), 'Waiting for the new device…', 'waiting')
      countdown(offer.expires)
    } catch (err) {
      setState($('link-status'), `No code: ${err.message}`, 'error')
    }
  }

  function countdown (expires) {
    clearInterval(state.expiry)
    const tick = () => {
      const left = Math.max(0, Math.round((expires - Date.now()) / 1000))
      $('link-expiry').textContent = `Valid for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`
      if (!left) endOffer()
    }
    tick()
    state.expiry = setInterval(tick, 1000)
  }

  function endOffer () {
    clearInterval(state.expiry)
    state.expiry = null
    $('link-offer').hidden = true
    $('link-code').textContent = ''
    $('link-qr').removeAttribute('src')
  }

  // onLink follows the code shown: waiting (perhaps after a wrong try),
  // linked, failed (expired, spent, refused).
  function onLink (ev) {
    const status = $('link-status')
    if (ev.state === 'linked') {
      endOffer()
      setState(status, `Linked “${ev.label || short(ev.device)}”.`, '')
      refreshDevices()
    } else if (ev.state === 'failed') {
      endOffer()
      setState(status, `The code no longer works: ${ev.error || 'ended'}`, 'error')
    } else {
      setState(status, ev.error ? `${ev.error}. Still waiting for the new device…` : 'Waiting for the new device…', 'waiting')
    }
  }

  // ---- where this tab connects --------------------------------------------

  // localEndpoint tells whether an address from the URL may be used: a
  // loopback host the page's Content-Security-Policy lets it reach
  // (127.0.0.1, localhost) or this page's own origin.
  function localEndpoint (raw) {
    let u
    try { u = new URL(raw, location.href) } catch (_) { return false }
    if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol) || u.username || u.password) return false
    return u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.host === location.host
  }

  // showReporting says plainly when this tab streams its books to a
  // devtools server, and which addresses from the link were ignored.
  function showReporting (devtools, ignored) {
    const note = $('report-note')
    const lines = []
    if (devtools) lines.push(`This tab reports to devtools at ${devtools}: it sees every book of this profile and can export, import or reset it.`)
    if (ignored.length) lines.push(`Ignored from the link (not a local address): ${ignored.join(', ')}.`)
    note.textContent = lines.join(' ')
    note.hidden = lines.length === 0
    note.dataset.devtools = devtools || ''
  }

  // ---- UI state ------------------------------------------------------------

  // The page's state survives a reload: the task selected, the tree's
  // collapsed tasks, and per task the scroll position and the draft (with
  // the message it replies to). It is kept in the profile's private book
  // (app.uiState / app.setUIState): only what changed is merged in, at most
  // once a second and when the tab is hidden, so typing never waits on
  // storage, and two tabs of a profile do not undo each other's drafts.
  const UI_EVERY = 1000 // ms between two writes
  const MAX_DRAFT = 16384 // bytes of a draft: a message's limit
  const ui = {
    saved: {}, // the state as loaded, with this tab's changes
    patch: {}, // changes not written yet
    typed: null, // the task the user typed in since it was selected
    timer: null,
    scrolled: null, // the task whose scroll position changed
    restoring: false // a task's scroll position is being restored
  }

  // uiPut records a change: key (or key[sub]) is value; null deletes it.
  function uiPut (key, sub, value) {
    // Nothing written for what the state holds already: a tab that opens
    // the task another tab saved (a follower, whose writes go through the
    // writer tab) writes nothing.
    const held = sub == null ? ui.saved[key] : (ui.saved[key] || {})[sub]
    if (JSON.stringify(held ?? null) === JSON.stringify(value ?? null)) return
    if (sub == null) {
      ui.patch[key] = value
      if (value == null) delete ui.saved[key]; else ui.saved[key] = value
    } else {
      if (!ui.patch[key] || typeof ui.patch[key] !== 'object') ui.patch[key] = {}
      ui.patch[key][sub] = value
      if (!ui.saved[key] || typeof ui.saved[key] !== 'object') ui.saved[key] = {}
      if (value == null) delete ui.saved[key][sub]; else ui.saved[key][sub] = value
    }
    if (!ui.timer) ui.timer = setTimeout(uiSave, UI_EVERY)
  }

  // uiSave writes the changes so far.
  function uiSave () {
    clearTimeout(ui.timer)
    ui.timer = null
    if (ui.scrolled) uiKeepScroll(ui.scrolled)
    const patch = ui.patch
    if (!Object.keys(patch).length || !state.app || state.stopped) return Promise.resolve()
    ui.patch = {}
    document.body.dataset.uiSaving = '1'
    return state.app.setUIState(patch, { merge: true }).then(() => {
      document.body.dataset.uiSaved = String(Date.now())
    }, (err) => {
      if (state.stopped) return
      if (!/bad UI state/.test(err.message)) { // not refused: try again with what changed since
        ui.patch = uiMerge(patch, ui.patch)
        if (!ui.timer) ui.timer = setTimeout(uiSave, 5 * UI_EVERY)
      }
      $('send-status').textContent = `Your drafts and place in the tasks are not saved yet: ${err.message}`
    }).finally(() => { delete document.body.dataset.uiSaving })
  }

  // uiMerge is the patch of older changes, then newer ones.
  function uiMerge (older, newer) {
    const out = { ...older }
    for (const [k, v] of Object.entries(newer)) {
      out[k] = v && typeof v === 'object' && out[k] && typeof out[k] === 'object' ? { ...out[k], ...v } : v
    }
    return out
  }

  // uiLoad reads the saved state and applies what is not per task.
  async function uiLoad () {
    ui.saved = await state.app.uiState().catch(() => ({})) || {}
    const c = ui.saved.collapsed
    if (c && typeof c === 'object') for (const id of Object.keys(c)) state.collapsed.add(id)
    // Saved when the tab is hidden (also before it closes or navigates away),
    // not on pagehide: a page frozen into the back-forward cache would keep
    // the write's IndexedDB transaction open, and the profile with it.
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') uiSave() })
    window.addEventListener('hashchange', () => {
      const id = hashTask()
      if (id && id !== state.current && state.tasks.has(id)) select(id)
    })
    $('text').addEventListener('input', () => { ui.typed = state.current; uiDraft() })
    $('reply-cancel').addEventListener('click', uiDraft)
    $('scroller').addEventListener('scroll', () => {
      if (ui.restoring || !state.current) return
      // At the end, where the page itself scrolls as messages come, and
      // where a task is shown by default: nothing new to keep.
      const sc = $('scroller')
      const held = (ui.saved.scroll || {})[state.current]
      if (sc.scrollHeight - sc.scrollTop - sc.clientHeight < 4 && (!held || held.end)) return
      ui.scrolled = state.current
      if (!ui.timer) ui.timer = setTimeout(uiSave, UI_EVERY)
    })
  }

  // hashTask is the task of the URL: #task=…, or the older ?task=….
  function hashTask () {
    const h = new URLSearchParams(location.hash.slice(1)).get('task')
    return h || params.get('task') || ''
  }

  // uiFirstTask opens the task of the URL, else the one selected last.
  async function uiFirstTask () {
    for (const id of [hashTask(), ui.saved.selected]) {
      if (typeof id === 'string' && state.tasks.has(id)) { await select(id); return }
    }
  }

  // uiCollapsed records a subtree collapsed or expanded.
  function uiCollapsed (id, collapsed) { uiPut('collapsed', id, collapsed ? Date.now() : null) }

  // uiSelected records the task selected, in the state and the URL, and
  // keeps the scroll position of the one left.
  function uiSelected (prev, id) {
    if (prev && prev !== id) uiKeepScroll(prev)
    ui.restoring = true // until uiRestore: the timeline's scrolling is the page's, not the user's
    ui.sent = false
    uiPut('selected', null, id)
    const url = new URL(location.href)
    url.searchParams.delete('task')
    url.hash = 'task=' + encodeURIComponent(id)
    if (url.href !== location.href) history.replaceState(history.state, '', url.href)
  }

  // uiKeepScroll records where a task's timeline is scrolled: at the end,
  // or the message at the top and how far into it.
  function uiKeepScroll (id) {
    if (ui.scrolled === id) ui.scrolled = null
    if (id !== state.current || !state.msgs.length || ui.restoring) return
    const sc = $('scroller')
    if (nearEnd()) { uiPut('scroll', id, { end: true, at: Date.now() }); return }
    const top = sc.getBoundingClientRect().top
    const m = state.msgs.find((x) => x.node && x.node.getBoundingClientRect().bottom > top)
    if (m) uiPut('scroll', id, { key: m.key, offset: Math.round(top - m.node.getBoundingClientRect().top), at: Date.now() })
  }

  // uiRestore puts back a task's draft, the message it replies to, and its
  // scroll position, once its newest messages are shown.
  async function uiRestore (id, draftOnly) {
    document.body.dataset.uiRestoring = '1'
    try {
      await uiRestoreTask(id, draftOnly)
    } finally {
      setTimeout(() => { if (state.current === id) ui.restoring = false }, 0)
      if (state.current === id) delete document.body.dataset.uiRestoring
    }
  }

  async function uiRestoreTask (id, draftOnly) {
    const fresh = await state.app.uiState().catch(() => null) // another tab may have written since
    if (state.current !== id) return
    const pending = ui.patch.drafts && id in ui.patch.drafts
    const d = pending ? ui.patch.drafts[id] : (fresh && fresh.drafts && fresh.drafts[id]) || (ui.saved.drafts || {})[id]
    if (ui.typed !== id) { // what the user typed meanwhile stays
      const put = putDraft(d)
      if (put && typeof put.replyTo === 'string' && state.byId.has(put.replyTo)) replyTo(state.byId.get(put.replyTo))
    }
    const s = ((fresh && fresh.scroll) || ui.saved.scroll || {})[id]
    if (draftOnly || !s || s.end || typeof s.key !== 'string' || ui.sent) return
    for (let i = 0; i < 20 && !state.atStart && state.msgs.length && state.msgs[0].key > s.key; i++) await loadOlder()
    if (state.current !== id || ui.sent) return // a message sent meanwhile: the end is where the user is
    const m = state.msgs[Math.min(position(s.key), state.msgs.length - 1)]
    if (m && m.node) {
      const sc = $('scroller')
      sc.scrollTop += m.node.getBoundingClientRect().top - sc.getBoundingClientRect().top + (Number(s.offset) || 0)
    }
  }

  // putDraft shows draft d in the composer (empty for none, or one sent
  // already) and returns it if shown.
  function putDraft (d) {
    const put = d && typeof d.text === 'string' && !sentAlready(d) ? d : null
    $('text').value = put ? put.text : ''
    updateCount()
    return put
  }

  // sentAlready: a draft that this profile sent after it was saved (the
  // tab closed before the emptied draft was) is not put back, or a reopened
  // tab would offer to send the message again; nor one saved half-typed
  // (a message of this profile sent after it begins with its text).
  function sentAlready (d) {
    const t = d.text.replace(/^[\r\n]+/, '')
    const at = Number(d.at) || 0
    return t.trim() !== '' && state.msgs.some((m) => m.type === 'chat' && mineBy(m.person || m.head[0]) && m.data && typeof m.data.text === 'string' &&
      m.data.text.startsWith(t.replace(/[\r\n]+$/, '')) && new Date(m.meta && m.meta.date).getTime() >= at)
  }

  // uiSent: a message went out; the draft is gone, saved at once (a tab
  // closed now must not offer it again), and the timeline's end is where
  // the user is.
  function uiSent () {
    ui.sent = true
    uiDraft()
    uiSave()
  }

  // uiDraft records the current task's draft (and the message it replies to).
  function uiDraft () {
    if (!state.current) return
    let text = $('text').value
    while (new TextEncoder().encode(text).length > MAX_DRAFT) text = text.slice(0, text.length - 64)
    uiPut('drafts', state.current, text || state.replyTo ? { text, replyTo: state.replyTo ? state.replyTo.id : '', at: Date.now() } : null)
  }

  // ---- status marks --------------------------------------------------------

  // A message of this profile's carries marks like other messengers show:
  // ✓ saved here, ☁✓ on a mirror, ✓✓ delivered (grey while only some
  // members have it), ✓✓ in blue read; its words for screen readers, and
  // who has it on hover.
  const MARKS = { saved: '✓', mirror: '☁✓', partial: '✓✓', delivered: '✓✓', read: '✓✓' }

  function statusKind (word) {
    if (word === 'read' || word === 'delivered') return word
    if (word.startsWith('on a mirror')) return 'mirror'
    return word.startsWith('delivered to') ? 'partial' : 'saved'
  }

  function statusMark (m) {
    const span = el('span', { class: 'status', role: 'img' })
    paintStatus(span, m)
    return span
  }

  // paintStatus writes a message's status mark; one that did not change is
  // left alone (every receipt repaints the page's statuses: writing the
  // same words again would have the browser restyle every message).
  function paintStatus (span, m) {
    const word = statusOf(m)
    const title = statusDetails(m)
    if (span.dataset.status === word && span.title === title) return
    const kind = statusKind(word)
    span.textContent = MARKS[kind]
    span.className = 'status ' + kind
    span.dataset.status = word
    span.setAttribute('aria-label', 'Status: ' + word)
    span.title = title
  }

  // statusDetails says, per member, whether a message reached them and was
  // read, and why not yet; then which mirrors hold it.
  function statusDetails (m) {
    const mid = midOf(m)
    const lines = []
    for (const devs of byPerson((state.members || []).filter((x) => !x.self && !x.removed))) {
      const best = devs.reduce((a, x) => (x.read > a.read || (x.read === a.read && x.received > a.received) ? x : a))
      const name = who(best.person || best.id)
      if (best.read >= mid) lines.push(`${name}: read`)
      else if (best.received >= mid) lines.push(`${name}: delivered, not read yet`)
      else lines.push(`${name}: not delivered yet — ${whyNot(best, mid)}`)
    }
    const held = vouchersOf(m)
    if (held) lines.push(held)
    return lines.length ? lines.join('\n') : 'saved here; nobody else is in this task yet'
  }

  // whyNot says in words why a member does not hold a message (mid) yet.
  function whyNot (x, mid) {
    const h = x.health || {}
    const why = h.why || []
    const mirror = (x.mirrored || 0) >= mid ? '; it waits for them on a mirror' : ''
    if (why.includes('you-removed')) return 'you were removed from this task'
    if (why.includes('removed')) return 'they were removed from this task'
    if (why.includes('fork')) return 'refused: they wrote different things to different members (a fork)'
    if (why.includes('not-a-member')) return `refused: they do not take you as a member${h.refusal ? ` (“${clip(h.refusal, 120)}”)` : ''}`
    if (!x.online) return `${since('offline', x.since)}${mirror}`
    if (why.includes('not-paired')) return 'still pairing with them'
    return `online via ${x.transport}, sending (they have ${h.ours ? h.ours.have : x.received} of ${h.ours ? h.ours.length : '?'} of yours)`
  }

  // since is "offline since 10:02" (a date if not today), or the word alone.
  function since (word, ms) {
    if (!ms) return word
    const d = new Date(ms)
    const today = d.toDateString() === new Date().toDateString()
    return `${word} since ${today ? minuteFormat.format(d) : dateTimeFormat.format(d)}`
  }

  // ---- sync health ---------------------------------------------------------

  // healthText is a member device's sync health in words: how it is
  // connected and since when, how far behind each way, and why not synced.
  function healthText (m) {
    const h = m.health
    if (!h) return m.online ? `online via ${m.transport}` : 'offline'
    const why = h.why || []
    const how = m.online ? since(`online via ${h.via}`, m.since) : since('offline', m.since) + (h.via === 'mirror' ? ', your messages wait on a mirror' : '')
    if (why.includes('you-removed')) return 'you were removed from this task'
    if (why.includes('fork')) return `${how} · refused: fork (they wrote different things to different members)`
    if (why.includes('not-a-member')) return `${how} · refused: they do not take you as a member` + (h.refusal ? ` (“${clip(h.refusal, 80)}”)` : '')
    if (why.includes('not-paired')) return `${how} · pairing…`
    const parts = [how]
    if (h.theirs.have < h.theirs.length) parts.push(`behind: you have ${h.theirs.have} of their ${h.theirs.length}`)
    if (h.ours.have < h.ours.length) {
      parts.push(`behind: they have ${h.ours.have} of your ${h.ours.length}` + (h.mirrored > h.ours.have ? ` (${h.mirrored} on a mirror)` : ''))
    }
    if (parts.length === 1) parts.push(m.online ? 'synced' : 'synced when last seen')
    if (h.ours.length > 0 && h.read >= h.ours.length) parts.push('read all of yours')
    return parts.join(' · ')
  }

  // healthTitle details a member device's health on hover.
  function healthTitle (m) {
    const h = m.health
    if (!h) return ''
    return `their messages: you have ${h.theirs.have} of ${h.theirs.length}\n` +
      `your messages: they have ${h.ours.have} of ${h.ours.length}, read ${h.read}, on a mirror ${h.mirrored}\n` +
      `connection: ${m.online ? h.via : 'none'}${m.since ? `, ${m.online ? 'up' : 'down'} since ${dateTimeFormat.format(new Date(m.since))}` : ''}`
  }

  // ---- storage -----------------------------------------------------------
  // Storage the user controls: the browser asked to keep the data
  // (navigator.storage.persist), what each task and the profile hold
  // (app.usage), leaving a task or deleting this copy of it (app.leave,
  // app.forget), and a full disk said plainly (QuotaExceededError).

  const storage = { usage: null, timer: null, open: false }

  function bytes (n) {
    if (n < 1024) return `${n} B`
    const units = ['KB', 'MB', 'GB', 'TB']
    let i = -1
    do { n /= 1024; i++ } while (n >= 1024 && i < units.length - 1)
    return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`
  }

  // showPersisted says whether the browser keeps this site's data, and
  // offers to ask it when not.
  async function showPersisted () {
    const s = navigator.storage
    const kept = !!(s && s.persisted && await s.persisted().catch(() => false))
    const note = $('persist-note')
    note.hidden = kept
    note.dataset.persisted = String(kept)
    $('persist-state').textContent = kept
      ? 'This browser keeps your messages: it will not clear them without asking you.'
      : 'This browser may clear your messages when space runs low.'
    $('persist').hidden = kept || !(s && s.persist)
    $('storage-persisted').textContent = kept ? 'kept by the browser' : 'may be cleared by the browser when space runs low'
    return kept
  }

  // askPersist asks the browser to keep this site's data (after a click,
  // or when the first task is made); it may say no.
  async function askPersist (fromButton) {
    const s = navigator.storage
    if (!s || !s.persist) return false
    const kept = await s.persist().catch(() => false)
    await showPersisted()
    if (fromButton && !kept) $('persist-state').textContent = 'The browser did not agree to keep your data (it decides from how you use this site): export a backup now and then.'
    return kept
  }

  // refreshUsage shows what each task and the whole profile hold.
  async function refreshUsage () {
    if (!state.app || state.stopped) return
    const u = await state.app.usage().catch((err) => { storageError(err); return null })
    if (!u) return
    const est = navigator.storage && navigator.storage.estimate ? await navigator.storage.estimate().catch(() => null) : null
    u.persisted = $('persist-note').dataset.persisted === 'true'
    if (est) { u.quota = est.quota; u.site = est.usage }
    storage.usage = u
    $('storage-total').textContent = `This profile holds ${bytes(u.total)}` +
      (est ? `; this site uses ${bytes(est.usage)} of the ${bytes(est.quota)} the browser allows it.` : '.')
    const rows = Object.entries(u.tasks).sort((a, b) => b[1] - a[1]).map(([id, n]) => {
      const t = state.tasks.get(id)
      return el('li', { 'data-task': id, 'data-bytes': String(n) },
        el('span', { class: 'title', text: t ? t.title : short(id) }), ' ',
        el('span', { class: 'size', text: bytes(n) }), ' ',
        el('button', { type: 'button', class: 'forget', 'aria-label': `Delete my copy of ${t ? t.title : short(id)}`, text: 'Delete my copy', onclick: () => confirmDrop(id, 'forget') }))
    })
    $('storage-tasks').replaceChildren(...rows)
    const cur = state.current && u.tasks[state.current]
    $('task-size').textContent = cur != null ? `${bytes(cur)} here` : ''
  }

  function refreshUsageSoon () {
    if (!storage.open || storage.timer) return
    storage.timer = setTimeout(() => { storage.timer = null; refreshUsage() }, 1000)
  }

  // confirmDrop asks before leaving a task or deleting this copy of it.
  function confirmDrop (id, how) {
    const t = state.tasks.get(id)
    const title = t ? t.title : short(id)
    $('drop-text').textContent = how === 'leave'
      ? `Leave “${title}”? The members are told you left, and your copy of it is deleted from this browser.`
      : `Delete your copy of “${title}” from this browser? The members keep theirs, and are not told.`
    $('drop-confirm').textContent = how === 'leave' ? 'Leave' : 'Delete my copy'
    $('drop').dataset.task = id
    $('drop').dataset.how = how
    $('drop').hidden = false
    $('drop-cancel').focus()
  }

  async function drop () {
    const { task, how } = $('drop').dataset
    $('drop').hidden = true
    $('drop-status').textContent = how === 'leave' ? 'Telling the members you leave…' : 'Deleting…'
    try {
      const r = await state.app[how](task)
      $('drop-status').textContent = `${how === 'leave' ? 'Left the task' : 'Deleted your copy'}: ${bytes(r.freed)} freed.`
      if (state.current === task) {
        state.current = null
        $('room').hidden = true
        $('empty').hidden = false
      }
      await refreshTasks()
      await refreshUsage()
      $('storage-full').hidden = true
    } catch (err) {
      $('drop-status').textContent = `Not done: ${err.message}`
    }
  }

  // storageError says so when the browser's storage is full; it returns
  // nothing, for a caller's .catch.
  function storageError (err) {
    if (err && (err.name === 'QuotaExceededError' || /storage is full/.test(err.message))) {
      $('storage-full').hidden = false
      if (!storage.open) toggleStorage()
    } else if (err) {
      $('send-status').textContent = err.message
    }
  }

  function toggleStorage () {
    storage.open = $('storage').hidden
    $('storage').hidden = !storage.open
    $('show-storage').setAttribute('aria-expanded', String(storage.open))
    if (storage.open) refreshUsage()
  }

  function setupStorage (app) {
    $('persist').addEventListener('click', () => askPersist(true))
    $('show-storage').addEventListener('click', toggleStorage)
    $('hide-storage').addEventListener('click', toggleStorage)
    $('leave-task').addEventListener('click', () => state.current && confirmDrop(state.current, 'leave'))
    $('forget-task').addEventListener('click', () => state.current && confirmDrop(state.current, 'forget'))
    $('drop-confirm').addEventListener('click', drop)
    $('drop-cancel').addEventListener('click', () => { $('drop').hidden = true })
    app.on('message', refreshUsageSoon)
    app.on('task', refreshUsageSoon)
    app.on('error', (ev) => { if (/storage is full/.test(ev.error || '')) storageError({ message: ev.error }) })
    showPersisted()
  }

  // ---- offline -------------------------------------------------------------

  // The service worker (sw.js) keeps the app so that the page opens without
  // a server. A new version installs beside the running one and waits: the
  // page offers to reload into it, and a page left on the old version stops
  // writing the profile once another tab took the new one.
  const offline = {
    reg: null, // the ServiceWorkerRegistration
    controlled: false, // a worker served this page
    updating: false, // this tab asked the new version to take over
    registering: false // registerWorker ran
  }

  // watchWorker follows the worker that serves this page from the start: a
  // new version taking over in another tab stops this one.
  function watchWorker () {
    if (!('serviceWorker' in navigator)) return
    const sw = navigator.serviceWorker
    offline.controlled = !!sw.controller
    sw.addEventListener('controllerchange', () => {
      if (offline.updating) location.reload()
      else if (offline.controlled) staleTab()
      offline.controlled = true
    })
  }

  // registerWorker registers the service worker and follows its versions
  // (once, after the first page: an install fetches the whole shell).
  function registerWorker () {
    if (!('serviceWorker' in navigator) || offline.registering) return
    offline.registering = true
    const sw = navigator.serviceWorker
    sw.register('sw.js').then((reg) => {
      offline.reg = reg
      if (reg.waiting && sw.controller) showUpdate('ready')
      if (sw.controller) reg.update().catch(() => {}) // a new version? (fails quietly without a server)
      reg.addEventListener('updatefound', () => {
        const w = reg.installing
        if (!w) return
        w.addEventListener('statechange', () => { if (w.state === 'installed' && sw.controller) showUpdate('ready') })
      })
      // A tab left open looks for a new version when it is shown again.
      document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') reg.update().catch(() => {}) })
    }).catch((err) => console.warn('taskmessenger page: no service worker:', err.message))
    $('update-reload').addEventListener('click', takeUpdate)
  }

  const updateTexts = {
    ready: 'A new version of task-messenger is ready.',
    stale: 'A new version of task-messenger took over in another tab: this tab stopped, so that the old version no longer writes your profile. Reload to go on.',
    newer: 'This profile was saved by a newer version of task-messenger than this page runs: nothing was changed. Reload to use the new version.',
    lost: 'The browser closed this profile\'s storage (another tab upgraded, reset or cleared it): this tab stopped. Reload to go on.'
  }

  function showUpdate (kind) {
    $('update-text').textContent = updateTexts[kind]
    $('update').dataset.kind = kind
    $('update').hidden = false
  }

  // staleTab stops this page: another tab runs a newer version now.
  function staleTab () {
    showUpdate('stale')
    state.stopped = true
    $('send').disabled = $('text').disabled = true
    if (state.app) state.app.close()
  }

  // staleModule tells whether an error of the module means a newer version
  // wrote (or upgraded) the profile's store; it says so on the page.
  function staleModule (err) {
    const msg = String(err && err.message)
    const kind = /newer version of the program/.test(msg) ? 'newer' : /connection closed by the browser/.test(msg) ? 'lost' : ''
    if (kind) showUpdate(kind)
    return !!kind
  }

  // takeUpdate moves to the new version: the waiting worker takes over and
  // every tab of the app reloads (this one at once; the others stop).
  async function takeUpdate () {
    const reg = offline.reg
    if (!reg || $('update').dataset.kind === 'stale') { location.reload(); return }
    await reg.update().catch(() => {})
    const w = reg.waiting || reg.installing
    if (!w) { location.reload(); return }
    offline.updating = true
    $('update-text').textContent = 'Loading the new version…'
    const activate = () => w.postMessage({ type: 'activate' })
    if (w.state === 'installed') activate()
    else w.addEventListener('statechange', () => { if (w.state === 'installed') activate() })
  }

  // ---- keyboard and screen readers -----------------------------------------

  // Messages from others are said to screen readers (one live region):
  // the author and the text, or how many when several come together.
  let heard = []
  let heardTimer = null
  function announce (ev) {
    const m = ev.message
    if (!m || m.pending || m.type !== 'chat' || !Array.isArray(m.head) || m.head[0] === state.app.id || (m.person && m.person === state.person)) return
    heard.push(ev)
    if (!heardTimer) heardTimer = setTimeout(sayHeard, 200)
  }

  function sayHeard () {
    heardTimer = null
    const evs = heard
    heard = []
    const title = (task) => (state.tasks.get(task) || {}).title || 'a task'
    const where = (task) => task === state.current ? '' : ` in “${clip(title(task), 60)}”`
    if (evs.length === 1) {
      const m = evs[0].message
      $('announce').textContent = `${who(m.person || m.head[0])}${where(evs[0].task)}: ${clip((m.data && m.data.text) || '', 200)}`
    } else {
      const tasks = new Set(evs.map((ev) => ev.task))
      $('announce').textContent = `${evs.length} new messages` + (tasks.size === 1 ? where(evs[0].task) : ` in ${tasks.size} tasks`)
    }
  }

  // ---- start -------------------------------------------------------------

  // ---- search --------------------------------------------------------------

  // The search box finds the messages of every task (or of the selected
  // one) as the user types (app.search: messages with a word starting
  // with each word typed, newest first); a result opens its task at the
  // message.
  const SEARCH_LIMIT = 20
  const search = { timer: null, seq: 0 }

  function setupSearch (app) {
    const input = $('search-input')
    input.addEventListener('input', () => searchSoon(60))
    $('search-here').addEventListener('change', () => searchSoon(0))
    input.addEventListener('keydown', (e) => {
      const first = $('search-results').querySelector('button')
      if (e.key === 'Enter' && first) { e.preventDefault(); first.click() }
      if (e.key === 'ArrowDown' && first) { e.preventDefault(); first.focus() }
      if (e.key === 'Escape') { input.value = ''; searchSoon(0) }
    })
    $('search-results').addEventListener('keydown', (e) => {
      const items = [...$('search-results').querySelectorAll('button')]
      const i = items.indexOf(document.activeElement)
      if (i < 0) return
      if (e.key === 'ArrowDown' && i + 1 < items.length) { e.preventDefault(); items[i + 1].focus() }
      if (e.key === 'ArrowUp') { e.preventDefault(); (i ? items[i - 1] : input).focus() }
    })
    // New messages may match: search again, a little later.
    app.on('message', () => { if (input.value.trim()) searchSoon(400) })
  }

  function searchSoon (ms) {
    clearTimeout(search.timer)
    search.timer = setTimeout(runSearch, ms)
  }

  async function runSearch () {
    const q = $('search-input').value
    const seq = ++search.seq
    const list = $('search-results')
    if (!q.trim()) {
      list.replaceChildren()
      $('search-status').textContent = ''
      return
    }
    const opts = { limit: SEARCH_LIMIT }
    if ($('search-here').checked && state.current) opts.task = state.current
    let found
    try {
      found = await state.app.search(q, opts)
    } catch (err) {
      if (seq !== search.seq) return
      list.replaceChildren()
      $('search-status').textContent = `Search failed: ${err.message}`
      return
    }
    if (seq !== search.seq) return // a newer keystroke's search answers
    list.replaceChildren(...found.map(renderResult))
    $('search-status').textContent = found.length
      ? `${found.length}${found.length === SEARCH_LIMIT ? ' newest' : ''} found`
      : 'No message holds every word.'
  }

  function renderResult (r) {
    const t = state.tasks.get(r.task)
    const date = new Date(r.date)
    const when = isNaN(date.getTime()) ? '' : date.toLocaleString()
    return el('li', { class: 'result' },
      el('button', { type: 'button', 'data-id': r.id, 'data-task': r.task, onclick: () => openResult(r) },
        el('span', { class: 'result-where', text: `${clip(t ? t.title : short(r.task), 60)} · ${who(r.by)} · ${when}` }),
        el('span', { class: 'result-text', text: r.snippet })))
  }

  // openResult selects the result's task and shows the message, loading
  // older pages until it is there.
  async function openResult (r) {
    if (state.current !== r.task) await select(r.task)
    if (state.current !== r.task) return
    await jumpTo(r.id)
    const m = state.byId.get(r.id)
    for (const n of $('timeline').querySelectorAll('.msg.found')) n.classList.remove('found')
    if (m) m.node.classList.add('found')
    else $('search-status').textContent = 'That message is far back in its task: scroll up to reach it.'
  }

  // ---- names, edits and limits (issue #16) --------------------------------

  const named = {
    names: new Map(), // device or person id → the person's display name
    personOf: new Map(), // device id → person id
    quoted: new Map(), // "task id" → a reply's cause looked up (not loaded), in its newest version
    limits: { text: 16384, title: 200, name: 64 } // bytes; app.limits() replaces them
  }

  // nameFor is how the page names a person or device: its name, told apart
  // from another member of the task with the same name by its id's start;
  // the 8-character id prefix while no name is known.
  function nameFor (id) {
    const name = named.names.get(id)
    if (!name) return short(id)
    const person = named.personOf.get(id) || id
    const clash = (state.members || []).some((x) => (x.person || x.id) !== person && x.name === name)
    return clash ? `${name} (${short(person).slice(0, 4)})` : name
  }

  // idSuffix is the id shown beside a named member in the member list.
  const idSuffix = (id) => (named.names.has(id) ? ` · ${short(id)}` : '')

  function learnNames (ms) {
    for (const m of ms) {
      const person = m.person || m.id
      named.personOf.set(m.id, person)
      if (typeof m.name === 'string' && m.name) { named.names.set(m.id, m.name); named.names.set(person, m.name) }
    }
  }

  // learnName takes the author's name a message view carries.
  function learnName (m) {
    if (!m || !Array.isArray(m.head) || typeof m.name !== 'string' || !m.name) return
    const person = m.person || m.head[0]
    named.personOf.set(m.head[0], person)
    named.names.set(m.head[0], m.name)
    named.names.set(person, m.name)
  }

  // rerender draws a loaded message again (a name, an edit, a quote changed).
  function rerender (m) {
    if (!m.node) return
    const node = renderMessage(m)
    m.node.replaceWith(node)
    m.node = node
  }

  // onName: a member renamed: the member list and every line say the new name.
  async function onName (ev) {
    if (state.current) {
      const ms = await state.app.members(state.current).catch(() => null)
      if (ms) learnNames(ms)
      refreshMembersSoon()
    }
    state.msgs.forEach(rerender)
    if (ev.peer === state.person || ev.peer === state.app.id) showMyName(await state.app.name().catch(() => ''))
  }

  function showMyName (name) {
    $('my-name-text').textContent = name
    $('name-shown').hidden = !name
    $('name-form').hidden = !!name
    $('cancel-name').hidden = !name
    if (name) $('my-name').value = name
  }

  async function saveName (e) {
    e.preventDefault()
    const name = $('my-name').value
    const bytes = new TextEncoder().encode(name.trim()).length
    if (bytes > named.limits.name) {
      $('name-status').textContent = `${bytes} / ${named.limits.name} bytes — too long`
      return
    }
    try {
      await state.app.setName(name)
      $('name-status').textContent = ''
      showMyName(await state.app.name())
    } catch (err) {
      $('name-status').textContent = `Not saved: ${err.message}`
    }
  }

  // setupNames shows the profile's name in the header, or asks for one
  // (the form never blocks the page).
  async function setupNames (app) {
    $('name-form').addEventListener('submit', saveName)
    $('edit-name').addEventListener('click', () => { $('name-shown').hidden = true; $('name-form').hidden = false; $('my-name').focus() })
    $('cancel-name').addEventListener('click', () => { $('name-status').textContent = ''; showMyName($('my-name-text').textContent) })
    app.on('name', onName)
    showMyName(await app.name().catch(() => ''))
  }

  // ---- edits and deletes

  // textOf is a chat message's text: its newest version, "edited" with
  // the date on hover, or that it was deleted.
  function textOf (m) {
    if (m.deleted) return el('p', { class: 'text deleted', text: 'message deleted' })
    const p = el('p', { class: 'text', text: (m.data && m.data.text) || '' })
    if (!m.edited) return p
    const date = new Date(m.edited)
    return el('div', { class: 'edited-text' }, p, el('span', { class: 'edited', title: isNaN(date) ? '' : 'edited ' + date.toLocaleString(), text: '(edited)' }))
  }

  const mineBy = (by) => by === state.app.id || by === state.person

  // addEditControls puts Edit and Delete on the user's own chat messages.
  function addEditControls (li, m, by) {
    if (m.type !== 'chat' || m.deleted || !mineBy(by)) return
    li.append(el('button', { type: 'button', class: 'act edit', 'aria-label': 'Edit this message', onclick: () => startEdit(m), text: 'Edit' }),
      el('button', { type: 'button', class: 'act delete', 'aria-label': 'Delete this message', onclick: () => deleteMessage(m), text: 'Delete' }))
  }

  // startEdit swaps the text for an edit box: Enter saves, Shift+Enter is
  // a new line, Escape cancels.
  function startEdit (m) {
    const old = m.node.querySelector(':scope > p.text, :scope > .edited-text')
    if (!old) return
    const box = el('textarea', { class: 'edit-box', rows: '2', 'aria-label': 'Edit the message (Enter saves, Escape cancels)' })
    box.value = (m.data && m.data.text) || ''
    const status = el('span', { class: 'edit-status', role: 'status' })
    const cancel = () => rerender(m)
    const save = async () => {
      const text = box.value.replace(/^[\r\n]+|[\r\n]+$/g, '')
      const bytes = new TextEncoder().encode(text).length
      if (bytes > named.limits.text) { status.textContent = `${bytes.toLocaleString('en')} / ${named.limits.text.toLocaleString('en')} — too long`; return }
      if (!text.trim() || text === (m.data && m.data.text)) { cancel(); return }
      try {
        Object.assign(m, pick(await state.app.edit(state.current, m.id, text)))
        rerender(m)
        m.node.querySelector('button.edit')?.focus()
      } catch (err) { status.textContent = `Not saved: ${err.message}` }
    }
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); save() } else if (e.key === 'Escape') { e.preventDefault(); cancel() }
    })
    const form = el('div', { class: 'edit-form' }, box,
      el('button', { type: 'button', class: 'save-edit', onclick: save, text: 'Save' }),
      el('button', { type: 'button', class: 'cancel-edit', onclick: cancel, text: 'Cancel' }), status)
    old.replaceWith(form)
    box.focus()
  }

  async function deleteMessage (m) {
    if (!confirm('Delete this message? The others will see that it was deleted.')) return
    try {
      Object.assign(m, pick(await state.app.delete(state.current, m.id)))
      rerender(m)
    } catch (err) {
      $('send-status').textContent = `Not deleted: ${err.message}`
    }
  }

  // pick is what an edit or delete changes in a loaded message.
  const pick = (v) => ({ data: v.data, edited: v.edited || 0, deleted: !!v.deleted, name: v.name })

  // onChange takes an edit or delete event: the message it changes, and
  // the replies quoting it, show the newest version. True: it was one.
  function onChange (msg) {
    if (!msg || (msg.type !== 'edit' && msg.type !== 'delete')) return false
    const cause = msg.refs && msg.refs.cause
    if (!Array.isArray(cause)) return true
    const cid = `${cause[0]}/${cause[1]}`
    const task = state.current
    named.quoted.delete(`${task} ${cid}`)
    state.app.lookup(task, cid).then((v) => {
      if (state.current !== task) return
      const m = state.byId.get(cid)
      if (m) { Object.assign(m, pick(v)); rerender(m) }
      named.quoted.set(`${task} ${cid}`, v)
      for (const r of state.msgs) if (r.refs && r.refs.cause && `${r.refs.cause[0]}/${r.refs.cause[1]}` === cid) rerender(r)
    }, () => {})
    return true
  }

  // quoteOf is a reply's quote of its cause: from the loaded messages, or
  // looked up (the cause is in the timeline, maybe not loaded), in its
  // newest version.
  function quoteOf (cid, by) {
    const btn = el('button', { type: 'button', class: 'quote', 'data-cause': cid, onclick: () => jumpTo(cid) })
    const say = (c) => { btn.textContent = `↪ ${who(by)}: ${c ? (c.deleted ? 'a deleted message' : clip((c.data && c.data.text) || '', 80)) : 'a message not held here'}` }
    const key = `${state.current} ${cid}`
    const c = state.byId.get(cid) || named.quoted.get(key)
    if (c) { say(c); return btn }
    btn.textContent = `↪ ${who(by)}: …`
    const task = state.current
    state.app.lookup(task, cid).then((v) => { named.quoted.set(key, v); say(v) }, () => say(null))
    return btn
  }

  // ---- limits: said before sending, never applied silently

  const fmt = (n) => n.toLocaleString('en')

  // overLimit reports a draft over the text limit (the counter says so).
  function overLimit () { return updateCount() > named.limits.text }

  // updateCount shows the draft's size near and over the limit, and
  // disables Send over it; it returns the size in bytes.
  function updateCount () {
    const bytes = new TextEncoder().encode($('text').value).length
    const max = named.limits.text
    const over = bytes > max
    const near = bytes >= max * 0.8
    $('text-count').textContent = near ? `${fmt(bytes)} / ${fmt(max)}${over ? ' — too long' : ''}` : ''
    $('text-count').className = 'count' + (over ? ' over' : '')
    $('send').disabled = over || state.stopped
    $('send').title = over ? `A message holds at most ${fmt(max)} bytes: shorten it or split it` : ''
    return bytes
  }

  // boundInput makes an input refuse, before submitting, more than
  // named.limits[kind] bytes: the browser says the limit and the size.
  function boundInput (input, kind) {
    input.addEventListener('input', () => {
      const bytes = new TextEncoder().encode(input.value.trim()).length
      const max = named.limits[kind]
      input.setCustomValidity(bytes > max ? `At most ${fmt(max)} bytes: this is ${fmt(bytes)}.` : '')
    })
  }

  async function setupLimits (app) {
    $('text').addEventListener('input', updateCount)
    boundInput($('new-title'), 'title')
    boundInput($('my-name'), 'name')
    try { named.limits = await app.limits() } catch (_) {}
    updateCount()
  }

  // ---- files -------------------------------------------------------------
  // Files go with a message (app.send(task, text, { files })); the limit
  // is said before sending, and a file over it is refused at once. A file
  // is fetched when its message is shown (app.file: its chunks alone,
  // verified against the message's hash). Only an image whose bytes match
  // its type comes back with an image type (the module checks): it is
  // previewed as an <img>; anything else is a download of bytes
  // (application/octet-stream), so an HTML or SVG file never runs here.

  const fileLimits = { file: 10 << 20, files: 4 }
  const previewable = ['image/png', 'image/jpeg', 'image/gif', 'image/webp']

  function mb (n) { return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${Math.ceil(n / 1024)} KB` : `${n} bytes` }

  // safeName drops control and bidi characters from a peer's file name
  // (the module refuses them too) and bounds it; shown as text only.
  function safeName (name) {
    return clip(String(name || 'file').replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g, ''), 120) || 'file'
  }

  async function setupAttach (app) {
    try {
      const lim = await app.limits()
      if (lim && lim.file > 0) fileLimits.file = lim.file
      if (lim && lim.files > 0) fileLimits.files = lim.files
    } catch (err) { /* an older module: the defaults */ }
    $('attach-limit').textContent = `max ${fileLimits.file >> 20} MB per file, ${fileLimits.files} files`
    $('attach').addEventListener('change', attachChanged)
  }

  // attachChanged refuses, with the limit shown, files over it.
  function attachChanged () {
    const input = $('attach')
    const chosen = [...input.files]
    const refused = chosen.filter((f) => f.size > fileLimits.file)
    let why = refused.map((f) => `${safeName(f.name)} is ${mb(f.size)}: the limit is ${fileLimits.file >> 20} MB per file.`).join(' ')
    let ok = chosen.filter((f) => f.size <= fileLimits.file)
    if (ok.length > fileLimits.files) {
      why += ` At most ${fileLimits.files} files per message.`
      ok = ok.slice(0, fileLimits.files)
    }
    state.attached = ok
    $('send-status').textContent = why.trim() ? `Not attached: ${why.trim()}` : ''
    $('attach-list').textContent = ok.map((f) => `${safeName(f.name)} (${mb(f.size)})`).join(', ')
  }

  function attached () { return state.attached || [] }
  function fileCaption (files) { return files.map((f) => safeName(f.name)).join(', ') }
  function clearAttached () {
    state.attached = []
    $('attach').value = ''
    $('attach-list').textContent = ''
  }

  // renderFiles shows a message's files: a preview for an image, a
  // download for the rest.
  function renderFiles (li, m) {
    const files = m.data && m.data.files
    if (!Array.isArray(files) || !files.length) return
    const box = el('div', { class: 'files' })
    files.forEach((f, i) => {
      const name = safeName(f && f.name)
      const item = el('div', { class: 'file', 'data-index': String(i) })
      if (previewable.includes(f && f.type)) {
        item.append(el('span', { class: 'hint', text: `${name} (${mb(Number(f.size) || 0)}) loading…` }))
        showFile(item, m, i, name)
      } else {
        item.append(el('button', { type: 'button', class: 'download', onclick: () => downloadFile(item, m, i, name), text: `Download ${name} (${mb(Number(f.size) || 0)})` }))
      }
      box.append(item)
    })
    li.append(box)
  }

  const fileCache = new Map() // `${task} ${id} ${index}` → the verified File, so a re-render fetches nothing

  async function fetchFile (m, i) {
    const key = `${state.current} ${m.id} ${i}`
    if (!fileCache.has(key)) fileCache.set(key, state.app.file(state.current, m.id, i).catch((err) => { fileCache.delete(key); throw err }))
    return fileCache.get(key)
  }

  async function showFile (item, m, i, name) {
    try {
      const file = await fetchFile(m, i)
      if (!previewable.includes(file.type)) { // bytes that are not the image they claim: a download
        item.replaceChildren(downloadLink(file, name, 'not an image: download'))
        return
      }
      const img = el('img', { class: 'preview', alt: name, title: name })
      img.src = URL.createObjectURL(file)
      item.replaceChildren(img, el('span', { class: 'file-name', text: name }), ' ', downloadLink(file, name, 'download'))
    } catch (err) {
      item.replaceChildren(el('span', { class: 'hint', text: `${name}: not shown (${clip(err.message, 120)})` }))
    }
  }

  // downloadLink is an <a download> of the bytes, typed
  // application/octet-stream whatever the file says it is.
  function downloadLink (file, name, label) {
    const a = el('a', { class: 'download', download: name, text: label === 'download' ? 'Download' : `${name}: ${label}` })
    a.href = URL.createObjectURL(new Blob([file], { type: 'application/octet-stream' }))
    return a
  }

  async function downloadFile (item, m, i, name) {
    item.replaceChildren(el('span', { class: 'hint', text: `${name}: fetching…` }))
    try {
      const file = await fetchFile(m, i)
      const a = downloadLink(file, name, `${mb(file.size)}, verified: download`)
      item.replaceChildren(a)
      a.click()
    } catch (err) {
      item.replaceChildren(el('span', { class: 'hint', text: `${name}: not fetched (${clip(err.message, 120)})` }))
    }
  }

  // ---- many tasks --------------------------------------------------------
  // The task tree is a virtual list: the tree is flattened into the rows
  // that are visible (children of collapsed tasks left out), every row has
  // the same height, and only the rows inside #tree's scroll viewport (and
  // a few around) are in the DOM, so 10,000 tasks cost a few dozen nodes.
  // Each row is a treeitem with its level, position and size (aria-level,
  // -posinset, -setsize), as the whole tree is not in the DOM. Keyboard:
  // arrows up/down move between rows, right/left expand/collapse (or go to
  // the first child / the parent), Home/End, Enter/Space select.

  const ROW = 34 // px, the height of a row (app.css .vrow)
  const OVERSCAN = 8
  const vtree = { rows: [], focus: 0, wired: false, shown: null } // shown: the selected task last scrolled to

  function flatten (nodes, level, out) {
    nodes.forEach((t, i) => {
      out.push({ t, level, pos: i + 1, size: nodes.length, parent: out.parentIndex })
      const open = !state.collapsed.has(t.id)
      if (t.children.length && open) {
        const saved = out.parentIndex
        out.parentIndex = out.length - 1
        flatten(t.children, level + 1, out)
        out.parentIndex = saved
      }
    })
    return out
  }

  function renderTree (tree) {
    const root = $('tree')
    const rows = []
    rows.parentIndex = -1
    vtree.rows = flatten(tree, 1, rows)
    if (!vtree.wired) {
      vtree.wired = true
      root.addEventListener('scroll', () => requestAnimationFrame(drawRows))
      root.addEventListener('keydown', treeKey)
      window.addEventListener('resize', drawRows)
    }
    root.style.height = Math.min(vtree.rows.length * ROW, Math.max(window.innerHeight * 0.6, 8 * ROW)) + 'px'
    const cur = vtree.rows.findIndex((r) => r.t.id === state.current)
    if (vtree.focus >= vtree.rows.length) vtree.focus = Math.max(0, cur)
    if (cur >= 0 && vtree.shown !== state.current && !root.contains(document.activeElement)) {
      // A task selected (a click, the URL, a notification): its row in view,
      // unless the user is moving through the tree by keyboard meanwhile.
      vtree.shown = state.current
      vtree.focus = cur
      const top = cur * ROW
      if (top < root.scrollTop || top + ROW > root.scrollTop + root.clientHeight) root.scrollTop = Math.max(0, top - root.clientHeight / 2)
    }
    drawRows()
    showUnreadTotal(tree)
  }

  function drawRows () {
    const root = $('tree')
    const n = vtree.rows.length
    const first = Math.max(0, Math.floor(root.scrollTop / ROW) - OVERSCAN)
    const last = Math.min(n, Math.ceil((root.scrollTop + (root.clientHeight || 8 * ROW)) / ROW) + OVERSCAN)
    const hadFocus = root.contains(document.activeElement)
    const sizer = el('li', { role: 'none', class: 'vsizer' })
    sizer.style.height = n * ROW + 'px'
    const items = [sizer]
    for (let i = first; i < last; i++) items.push(renderRow(vtree.rows[i], i))
    root.replaceChildren(...items)
    if (hadFocus) focusRow(vtree.focus, false)
  }

  function renderRow (r, i) {
    const t = r.t
    const open = !state.collapsed.has(t.id)
    const li = el('li', {
      role: 'treeitem', // named by its content: the title, and the unread count for screen readers
      class: 'vrow',
      'aria-level': String(r.level),
      'aria-posinset': String(r.pos),
      'aria-setsize': String(r.size),
      'aria-selected': String(t.id === state.current),
      'data-row': String(i)
    })
    li.style.top = i * ROW + 'px'
    li.style.paddingLeft = (r.level - 1) * 1.1 + 'rem'
    if (t.children.length) li.setAttribute('aria-expanded', String(open))
    const toggle = el('button', {
      type: 'button',
      class: 'toggle',
      tabindex: '-1',
      'aria-label': (open ? 'Collapse ' : 'Expand ') + t.title,
      text: open ? '▾' : '▸',
      onclick: () => { vtree.focus = i; toggleRow(t, !open) }
    })
    toggle.hidden = t.children.length === 0
    const pick = el('button', { type: 'button', class: 'pick', 'data-task': t.id, title: t.title, tabindex: i === vtree.focus ? '0' : '-1', onclick: () => { vtree.focus = i; select(t.id) } },
      el('span', { class: 'title', text: t.title }), el('span', { class: 'hint', text: t.members > 1 ? ` · ${t.members}` : '' }))
    if (t.unread > 0) {
      pick.append(el('span', { class: 'unread', 'data-unread': String(t.unread) },
        el('span', { 'aria-hidden': 'true', text: t.unread > 999 ? '999+' : String(t.unread) }),
        el('span', { class: 'sr-only', text: ` ${t.unread} unread` })))
    }
    if (t.id === state.current) pick.setAttribute('aria-current', 'true')
    li.append(el('div', { class: 'node' }, toggle, pick))
    return li
  }

  function toggleRow (t, open) {
    if (open) state.collapsed.delete(t.id)
    else state.collapsed.add(t.id)
    uiCollapsed(t.id, !open)
    refreshTasks()
  }

  // focusRow moves the keyboard focus to row i, scrolling it into view.
  function focusRow (i, scroll = true) {
    const root = $('tree')
    if (!vtree.rows.length) return
    i = Math.max(0, Math.min(vtree.rows.length - 1, i))
    vtree.focus = i
    if (scroll) {
      const top = i * ROW
      if (top < root.scrollTop) root.scrollTop = top
      else if (top + ROW > root.scrollTop + root.clientHeight) root.scrollTop = top + ROW - root.clientHeight
      drawRows()
      return
    }
    for (const b of root.querySelectorAll('.pick')) b.tabIndex = -1
    const li = root.querySelector(`[data-row="${i}"] .pick`)
    if (li) { li.tabIndex = 0; li.focus({ preventScroll: true }) }
  }

  function treeKey (e) {
    const row = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-row]')
    if (row) vtree.focus = Number(row.dataset.row) // the focus may have come by a click or a script
    const r = vtree.rows[vtree.focus]
    if (!r) return
    const open = r.t.children.length > 0 && !state.collapsed.has(r.t.id)
    let to = null
    switch (e.key) {
      case 'ArrowDown': to = vtree.focus + 1; break
      case 'ArrowUp': to = vtree.focus - 1; break
      case 'Home': to = 0; break
      case 'End': to = vtree.rows.length - 1; break
      case 'PageDown': to = vtree.focus + 10; break
      case 'PageUp': to = vtree.focus - 10; break
      case 'ArrowRight':
        if (r.t.children.length && !open) { toggleRow(r.t, true); e.preventDefault(); return }
        if (open) to = vtree.focus + 1
        break
      case 'ArrowLeft':
        if (open) { toggleRow(r.t, false); e.preventDefault(); return }
        if (r.parent >= 0) to = r.parent
        break
      default: return
    }
    e.preventDefault()
    if (to !== null) focusRow(to)
  }

  // ---- unread ------------------------------------------------------------
  // tasks() gives each task its unread count (messages of others above this
  // profile's read marks, kept by the module across reloads) and the id of
  // the first unread message: the tree shows the count, the tab title the
  // total, the timeline a "new" divider before the first unread message
  // when a task is opened. While the tab is hidden, a message from someone
  // else shows a notification (once the user allowed them with the button;
  // never asked on load), at most one per task every few seconds.

  const TITLE = document.title
  const NOTIFY_EVERY = 5000 // ms between two notifications of a task
  const notified = new Map() // task → when it was last notified

  function showUnreadTotal (tree) {
    let total = 0
    const walk = (nodes) => nodes.forEach((t) => { total += t.unread || 0; walk(t.children) })
    walk(tree)
    document.title = total > 0 ? `(${total}) ${TITLE}` : TITLE
  }

  let unreadTimer = null
  function refreshTasksSoon () {
    if (!unreadTimer) unreadTimer = setTimeout(() => { unreadTimer = null; refreshTasks() }, 150)
  }

  // showDivider puts the "new" divider before the first unread message of
  // task id (t: its tree entry as it was before the task was opened),
  // loading older pages until it is there; returns the divider or null.
  async function showDivider (id, t) {
    const first = t && t.unread > 0 && t.firstUnread
    if (!first) return null
    for (let i = 0; i < 20 && !state.byId.has(first) && !state.atStart && state.current === id; i++) await loadOlder()
    const m = state.byId.get(first)
    if (!m || state.current !== id) return null
    // A list item like the messages around it (a list holds only those):
    // the screen reader says the count, the eye sees "new" between lines.
    const d = el('li', { class: 'divider' }, el('span', { 'aria-hidden': 'true', text: 'new' }), el('span', { class: 'sr-only', text: `${t.unread} new ${t.unread === 1 ? 'message' : 'messages'}` }))
    $('timeline').insertBefore(d, m.node)
    return d
  }

  // showAbove says when the task shown has unread messages that are not on
  // the page: they sort above the oldest message loaded (a member's
  // message written offline long before it arrived, a late join, a
  // catch-up longer than a page), so nothing in view shows them and only
  // the task's count says so. A button at the top of the timeline says how
  // many and goes to the first (jumpTo loads the pages up to it), which
  // the page then marks read as it does every message it shows.
  function firstAbove () {
    const t = state.current && state.tasks.get(state.current)
    const first = t && t.unread > 0 && t.firstUnread
    return first && !state.byId.has(first) ? { first, n: t.unread } : null
  }

  function showAbove () {
    const above = firstAbove()
    const btn = $('above')
    btn.hidden = !above
    if (above) btn.textContent = above.n === 1 ? '↑ 1 unread message above' : `↑ ${above.n} unread messages, the first above`
  }

  async function goAbove () {
    const above = firstAbove()
    $('above').hidden = true
    if (!above) return
    await jumpTo(above.first)
    markRead()
  }

  function watchUnread (app) {
    $('above').addEventListener('click', goAbove)
    app.on('unread', refreshTasksSoon)
    app.on('message', notifyMessage)
    const btn = $('notify')
    const show = () => { btn.hidden = !('Notification' in window) || Notification.permission !== 'default' }
    show()
    btn.addEventListener('click', async () => {
      try { await Notification.requestPermission() } catch (_) {}
      show()
    })
  }

  function notifyMessage (ev) {
    const m = ev.message
    if (!m || m.pending || !document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return
    if (m.head[0] === state.app.id || m.type === 'receipt') return
    const last = notified.get(ev.task) || 0
    if (Date.now() - last < NOTIFY_EVERY) return
    notified.set(ev.task, Date.now())
    const t = state.tasks.get(ev.task)
    const author = m.name || who(m.head[0])
    const body = m.type === 'chat' ? clip((m.data && m.data.text) || '', 120) : (text(m) || '')
    try {
      const n = new Notification(clip(t ? t.title : 'task-messenger', 80), { body: `${clip(author, 40)}: ${body}`, tag: `task-${ev.task}` })
      n.onclick = () => { window.focus(); select(ev.task); n.close() }
    } catch (_) {} // a browser that allows them only from a service worker
  }

  async function main () {
    watchWorker()
    $('me-name').textContent = profile
    let tm
    try {
      // No loader at all: the server failed taskmessenger.js itself (a
      // node restarting while the page loaded, before the service worker
      // keeps the shell).
      if (!window.taskmessenger) throw new Error('taskmessenger: cannot load taskmessenger.js')
      tm = await window.taskmessenger.ready
    } catch (err) { // the server did not give the module's files, retries and all
      setState($('me-state'), `${err.message}: reload the page`, 'error')
      throw err
    }
    window.taskmessenger.moduleAt = performance.now() // ---- many tasks ----: the page's budget starts here
    const opts = { profile }
    if (params.has('webrtc')) opts.webrtc = params.get('webrtc') !== '0'
    // A link can carry ?relay= and ?devtools=, but anyone can send a link:
    // only a loopback or same-origin address is taken from it (a devtools
    // server sees every book of the profile and may reset it).
    const ignored = []
    for (const k of ['relay', 'devtools']) {
      if (!params.has(k)) continue
      if (localEndpoint(params.get(k))) opts[k] = params.get(k)
      else ignored.push(`${k}=${params.get(k)}`)
    }
    let app
    const openStart = performance.now()
    try {
      app = await tm.open(opts)
      window.taskmessenger.openMs = performance.now() - openStart
      step('open')
    } catch (err) {
      setState($('me-state'), err.message, 'error')
      staleModule(err)
      registerWorker() // a newer version may be what this page needs
      throw err
    }
    state.app = app
    if (state.stopped) { app.close(); return } // a newer version took over meanwhile (staleTab)
    window.tmApp = app
    $('me-id').textContent = app.id
    showReporting(app.devtools, ignored)
    setupNames(app)
    setupLimits(app)
    setState($('me-state'), 'connecting…', 'waiting')
    app.on('message', onMessage)
    setupStorage(app)
    app.on('message', announce)
    watchUnread(app) // ---- unread ----
    app.on('task', () => refreshTasks())
    app.on('removed', () => refreshTasks())
    app.on('member', (ev) => { if (ev.task === state.current) refreshMembersSoon(); refreshTasks() })
    // One tab of a profile writes it and is online; the others follow it
    // (their actions are carried out there): the page says which this is.
    const showRole = (role) => {
      $('me-role').textContent = role === 'follower' ? 'through another tab of this profile' : ''
      $('me-role').title = role === 'follower'
        ? 'Another tab of this profile writes it and is online; this tab works through it, and takes over if it closes.'
        : ''
    }
    showRole(app.role())
    app.on('tab', (ev) => showRole(ev.state))
    app.on('peer', (ev) => {
      if (ev.peer === app.id && ev.state === 'replaced') {
        // Another instance of this profile writes it now (one without the
        // tab lock: another browser on the same storage).
        state.stopped = true
        setState($('me-state'), 'open in another tab: reload to use it here', 'error')
        $('send').disabled = true
      } else if (ev.peer === app.id && !state.stopped) { // the relay connection, and which node of the cluster it is on
        if (ev.state === 'online') step('online')
        setState($('me-state'), ev.state, ev.state)
        $('me-state').dataset.relay = ev.relay || ''
        $('me-state').title = ev.relay ? `relay: ${ev.relay}` : ''
      } else { refreshMembersSoon(); refreshDevices() }
    })
    app.on('error', (ev) => { $('me-state').title = ev.error; staleModule({ message: ev.error }) })
    app.on('equivocation', (ev) => { if (ev.task === state.current) refreshMembersSoon() })
    app.on('receipt', (ev) => { if (ev.task === state.current) refreshMembersSoon() })
    document.addEventListener('visibilitychange', markRead)
    app.on('fork', (ev) => {
      if (!state.forks.has(ev.task)) state.forks.set(ev.task, new Set())
      if (ev.state === 'healed') state.forks.get(ev.task).delete(ev.peer) // its messages reach them again
      else if (!ev.state) state.forks.get(ev.task).add(ev.peer)
      if (!state.forks.get(ev.task).size) state.forks.delete(ev.task)
      if (ev.state) forkLine(ev)
      if (ev.task === state.current) showNotice()
    })

    $('new-task').addEventListener('submit', async (e) => {
      e.preventDefault()
      const t = await app.createTask({ title: $('new-title').value }).catch(storageError)
      if (!t) return
      if (state.tasks.size === 0) askPersist() // the first task: ask the browser to keep the data
      $('new-title').value = ''
      await refreshTasks()
      await select(t.id)
    })
    $('join-form').addEventListener('submit', join)
    $('join-cancel').addEventListener('click', () => state.join && state.join.abort())
    $('composer').addEventListener('submit', send)
    setupAttach(app)
    $('text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) send(e) })
    $('reply-cancel').addEventListener('click', cancelReply)
    $('scroller').addEventListener('scroll', () => { if ($('scroller').scrollTop < 60) loadOlder() })
    $('copy-invite').addEventListener('click', async () => {
      if (!state.current) return
      if (!$('invite-code').value) {
        // A new invite: whoever holds the code can join until it is revoked
        // or expires (7 days).
        try {
          $('invite-code').value = await app.invite(state.current, { expires: Date.now() + 7 * 24 * 3600 * 1000 })
        } catch (err) {
          $('send-status').textContent = `No invite: ${err.message}`
          return
        }
        $('revoke-invite').hidden = false
      }
      $('invite-code').select()
      try { await navigator.clipboard.writeText($('invite-code').value) } catch (_) { document.execCommand('copy') }
      $('copy-invite').textContent = 'Copied'
      setTimeout(() => { $('copy-invite').textContent = 'Copy invite' }, 1200)
    })
    $('revoke-invite').addEventListener('click', async () => {
      const code = $('invite-code').value
      if (!code) return
      try {
        await app.revokeInvite(code)
        $('invite-code').value = ''
        $('revoke-invite').hidden = true
        $('send-status').textContent = 'Invite revoked: nobody can join with it any more.'
      } catch (err) {
        $('send-status').textContent = `Not revoked: ${err.message}`
      }
    })
    $('add-subtask').addEventListener('click', async () => {
      const title = prompt('Subtask title')
      if (title) { const t = await app.createTask({ title, parent: state.current }); await refreshTasks(); await select(t.id) }
    })
    $('rename').addEventListener('click', async () => {
      const title = prompt('New title', $('room-title').textContent)
      if (title) await app.rename(state.current, title)
    })
    $('export').addEventListener('click', exportBooks)
    $('import').addEventListener('change', importBooks)
    $('reset').addEventListener('click', reset)
    $('show-recovery').addEventListener('click', showRecovery)
    $('hide-recovery').addEventListener('click', hideRecovery)
    $('recover').addEventListener('click', recoverFromCode)
    $('restore-finish').addEventListener('click', async () => {
      if (!confirm('Stop waiting for the members that have not answered? You can write at once; a task only they share with you comes back when they answer.')) return
      try { showRestore(await app.finishRestore()) } catch (err) { said(err.message, 'error') }
    })
    $('show-devices').addEventListener('click', toggleDevices)
    $('hide-devices').addEventListener('click', toggleDevices)
    $('link-device').addEventListener('click', linkDevice)
    $('copy-link-code').addEventListener('click', async () => {
      const code = $('link-code').textContent
      try { await navigator.clipboard.writeText(code) } catch (_) { getSelection().selectAllChildren($('link-code')); document.execCommand('copy') }
      $('copy-link-code').textContent = 'Copied'
      setTimeout(() => { $('copy-link-code').textContent = 'Copy' }, 1200)
    })
    $('link-form').addEventListener('submit', linkThis)
    $('link-cancel').addEventListener('click', () => state.link && state.link.abort())
    $('link-label').placeholder = `Name of this device (${defaultLabel()})`
    app.on('link', onLink)
    app.on('device', () => { refreshDevices(); refreshMembersSoon() })
    refreshPerson()
    app.on('mirror', () => refreshMirrors())
    refreshMirrors()
    app.on('restore', (ev) => {
      $('me-id').textContent = app.id // another tab of the profile may have restored it
      showRestore(ev.restore)
      if (ev.state === 'refused') $('me-state').title = ev.error
      refreshTasks()
    })
    app.restoreStatus().then(showRestore, () => {})
    setupSearch(app)
    await uiLoad()
    step('uistate')
    await refreshTasks()
    step('tasks')
    await uiFirstTask()
    step('firstPage')
    window.taskmessenger.firstPageMs = performance.now() // since navigation: the page is usable, its room shown
    // The service worker after the first page: its install fetches and
    // hashes the whole shell, work that can wait.
    registerWorker()
    // Once the page is idle, the module's first garbage collection (tm.idle):
    // not in the middle of the first messages.
    const whenIdle = window.requestIdleCallback || ((f) => setTimeout(f, 1000))
    whenIdle(() => { tm.idle(); document.body.dataset.idle = '1' })
    // Leave the relay at once when the tab goes away, so peers see this
    // profile offline now rather than when the relay's pings time out.
    window.addEventListener('pagehide', () => { app.close() })
    document.body.dataset.ready = '1'
  }

  main().catch((err) => console.error('taskmessenger page:', err))
})()
