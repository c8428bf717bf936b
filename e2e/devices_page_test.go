package e2e

import (
	"strings"
	"testing"
)

// TestLinkPage is the page's part of linking a device: Ana's Devices panel
// lists her browser and shows a pairing code with its QR image and a
// countdown; a fresh browser's first screen offers "Link this browser to
// my account", and a code with a wrong secret half typed there is refused
// in words, the profile left as it was, while Ana's page says a wrong
// code was tried and goes on waiting. (The whole link, through the room,
// is TestLinkDevices'.)
func TestLinkPage(t *testing.T) {
	b := newBrowser(t)
	ana := openMessenger(t, b, "linkpage-ana", "")
	ana.run(`await window.tmApp.createTask({ title: 'mine' }); return true`, nil)
	ana.poll(`document.getElementById('link-form').hidden`) // a profile with tasks links nothing
	code := ana.showLinkCode()
	ana.poll(`document.getElementById('link-qr').complete && document.getElementById('link-qr').naturalWidth > 0`)
	var expiry string
	ana.run(`return document.getElementById('link-expiry').textContent`, &expiry)
	if !strings.HasPrefix(code, "tml1-") || len(code) != len("tml1-xxxx-xxxx-xxxx-xxxx") {
		t.Fatalf("the page shows the code %q", code)
	}
	if !strings.HasPrefix(expiry, "Valid for 9:") && !strings.HasPrefix(expiry, "Valid for 10:") {
		t.Fatalf("countdown %q", expiry)
	}

	nb := newBrowser(t)
	fresh := openMessenger(t, nb, "linkpage-new", "")
	fresh.poll(`!document.getElementById('link-form').hidden`)
	var id string
	fresh.run(`return window.tmApp.id`, &id)
	// The same rendezvous, another secret: the last character changed.
	wrong := []byte(code)
	wrong[len(wrong)-1] = map[bool]byte{true: 'y', false: 'b'}[wrong[len(wrong)-1] != 'y']
	fresh.typeText("#link-input", string(wrong), false)
	fresh.typeText("#link-label", "second browser", true)
	fresh.poll(`document.getElementById('link-form-status').className === 'error'`)
	var msg string
	fresh.run(`return document.getElementById('link-form-status').textContent`, &msg)
	if !strings.Contains(msg, "wrong code") {
		t.Fatalf("a wrong code: %q", msg)
	}
	var person string
	fresh.run(`return await window.tmApp.person()`, &person)
	if person != id {
		t.Fatalf("a wrong code changed the person to %s", person)
	}
	ana.poll(`/wrong code/.test(document.getElementById('link-status').textContent) && !document.getElementById('link-offer').hidden`)
	fresh.screenshot("link-page-new.png")
	ana.screenshot("link-page-ana.png")
}
