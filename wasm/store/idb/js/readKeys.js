function readKeys (db, table, buf, ends) {
  const tx = db.transaction([table], 'readonly')
  const os = tx.objectStore(table)
  return new Promise((resolve, reject) => {
    const n = ends.length
    const vals = new Array(n)
    let start = 0
    for (let i = 0; i < n; i++) {
      const req = os.get(buf.subarray(start, ends[i]))
      req.onsuccess = () => { vals[i] = req.result }
      start = ends[i]
    }
    tx.onerror = (e) => { e.preventDefault(); reject(tx.error || e.target.error) }
    tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'))
    tx.oncomplete = () => {
      let size = 4 + 4 * n
      const vs = vals.map((v) => (v === undefined ? null : v instanceof Uint8Array ? v : new Uint8Array(v)))
      for (const v of vs) if (v) size += v.length
      const out = new Uint8Array(size)
      const dv = new DataView(out.buffer)
      dv.setUint32(0, n, true)
      let at = 4 + 4 * n
      for (let i = 0; i < n; i++) {
        const v = vs[i]
        dv.setUint32(4 + 4 * i, v ? v.length : 0xFFFFFFFF, true)
        if (v) { out.set(v, at); at += v.length }
      }
      resolve(out)
    }
  })
}
