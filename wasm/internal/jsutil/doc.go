// Package jsutil is the only typed wrapper over syscall/js: promises in
// both directions, callbacks that are always released, errors and bytes
// across the boundary. Browser adapters and the wasm entry point use it;
// nothing else imports syscall/js.
package jsutil
