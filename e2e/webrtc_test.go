package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/internal/chromium"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// rtcFlags let Chromium use 127.0.0.1 for WebRTC inside a namespace that
// has only loopback (see tools/rtc-netns.sh), with a fake microphone whose
// permission (asked once by the harness) unlocks host candidates.
var rtcFlags = chromium.RTCFlags

// TestTwoTabsWebRTC: two tabs connect over a WebRTC data channel and
// replicate a book over it. WebRTC makes Chromium offer every network
// address it has, so this test runs only inside a private network
// namespace: `make test` runs it there through tools/rtc-netns.sh.
func TestTwoTabsWebRTC(t *testing.T) {
	if os.Getenv("E2E_NETNS") == "" {
		t.Skip("WebRTC in Chromium runs only in a private network namespace: make e2e-rtc (part of make test) runs it there")
	}
	b := newBrowser(t, rtcFlags...)
	ana := b.open(t, pageURL(testPage, ""))
	bob := b.open(t, pageURL(testPage, ""))
	for _, tab := range []*tab{ana, bob} {
		tab.ready()
		tab.run(`await navigator.mediaDevices.getUserMedia({ audio: true }); return true`, nil)
	}
	var bobID, key string
	bob.run(`
const tm = await window.taskmessenger.ready
const p = window.p = await tm.vault({ name: 'bob-rtc', webrtc: true })
await p.io.on((port) => { window.port = port })
return p.id`, &bobID)
	ana.run(script(`
const tm = await window.taskmessenger.ready
const p = window.p = await tm.vault({ name: 'ana-rtc', webrtc: true })
const book = await p.db.author(p.id + '-' + {{bob}} + '-task1')
await p.io.on(() => {})
window.port = await p.io.at({{bob}}, { timeout: 10000 })
return book.key`, map[string]any{"bob": bobID}), &key)
	ana.poll(`window.port && window.port.transport() === 'webrtc'`)
	bob.poll(`window.port && window.port.transport() === 'webrtc'`)
	ana.run(script(`
const b = await window.p.db.author(window.p.id + '-' + {{bob}} + '-task1')
for (let i = 0; i < 100; i++) await b.add({ n: i })`, map[string]any{"bob": bobID}), nil)
	bob.poll(script(`(async () => { const r = await window.p.db.reader({{key}}); return (await r.len()) === 101 })()`, map[string]any{"key": key}))
}

// TestNativePeerAndTab: a native Go peer (pion, loopback only) and a tab
// connect over WebRTC and exchange messages on the app channel.
func TestNativePeerAndTab(t *testing.T) {
	if os.Getenv("E2E_NETNS") == "" {
		t.Skip("WebRTC in Chromium runs only in a private network namespace: make e2e-rtc (part of make test) runs it there")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relayURL := "ws" + strings.TrimPrefix(strings.TrimSuffix(site.url, "/"), "http") + "/relay"
	native := peerio.New("native", identity.Seed{77}, peerio.Config{Relay: relayURL,
		WebRTC: &peerio.RTCConfig{LoopbackOnly: true, Timeout: 10 * time.Second}})
	defer native.Close()
	ports := make(chan port.Port, 1)
	if err := native.On(ctx, func(p port.Port) { ports <- p }); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, rtcFlags...)
	tab := b.open(t, pageURL(testPage, ""))
	tab.ready()
	tab.run(`await navigator.mediaDevices.getUserMedia({ audio: true }); return true`, nil)
	tab.run(script(`
const tm = await window.taskmessenger.ready
const p = window.p = await tm.vault({ name: 'tab-rtc', webrtc: true })
window.got = []
await p.io.on(() => {})
const port = window.port = await p.io.at({{native}}, { timeout: 10000 })
port.onmessage = (e) => window.got.push(e.data)
return true`, map[string]any{"native": native.ID().String()}), nil)

	var p port.Port
	select {
	case p = <-ports:
	case <-ctx.Done():
		t.Fatal("the native peer got no port")
	}
	app := port.NewMux(p, port.ChannelApp).Channel(port.ChannelApp)
	tab.poll(`window.port.transport() === 'webrtc'`)
	tab.run(`await window.port.postMessage({ from: 'tab' }); return true`, nil)
	msg, err := app.Recv(ctx)
	if err != nil || string(msg) != `{"from":"tab"}` {
		t.Fatalf("native peer received %q, %v", msg, err)
	}
	if err := app.Send(ctx, []byte(`{"from":"native"}`)); err != nil {
		t.Fatal(err)
	}
	tab.poll(`window.got.length === 1 && window.got[0].from === 'native'`)
	if tr := p.(*peerio.Port).Transport(); tr != "webrtc" {
		t.Fatalf("native side transport %s, want webrtc", tr)
	}
}
