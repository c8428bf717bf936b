function deliverEvents (hooks, evs) {
  for (const ev of evs) {
    for (const fn of hooks[ev.type] || []) {
      try { fn(ev) } catch (e) { console.error('taskmessenger: an app.on hook threw:', e) }
    }
  }
}
