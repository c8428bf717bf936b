function requestLock (name, mode, signal, granted, ended) {
  // navigator.locks.request, held until Go calls the release function
  // granted is given (granted(null): mode 'try' and another holds it);
  // ended(error) when the request ends: released (null), stolen or
  // aborted (the error's name: AbortError). mode: 'wait', 'steal' or 'try'.
  const opts = mode === 'steal' ? { steal: true } : mode === 'try' ? { ifAvailable: true } : { signal }
  navigator.locks.request(name, opts, (lock) => {
    if (!lock) { granted(null); return undefined }
    return new Promise((resolve) => granted(resolve))
  }).then(() => ended(null), (e) => ended((e && e.name) || String(e)))
}
