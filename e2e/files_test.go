package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// attach sets the composer's file input to files made in the page (a
// DataTransfer, as a drop or the picker gives them) and fires change.
// make is JavaScript that returns an array of File.
func (t *tab) attach(make string) {
	t.tb.Helper()
	t.run(`const files = await (async () => { `+make+` })()
const dt = new DataTransfer()
for (const f of files) dt.items.add(f)
const input = document.getElementById('attach')
input.files = dt.files
input.dispatchEvent(new Event('change', { bubbles: true }))
return true`, nil)
}

// pngFile is JavaScript making a 64×48 PNG File drawn on a canvas.
const pngFile = `const c = document.createElement('canvas'); c.width = 64; c.height = 48
const g = c.getContext('2d'); g.fillStyle = '#c33'; g.fillRect(0, 0, 64, 48); g.fillStyle = '#fff'; g.fillRect(16, 12, 32, 24)
const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/png'))
return [new File([blob], 'roof.png', { type: 'image/png' })]`

// TestFilesImagePreview: Bob attaches an image through the composer's
// file input and sends it; Ana sees it previewed (an <img> that loaded).
// A file that lies about its type (HTML named and typed as a PNG) is a
// download, never run; a file over the limit is refused before sending,
// the limit shown.
func TestFilesImagePreview(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "files-bob", "")
	ana := openMessenger(t, b, "files-ana", "")
	shareTask(bob, ana, "Photos")

	// The limit is said before anything is chosen.
	var limit string
	bob.run(`return document.getElementById('attach-limit').textContent`, &limit)
	if !strings.Contains(limit, "max 10 MB") {
		t.Errorf("the limit shown: %q", limit)
	}
	// Too big: refused at once, with the limit.
	bob.attach(`return [new File([new Uint8Array(11 << 20)], 'huge.bin')]`)
	bob.poll(`document.getElementById('send-status').textContent.includes('limit is 10 MB')`)
	bob.poll(`document.getElementById('attach-list').textContent === ''`)

	bob.attach(pngFile)
	bob.poll(`document.getElementById('attach-list').textContent.includes('roof.png')`)
	bob.typeText("#text", "the roof, as it is", true)
	bob.waitText("the roof, as it is")
	ana.waitText("the roof, as it is")
	ana.poll(`[...document.querySelectorAll('#timeline img.preview')].some((img) => img.alt === 'roof.png' && img.complete && img.naturalWidth === 64)`)

	// HTML that says it is a PNG, with markup and a bidi override in its name.
	bob.attach(`return [new File(['<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'],
  '<b onmouseover=alert(1)>x</b>\u202Egnp.html', { type: 'image/png' })]`)
	bob.typeText("#text", "not a picture", true)
	ana.waitText("not a picture")
	ana.poll(`[...document.querySelectorAll('#timeline li.msg')].find((li) => li.querySelector('p.text')?.textContent === 'not a picture')?.querySelector('a.download')`)
	var got struct {
		Imgs     int    `json:"imgs"`
		Download string `json:"download"`
		Name     string `json:"name"`
		Pwned    bool   `json:"pwned"`
		Bold     int    `json:"bold"`
	}
	ana.run(`const li = [...document.querySelectorAll('#timeline li.msg')].find((li) => li.querySelector('p.text')?.textContent === 'not a picture')
const a = li.querySelector('a.download')
return { imgs: li.querySelectorAll('img').length, download: a.getAttribute('download'), name: a.textContent,
  pwned: window.pwned !== undefined, bold: document.querySelectorAll('#timeline b').length }`, &got)
	if got.Imgs != 0 || got.Pwned || got.Bold != 0 || strings.ContainsRune(got.Download, '\u202E') || !strings.Contains(got.Download, "<b onmouseover") {
		t.Errorf("a lying file at Ana: %+v", got)
	}
	// A second tab of Bob's profile follows the first: its file crosses to
	// the writer tab as base64 in the call's JSON, and arrives the same.
	var task string
	bob.run(`return document.querySelector('.pick[aria-current="true"]').dataset.task`, &task)
	bob2 := openMessenger(t, b, "files-bob", "")
	if r := bob2.role(); r != "follower" {
		t.Fatalf("Bob's second tab is the %s", r)
	}
	var id string
	bob2.run(script(`const m = await window.tmApp.send({{task}}, 'from a follower tab', { files: [new File(['GIF89a', new Uint8Array(100000)], 'f.gif', { type: 'image/gif' })] })
return m.id`, map[string]any{"task": task}), &id)
	ana.waitText("from a follower tab")
	var f struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Size int    `json:"size"`
	}
	ana.run(script(`const f = await window.tmApp.file({{task}}, {{id}}, 0); return { name: f.name, type: f.type, size: f.size }`, map[string]any{"task": task, "id": id}), &f)
	if f.Name != "f.gif" || f.Type != "image/gif" || f.Size != 100006 {
		t.Errorf("a follower tab's file at Ana: %+v", f)
	}
	bob2.close()

	// A window tall enough for the screenshot to show the preview, the timeline at its end.
	if err := chromedp.Do(ana.ctx, chromedp.EmulateViewport(1000, 1100)); err != nil {
		t.Fatal(err)
	}
	ana.run(`const s = document.getElementById('scroller'); s.scrollTop = s.scrollHeight; return true`, nil)
	t.Logf("screenshots: %s %s", ana.screenshot("files-ana.png"), bob.screenshot("files-bob.png"))
}
