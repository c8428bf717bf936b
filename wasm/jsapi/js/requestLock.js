function requestLock (name, steal, signal, granted, ended) {
  // navigator.locks.request, held until Go calls the release function it
  // is given; ended(error) when the request ends: released (null), stolen
  // or aborted (the error's name: AbortError).
  const opts = steal ? { steal: true } : { signal }
  navigator.locks.request(name, opts, () => new Promise((resolve) => granted(resolve)))
    .then(() => ended(null), (e) => ended((e && e.name) || String(e)))
}
