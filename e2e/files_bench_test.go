package e2e

import (
	"os"
	"testing"
)

// fileToShown: Ana's page sends a message with a PNG of about 9 MB (noise
// drawn on a canvas, so it does not compress) through app.send; Bob's page
// renders the message, fetches the file's chunks (app.file: sparse, then
// verified against the message's hash) and shows the preview. It reports
// the time from the send to the preview's load event (one clock: both
// tabs are in one browser), the throughput over it, and the sender's
// write alone.
func fileToShown(b *testing.B, ana, bob *tab, task string) {
	var size float64
	ana.run(`const c = document.createElement('canvas'); c.width = 1500; c.height = 1500
const g = c.getContext('2d'); const img = g.createImageData(1500, 1500)
const u32 = new Uint32Array(img.data.buffer)
let x = 2463534242
for (let i = 0; i < u32.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; u32[i] = x | 0xff000000 }
g.putImageData(img, 0, 0)
const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/png'))
window.benchFile = new File([blob], 'noise.png', { type: 'image/png' })
return blob.size`, &size)
	if size > 10<<20 {
		b.Fatalf("the bench image is %.0f bytes, over the limit", size)
	}
	bob.run(`window.shownAt = 0
document.addEventListener('load', (e) => {
  if (e.target.classList && e.target.classList.contains('preview') && e.target.alt === 'noise.png') window.shownAt = performance.timeOrigin + performance.now()
}, true)
return true`, nil)
	var sent struct {
		At     float64 `json:"at"`
		SendMs float64 `json:"sendMs"`
	}
	ana.run(script(`const t0 = performance.now()
await window.tmApp.send({{task}}, 'a big picture', { files: [window.benchFile] })
return { at: performance.timeOrigin + t0, sendMs: performance.now() - t0 }`, map[string]any{"task": task}), &sent)
	bob.poll(`window.shownAt > 0 || [...document.querySelectorAll('.file .hint')].some((h) => h.textContent.includes('not shown'))`)
	var shown float64
	var why string
	bob.run(`return [...document.querySelectorAll('.file')].map((f) => f.textContent).join(' | ')`, &why)
	bob.run(`return window.shownAt`, &shown)
	if shown == 0 {
		b.Fatalf("Bob's page shows no preview: %s", why)
	}
	ms := shown - sent.At
	b.ReportMetric(size/(1<<20), "MiB")
	b.ReportMetric(ms, "shown-ms")
	b.ReportMetric(size/(1<<20)/(ms/1000), "MiB/s")
	b.ReportMetric(sent.SendMs, "send-ms")
}

// BenchmarkFileToShownRelay: a ~9 MB image sent in Ana's tab → previewed
// in Bob's, ports through the relay on 127.0.0.1.
func BenchmarkFileToShownRelay(b *testing.B) {
	for range b.N {
		br := newBrowser(b)
		ana, bob, _, _, task := pair(b, br, "file-relay", "")
		fileToShown(b, ana, bob, task)
	}
}

// BenchmarkFileToShownWebRTC: the same over a WebRTC data channel, inside
// the loopback-only network namespace (make bench).
func BenchmarkFileToShownWebRTC(b *testing.B) {
	if os.Getenv("E2E_NETNS") == "" {
		b.Skip("WebRTC in Chromium runs only in a private network namespace: make bench")
	}
	for range b.N {
		br := newBrowser(b, rtcFlags...)
		ana, bob, _, bobID, task := pair(b, br, "file-rtc", "&webrtc=1")
		ana.poll(script(`document.querySelector('#members li[data-peer={{bob}}]')?.textContent.includes('via webrtc')`, map[string]any{"bob": bobID}))
		fileToShown(b, ana, bob, task)
	}
}
