function asyncMethod (fn) {
  // A method that returns a Promise made here: fn, a Go function, gets its
  // resolve and reject before the arguments and starts the work (one call
  // into the module per call; a promise made from Go called back into it).
  // fn returns an Error only if it failed before it could start.
  return (...args) => new Promise((resolve, reject) => {
    const err = fn(resolve, reject, ...args)
    if (err instanceof Error) reject(err)
  })
}
