function jsonMethod (fn) {
  // asyncMethod for a Go function that takes its arguments as JSON: they
  // are made JSON here, at the call (a later change to an argument does
  // not reach the call), and fn gets the text, or null and why not (a
  // BigInt, a cycle: the call then rejects with that).
  return (...args) => new Promise((resolve, reject) => {
    let json = null
    let why = ''
    try { json = JSON.stringify(args) } catch (e) { why = String((e && e.message) || e) }
    const err = fn(resolve, reject, json, why)
    if (err instanceof Error) reject(err)
  })
}
