function asyncMethod (fn, asJSON) {
  // A method that returns a Promise made here: fn, a Go function, gets its
  // resolve and reject before the arguments and starts the work (one call
  // into the module per call; a promise made from Go called back into it).
  // With asJSON, fn gets the arguments made JSON here, at the call, or null
  // and why not (a BigInt, a cycle: the call then rejects with that).
  // fn returns an Error only if it failed before it could start.
  return (...args) => new Promise((resolve, reject) => {
    let err
    if (asJSON) {
      let json = null
      let why = ''
      try { json = JSON.stringify(args) } catch (e) { why = String((e && e.message) || e) }
      err = fn(resolve, reject, json, why)
    } else {
      err = fn(resolve, reject, ...args)
    }
    if (err instanceof Error) reject(err)
  })
}
