//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/app"
)

// A webPeer is a browser peer of the soak: a tab of a profile in one of
// the browsers. Its relay node serves its page (its origin: its storage).
type webPeer struct {
	profile string
	browser int // index into the run's browsers: tabs of one browser share its storage
	// twin ≥ 0: another tab of the profile of that web peer (index in
	// webPeers), in the same browser: the same member, it joins nothing.
	twin int
	// linked ≥ 0: a device of another browser linked to that web peer's
	// profile (app linkDevice/link) once the tasks are made: a member of
	// its tasks through the link, it joins nothing.
	linked int
}

// webPeers are the browser peers, after the natives: a profile open in
// two tabs of one browser, a profile on two devices (two Chromium
// instances, the second linked to the first), and two profiles of one tab.
// The linked device comes last: it is added to the world's peers once
// linked, after the tasks are made.
var webPeers = []webPeer{
	{profile: "web-a", browser: 0, twin: -1, linked: -1},
	{profile: "web-a", browser: 0, twin: 0, linked: -1},
	{profile: "web-b", browser: 1, twin: -1, linked: -1},
	{profile: "web-c", browser: 2, twin: -1, linked: -1},
	{profile: "web-d", browser: 3, twin: -1, linked: -1},
	{profile: "web-b", browser: 4, twin: -1, linked: 2},
}

// webBrowsers is the number of Chromium instances webPeers use.
const webBrowsers = 5

// shares gives, for natives natives and then webPeers, the peer whose
// membership each peer shares (-1: its own): a plan's input.
func shares(natives int, web bool) []int {
	out := make([]int, natives)
	for i := range out {
		out[i] = -1
	}
	if !web {
		return out
	}
	for _, w := range webPeers {
		switch {
		case w.twin >= 0:
			out = append(out, natives+w.twin)
		case w.linked >= 0:
			out = append(out, natives+w.linked)
		default:
			out = append(out, -1)
		}
	}
	return out
}

// A web is the browsers of a run and what linking needs.
type web struct {
	browsers []*browser
	natives  int // immutable: index of the first web peer

	unlinked []*peer // the linked peers, not yet in the world: linkDevices adds them

	mu   sync.Mutex
	link map[int]string // guarded by mu: the pairing code a linked peer opens with the first time
}

// startWeb starts the browsers (WebRTC on if rtc) and adds webPeers to
// w.peers, opened, but for the linked ones: linkDevices adds them.
func startWeb(t *testing.T, w *world, rtc bool) *web {
	wb := &web{natives: len(w.peers), link: make(map[int]string)}
	for range webBrowsers {
		b, err := startBrowser(rtc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.stop)
		wb.browsers = append(wb.browsers, b)
	}
	for k, wp := range webPeers {
		i := wb.natives + k
		home := i % relays
		if wp.twin >= 0 {
			home = (wb.natives + wp.twin) % relays // the same origin: the same storage
		}
		name := fmt.Sprintf("peer%02d", i)
		cfg := tabConfig{name: name + " (" + wp.profile + ")", b: wb.browsers[wp.browser], url: pageURL(w.nodes[home].URL),
			profile: wp.profile, logf: t.Logf}
		if wp.linked >= 0 {
			cfg.opts = func() map[string]any { return wb.linkOpts(i) }
		}
		p := &peer{i: i, name: name, start: tabStart(cfg)}
		t.Cleanup(func() { p.close() })
		if wp.linked >= 0 {
			wb.unlinked = append(wb.unlinked, p)
			continue
		}
		w.peers = append(w.peers, p)
		if err := p.open(w.seen); err != nil {
			t.Fatal(err)
		}
	}
	return wb
}

// twins maps each tab of a profile opened in two tabs to its other tab.
func (wb *web) twins() map[int]int {
	out := make(map[int]int)
	for k, wp := range webPeers {
		if wp.twin >= 0 {
			out[wb.natives+k] = wb.natives + wp.twin
		}
	}
	return out
}

// linkOpts are the link options of tm.open for peer i: its pairing code
// the first time, none after.
func (wb *web) linkOpts(i int) map[string]any {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	code, ok := wb.link[i]
	if !ok {
		return nil
	}
	delete(wb.link, i)
	return map[string]any{"link": code, "label": fmt.Sprintf("soak device %d", i), "timeout": 60000}
}

// linkDevices links each linked web peer to the profile of its web peer:
// that one shows a pairing code (linkDevice), the linked one opens with
// it and joins w.peers.
func (wb *web) linkDevices(w *world) error {
	for k, wp := range webPeers {
		if wp.linked < 0 {
			continue
		}
		i := wb.natives + k
		if i != len(w.peers) {
			return fmt.Errorf("linked peer %d is not the next of %d peers: webPeers must list the linked last", i, len(w.peers))
		}
		w.peers = append(w.peers, wb.unlinked[0])
		wb.unlinked = wb.unlinked[1:]
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		out, err := w.peers[wb.natives+wp.linked].do(ctx, "linkDevice", `[{"label":"soak device"}]`)
		cancel()
		if err != nil {
			return fmt.Errorf("linkDevice at peer %d: %w", wb.natives+wp.linked, err)
		}
		var offer app.LinkOffer
		if err := json.Unmarshal(out, &offer); err != nil {
			return err
		}
		wb.mu.Lock()
		wb.link[i] = offer.Code
		wb.mu.Unlock()
		if err := w.peers[i].open(w.seen); err != nil {
			return fmt.Errorf("linking peer %d: %w", i, err)
		}
	}
	return nil
}

// A crasher is a client whose process can crash (a tab's renderer).
type crasher interface{ crash() error }

// crash crashes the peer's client if it can crash, else closes it; it
// says whether it crashed.
func (p *peer) crash() (bool, error) {
	p.mu.Lock()
	c := p.c
	cr, ok := c.(crasher)
	if ok {
		p.c = nil
	}
	p.mu.Unlock()
	if !ok {
		p.close()
		return false, nil
	}
	return true, cr.crash()
}

// webTimeout bounds linking and the first pairing of the browser peers.
const webTimeout = 3 * time.Minute
