// Package idbtest gives tests that run in the browser a fresh IndexedDB
// store, deleted when the test ends (js/wasm only).
package idbtest
