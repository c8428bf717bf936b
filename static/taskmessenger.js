// taskmessenger.js — boots the Go/WebAssembly module and resolves
// window.taskmessenger.ready with its API:
//
//   const tm = await window.taskmessenger.ready
//   const { id, db } = await tm.vault({ name: 'ana' })
//   const book = await db.author(`${id}-${peerId}-task1`)
//   await book.add({ text: 'hello' })
//
// Load it with <script src="taskmessenger.js"></script>, as early as the
// page can (in its head): it starts fetching and compiling the module at
// once, and meanwhile loads wasm_exec.js (copied from the Go installation
// by `make build`) and taskmessenger-helpers.js (the module's JavaScript
// helpers, made by `go run ./tools/jshelpers`) from the same directory.
//
// The relay writes the module's content-hashed name in below
// (relay.StaticHandler: taskmessenger.HASH.wasm, cached for good), so the
// browser keeps the module's compiled code between visits; served by
// anything else, the loader asks for taskmessenger.wasm.
//
// window.taskmessenger.readyMs is the time from navigation until the API
// is ready; .times has the steps (performance.now() when each ended), also
// as performance marks named tm:STEP; .moduleFrom says whether the module
// came from the service worker's copy ('cache') or a fetch ('network').
(function () {
  'use strict'
  const MODULE = "__TM_MODULE__" // eslint-disable-line quotes
  const base = (document.currentScript && document.currentScript.src) || location.href
  const url = (name) => new URL(name, base).href
  const moduleURL = url(MODULE.startsWith('__') ? 'taskmessenger.wasm' : MODULE)
  const times = {}
  let moduleFrom = 'network' // or 'cache': the service worker's copy (kept)
  const mark = (step) => { times[step] = performance.now(); performance.mark('tm:' + step) }
  mark('loader')

  // retry runs load until it resolves, four times at most, 0.5, 1 and 2 s
  // apart: a server restarting while the page loads (a relay node's
  // restart) does not leave the page without its module.
  async function retry (load) {
    for (let i = 0; ; i++) {
      try {
        return await load()
      } catch (err) {
        if (i === 3) throw err
        await new Promise((resolve) => setTimeout(resolve, 500 << i))
      }
    }
  }

  function loadScript (src) {
    return retry(() => new Promise((resolve, reject) => {
      const s = document.createElement('script')
      s.src = src
      s.onload = resolve
      s.onerror = () => { s.remove(); reject(new Error(`taskmessenger: cannot load ${src}`)) }
      document.head.appendChild(s)
    }))
  }

  // fetchOK fetches the module, failing on an HTTP error.
  async function fetchOK () {
    const resp = await fetch(moduleURL)
    if (!resp.ok) throw new Error(`taskmessenger: cannot load ${moduleURL}: HTTP ${resp.status}`)
    return resp
  }

  // kept is the module as the service worker keeps it (sw.js: the shell's
  // copy, under the same content-hashed name, checked against the shell's
  // version when stored), read from Cache Storage by the page itself, or
  // undefined. Through the worker's fetch handler the same bytes reached
  // the compiler 50 ms later (docs/benchmarks.md, "Start-up").
  async function kept () {
    try {
      const sw = navigator.serviceWorker
      if (!sw || !sw.controller || !self.caches || MODULE.startsWith('__')) return undefined
      return await caches.match(moduleURL)
    } catch (_) { // storage the browser refuses (a private window): the network
      return undefined
    }
  }

  // compile fetches and compiles the module as its bytes arrive.
  async function compile () {
    let mod
    try {
      const copy = await kept()
      moduleFrom = copy ? 'cache' : 'network'
      mod = await WebAssembly.compileStreaming(copy || retry(fetchOK))
    } catch (err) {
      // A server without the application/wasm type: fall back to bytes.
      moduleFrom = 'network'
      const bytes = await (await retry(fetchOK)).arrayBuffer()
      mod = await WebAssembly.compile(bytes)
    }
    mark('compiled')
    return mod
  }

  // scripts loads what runs the module: Go's wasm_exec.js and the helpers
  // (a script, so the page needs no eval).
  async function scripts () {
    await Promise.all([
      typeof Go === 'undefined' && loadScript(url('wasm_exec.js')),
      !globalThis.taskmessengerHelpers && loadScript(url('taskmessenger-helpers.js'))
    ])
    mark('scripts')
  }

  async function boot () {
    const [mod] = await Promise.all([compile(), scripts()])
    const go = new Go()
    const instance = await WebAssembly.instantiate(mod, go.importObject)
    mark('instantiated')
    const api = new Promise((resolve) => { globalThis.__taskmessengerReady = resolve })
    go.run(instance).then(() => console.error('taskmessenger: the module exited'))
    const tm = await api
    delete globalThis.__taskmessengerReady
    mark('ready')
    window.taskmessenger.readyMs = times.ready
    window.taskmessenger.moduleFrom = moduleFrom
    // The module's linear memory, for the page's memory figures.
    window.taskmessenger.wasmBytes = () => instance.exports.mem.buffer.byteLength
    return tm
  }

  window.taskmessenger = { ready: boot(), times, mark }
})()
