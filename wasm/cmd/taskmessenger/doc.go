// Command taskmessenger is the browser module (GOOS=js GOARCH=wasm): see
// main_js.go. `make build` writes it to static/taskmessenger.wasm.
package main
