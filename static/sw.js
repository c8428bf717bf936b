// sw.js — the page's service worker: it keeps the app shell (the page,
// its scripts, style, icons and the module) so that the page opens, shows
// every task and lets the user write with the server unreachable (the books
// are in IndexedDB; messages go out when the relay answers again).
//
// The relay writes the shell in below (relay.ShellOf: the files, the
// module's content-hashed name among them, and the version their contents
// name). A shell that changed changes this script,
// so the browser installs the new version beside the running one: the
// worker fetches every file, checks that they are that version, and keeps
// them in a cache of their own (one version whole, or nothing). It waits
// until the page asks it to take over ("a new version is ready — reload"),
// so no page runs a module and scripts of two versions.
//
// What is kept: the shell files, and the last answer of /config.json
// (network first; the cached copy only when the server cannot be reached).
// Never a book, a key or a message: those live in IndexedDB only.
'use strict'

const SHELL = "__TM_SHELL__" // eslint-disable-line quotes
const shell = typeof SHELL === 'object' ? SHELL : null // null: not served by the relay
const PREFIX = 'tm-shell-'
const CACHE = shell ? PREFIX + shell.version : ''
const CONFIG = 'tm-config'

self.addEventListener('install', (e) => {
  if (shell) e.waitUntil(keepShell())
})

self.addEventListener('activate', (e) => {
  e.waitUntil(dropOldShells())
})

// The page asks a waiting worker to take over when the user chose to reload.
self.addEventListener('message', (e) => {
  if (e.data && e.data.type === 'activate') self.skipWaiting()
})

self.addEventListener('fetch', (e) => {
  const req = e.request
  if (!shell || req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin) return
  if (url.pathname === '/config.json') {
    e.respondWith(config(req, e))
    return
  }
  const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1)
  if (req.mode === 'navigate' && name !== 'index.html') return // debug.html and the like: the network
  if (!shell.files.includes(name)) return
  e.respondWith(fromShell(req, name))
})

// keepShell fetches every shell file from the server, bypassing the HTTP
// cache (but for the module: its name is a hash of its bytes, so the copy
// the page just loaded is the one), checks the set is the version this
// script names, and only then stores it. A mismatch (the server changed
// meanwhile) fails the install; the browser tries again at its next update
// check.
async function keepShell () {
  const got = await Promise.all(shell.files.map(async (name) => {
    const res = await fetch(new Request(name, { cache: name === shell.module ? 'default' : 'no-store' }))
    if (!res.ok) throw new Error(`sw: ${name}: ${res.status}`)
    const body = await res.arrayBuffer()
    // A fresh response, not the fetched one: a navigation refuses one that
    // was redirected (the server sends /index.html as /).
    const kept = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
    return { name, res: kept, sum: hex(await crypto.subtle.digest('SHA-256', body)) }
  }))
  const line = got.map((f) => `${f.name}\u0000${f.sum}\n`).join('')
  const version = hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(line))).slice(0, 20)
  if (version !== shell.version) throw new Error(`sw: fetched version ${version}, want ${shell.version}: the server changed meanwhile`)
  await caches.delete(CACHE) // a failed earlier try
  const cache = await caches.open(CACHE)
  await Promise.all(got.map((f) => cache.put(f.name, f.res)))
}

async function dropOldShells () {
  const names = await caches.keys()
  await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)))
}

// fromShell answers from this version's cache, the network when the file
// is not there (a cache the browser evicted).
async function fromShell (req, name) {
  const cache = await caches.open(CACHE)
  const hit = await cache.match(name)
  return hit || fetch(req)
}

// config is /config.json from the server, kept for the next time (the
// page does not wait for the copy: the module reads it as it starts); the
// kept copy only when the server cannot be reached.
async function config (req, e) {
  try {
    const res = await fetch(req, { cache: 'no-store' })
    if (res.ok) {
      const copy = res.clone()
      e.waitUntil(caches.open(CONFIG).then((cache) => cache.put('config.json', copy)))
    }
    return res
  } catch (err) {
    const hit = await (await caches.open(CONFIG)).match('config.json')
    if (hit) return hit
    throw err
  }
}

function hex (buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('')
}
