// Hypercore 10 measured the way our Go benchmarks measure the journal
// (1 KiB pages, memory storage): single appends, batches of 100, verified
// replication of 20,000 pages to a fresh reader, and the latency from one
// append to a live reader holding it. Prints one JSON object on stdout;
// tools/hyperbench (Go) runs this beside our benchmarks and prints ratios.
//
//   node bench.js [seconds per figure, default 1]
'use strict'

const Hypercore = require('hypercore')
const RAM = require('random-access-memory')

const seconds = Number(process.argv[2] || 1)
const page = Buffer.alloc(1024)

function now () { return Number(process.hrtime.bigint()) / 1e9 }

async function writer () {
  const core = new Hypercore(RAM)
  await core.ready()
  return core
}

async function reader (key) {
  const core = new Hypercore(RAM, key)
  await core.ready()
  return core
}

function connect (a, b) {
  const s1 = a.replicate(true)
  const s2 = b.replicate(false)
  s1.pipe(s2).pipe(s1)
  return () => { s1.destroy(); s2.destroy() }
}

// As BenchmarkAppendSingle: each page signed and stored before the next.
async function appendSingle () {
  const core = await writer()
  let n = 0
  const t0 = now()
  let t = t0
  while (t - t0 < seconds) {
    for (let i = 0; i < 100; i++) await core.append(page)
    n += 100
    t = now()
  }
  await core.close()
  return n / (t - t0)
}

// As BenchmarkAppendBatch100: one append (one signed head) per 100 pages.
async function appendBatch100 () {
  const core = await writer()
  const batch = Array.from({ length: 100 }, (_, i) => Buffer.alloc(1024, i))
  let n = 0
  const t0 = now()
  let t = t0
  while (t - t0 < seconds) {
    for (let i = 0; i < 10; i++) await core.append(batch)
    n += 1000
    t = now()
  }
  await core.close()
  return n / (t - t0)
}

// As BenchmarkReplicate: 20,000 pages to a fresh reader per round,
// verified and stored; opening the reader is off the clock, connecting on it.
async function replicate () {
  const n = 20000
  const core = await writer()
  const batch = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(1024, i))
  while (core.length < n) await core.append(batch)
  let pages = 0
  let elapsed = 0
  while (elapsed < seconds || pages === 0) {
    const r = await reader(core.key)
    const t0 = now()
    const stop = connect(core, r)
    await r.download({ start: 0, end: n }).done()
    elapsed += now() - t0
    if (r.contiguousLength !== n) throw new Error('replica holds ' + r.contiguousLength)
    pages += n
    stop()
    await r.close()
  }
  await core.close()
  return pages / elapsed
}

// As BenchmarkAppendToReader: one append until a live reader holds it
// (verified and stored: hypercore's 'download' event).
async function appendToReader () {
  const core = await writer()
  await core.append(page)
  const r = await reader(core.key)
  const stop = connect(core, r)
  r.download({ start: 0, end: -1 })
  await r.get(0)
  let want = -1
  let arrived = null
  r.on('download', (index) => {
    if (index === want && arrived) { const f = arrived; arrived = null; f() }
  })
  const lat = []
  const t0 = now()
  while (now() - t0 < seconds || lat.length < 100) {
    const start = now()
    const got = new Promise((resolve) => { arrived = resolve })
    want = core.length
    await core.append(page)
    await got
    lat.push(now() - start)
  }
  stop()
  await r.close()
  await core.close()
  lat.sort((a, b) => a - b)
  const q = (x) => lat[Math.floor(x * (lat.length - 1))] * 1000
  return { p50: q(0.5), p99: q(0.99) }
}

async function main () {
  const out = {}
  out.appendSingle = await appendSingle()
  out.appendBatch100 = await appendBatch100()
  out.replicate = await replicate()
  const l = await appendToReader()
  out.appendToReaderP50 = l.p50
  out.appendToReaderP99 = l.p99
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err) => { console.error(err); process.exit(1) })
