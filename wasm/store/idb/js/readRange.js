function readRange (db, table, lower, upper, limit) {
  const tx = db.transaction([table], 'readonly')
  const os = tx.objectStore(table)
  const range = upper ? IDBKeyRange.bound(lower, upper, false, true) : IDBKeyRange.lowerBound(lower)
  const count = limit > 0 ? limit : undefined
  return new Promise((resolve, reject) => {
    let keys = [], values = []
    os.getAllKeys(range, count).onsuccess = (e) => { keys = e.target.result }
    os.getAll(range, count).onsuccess = (e) => { values = e.target.result }
    tx.onerror = (e) => { e.preventDefault(); reject(tx.error || e.target.error) }
    tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'))
    tx.oncomplete = () => {
      if (keys.length !== values.length) { reject(new Error('getAll and getAllKeys disagree')); return }
      const n = keys.length
      let size = 4 + 8 * n
      const ks = keys.map((k) => new Uint8Array(k))
      const vs = values.map((v) => (v instanceof Uint8Array ? v : new Uint8Array(v)))
      for (let i = 0; i < n; i++) size += ks[i].length + vs[i].length
      const out = new Uint8Array(size)
      const dv = new DataView(out.buffer)
      dv.setUint32(0, n, true)
      let at = 4 + 8 * n
      for (let i = 0; i < n; i++) {
        dv.setUint32(4 + 8 * i, ks[i].length, true)
        dv.setUint32(8 + 8 * i, vs[i].length, true)
        out.set(ks[i], at); at += ks[i].length
        out.set(vs[i], at); at += vs[i].length
      }
      resolve(out)
    }
  })
}
