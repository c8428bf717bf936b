// taskmessenger.js — boots the Go/WebAssembly module and resolves
// window.taskmessenger.ready with its API:
//
//   const tm = await window.taskmessenger.ready
//   const { id, db } = await tm.vault({ name: 'ana' })
//   const book = await db.author(`${id}-${peerId}-task1`)
//   await book.add({ text: 'hello' })
//
// Load it with <script src="taskmessenger.js"></script>; it loads
// wasm_exec.js (copied from the Go installation by `make build`),
// taskmessenger-helpers.js (the module's JavaScript helpers, made by
// `go run ./tools/jshelpers`) and taskmessenger.wasm from the same directory.
(function () {
  'use strict'
  const base = (document.currentScript && document.currentScript.src) || location.href
  const url = (name) => new URL(name, base).href
  const started = performance.now()

  function loadScript (src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script')
      s.src = src
      s.onload = resolve
      s.onerror = () => reject(new Error(`taskmessenger: cannot load ${src}`))
      document.head.appendChild(s)
    })
  }

  async function boot () {
    if (typeof Go === 'undefined') await loadScript(url('wasm_exec.js'))
    // The module's JavaScript helpers, as a script: the page needs no eval.
    if (!globalThis.taskmessengerHelpers) await loadScript(url('taskmessenger-helpers.js'))
    const go = new Go()
    const api = new Promise((resolve) => { globalThis.__taskmessengerReady = resolve })
    const response = fetch(url('taskmessenger.wasm'))
    let result
    try {
      result = await WebAssembly.instantiateStreaming(response, go.importObject)
    } catch (err) {
      // A server without the application/wasm type: fall back to bytes.
      const bytes = await (await fetch(url('taskmessenger.wasm'))).arrayBuffer()
      result = await WebAssembly.instantiate(bytes, go.importObject)
    }
    go.run(result.instance).then(() => console.error('taskmessenger: the module exited'))
    const tm = await api
    delete globalThis.__taskmessengerReady
    window.taskmessenger.readyMs = performance.now() - started
    // The module's linear memory, for the page's memory figures.
    window.taskmessenger.wasmBytes = () => result.instance.exports.mem.buffer.byteLength
    return tm
  }

  window.taskmessenger = { ready: boot() }
})()
