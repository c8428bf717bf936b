function pageTimer (ms) {
  // The last time a browser timer fired, every ms: it stands still while
  // the page is frozen (Go's own timers fire whenever Go runs, even then).
  const timer = { at: Date.now() }
  setInterval(() => { timer.at = Date.now() }, ms)
  return timer
}
