//go:build !js

// Package chromium says how the tests that drive pages (package e2e and
// the soak, tools/soak) start Chromium with chromedp: Debian's
// /usr/bin/chromium only, never a downloaded browser, with exactly these
// flags.
package chromium

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/chromedp/chromedp"
)

// Path is Debian's Chromium.
const Path = "/usr/bin/chromium"

// Flags are the only flags the tests give Chromium. chromedp adds the
// fresh --user-data-dir it makes (os.MkdirTemp, removed when the browser
// stops), --remote-debugging-pipe (DevTools over a pipe: no port at all)
// and the first page, about:blank.
var Flags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
}

// RTCFlags let Chromium use 127.0.0.1 for WebRTC inside a network
// namespace that has only loopback (tools/rtc-netns.sh), with a fake
// microphone whose permission (a getUserMedia call in the page) unlocks
// host candidates.
var RTCFlags = []string{
	"allow-loopback-in-peer-connection",
	"use-fake-ui-for-media-stream",
	"use-fake-device-for-media-stream",
}

// Options are chromedp's allocator options for Path with Flags and extra
// flags ("name" or "name=value"). It fails if Path is missing.
func Options(extra ...string) ([]chromedp.ExecAllocatorOption, error) {
	if _, err := os.Stat(Path); err != nil {
		return nil, fmt.Errorf("no Chromium at %s (%v): run `apt-get update && apt-get install -y chromium` "+
			"(the Makefile installs it); the tests never download a browser", Path, err)
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(Path)}
	for _, f := range append(slices.Clone(Flags), extra...) {
		if name, value, ok := strings.Cut(f, "="); ok {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(f, true))
		}
	}
	return opts, nil
}
