function readSeek (db, table, buf, ends, upper) {
  const tx = db.transaction([table], 'readonly')
  const os = tx.objectStore(table)
  return new Promise((resolve, reject) => {
    const n = ends.length
    const keys = new Array(n)
    const vals = new Array(n)
    let start = 0
    for (let i = 0; i < n; i++) {
      const lower = buf.subarray(start, ends[i])
      start = ends[i]
      if (upper && indexedDB.cmp(lower, upper) >= 0) continue
      const range = upper ? IDBKeyRange.bound(lower, upper, false, true) : IDBKeyRange.lowerBound(lower)
      const req = os.openCursor(range)
      req.onsuccess = () => {
        const c = req.result
        if (c) { keys[i] = c.key; vals[i] = c.value }
      }
    }
    tx.onerror = (e) => { e.preventDefault(); reject(tx.error || e.target.error) }
    tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'))
    tx.oncomplete = () => {
      let size = 4 + 8 * n
      const ks = keys.map((k) => (k === undefined ? null : new Uint8Array(k)))
      const vs = vals.map((v) => (v === undefined ? null : v instanceof Uint8Array ? v : new Uint8Array(v)))
      for (let i = 0; i < n; i++) if (ks[i]) size += ks[i].length + vs[i].length
      const out = new Uint8Array(size)
      const dv = new DataView(out.buffer)
      dv.setUint32(0, n, true)
      let at = 4 + 8 * n
      for (let i = 0; i < n; i++) {
        if (!ks[i]) { dv.setUint32(4 + 8 * i, 0xFFFFFFFF, true); continue }
        dv.setUint32(4 + 8 * i, ks[i].length, true)
        dv.setUint32(8 + 8 * i, vs[i].length, true)
        out.set(ks[i], at); at += ks[i].length
        out.set(vs[i], at); at += vs[i].length
      }
      resolve(out)
    }
  })
}
