function writeBatch (db, tables, buf, ops, conds) {
  const tx = db.transaction(tables, 'readwrite', { durability: 'relaxed' })
  const state = { conflict: -1 }
  const done = new Promise((resolve, reject) => {
    const fail = (err) => reject(state.conflict >= 0 ? new DOMException('condition ' + state.conflict + ' does not hold', 'TMConflictError') : err)
    tx.oncomplete = () => resolve()
    tx.onerror = (e) => { e.preventDefault(); fail(tx.error || e.target.error) }
    tx.onabort = () => fail(tx.error || new DOMException('transaction aborted', 'AbortError'))
  })
  const same = (v, want) => {
    if (want === null || v === undefined) return want === null && v === undefined
    if (!(v instanceof Uint8Array)) v = new Uint8Array(v)
    if (v.length !== want.length) return false
    for (let j = 0; j < v.length; j++) if (v[j] !== want[j]) return false
    return true
  }
  try {
    const stores = tables.map((t) => tx.objectStore(t))
    for (let i = 0; i < conds.length; i += 5) {
      const want = conds[i + 3] < 0 ? null : buf.subarray(conds[i + 3], conds[i + 4])
      const req = stores[conds[i]].get(buf.subarray(conds[i + 1], conds[i + 2]))
      const index = i / 5
      req.onsuccess = () => {
        if (state.conflict < 0 && !same(req.result, want)) {
          state.conflict = index
          try { tx.abort() } catch (_) {}
        }
      }
    }
    for (let i = 0; i < ops.length; i += 5) {
      const key = buf.subarray(ops[i + 1], ops[i + 2])
      if (ops[i + 3] < 0) stores[ops[i]].delete(key)
      else stores[ops[i]].put(buf.slice(ops[i + 3], ops[i + 4]), key)
    }
  } catch (e) {
    try { tx.abort() } catch (_) {}
    done.catch(() => {})
    throw e
  }
  return [tx, done, state]
}
