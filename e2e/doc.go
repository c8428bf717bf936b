// Package e2e holds the browser tests of the WebAssembly module: they build
// wasm/cmd/taskmessenger, serve it with relay.StaticHandler on 127.0.0.1 and
// drive Debian's Chromium (/usr/bin/chromium, headless) through chromedp.
//
// Everything lives in _test.go files; this file only names the package.
// Run them with
//
//	go test -count=1 ./e2e/
//
// Chromium must be installed (`apt-get update && apt-get install -y
// chromium`); the tests never download a browser and every connection they
// make is to the loopback address. Screenshots go to artifacts/ at the
// repository root.
package e2e
