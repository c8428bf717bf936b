package e2e

import (
	"slices"
	"testing"
)

// TestProfileInTwoTabs: Bob opens his profile in a second tab while the
// first is still open (one browser: the tabs share storage). The newest tab
// is the profile's writer: the first tab stops (it says the profile is open
// in another tab, and its sends fail), instead of both tabs signing
// heads of the same books (a fork that would stop Bob's messages to Ana for
// good). The second tab writes on, and Ana gets every message Bob's tabs
// reported as sent, once.
func TestProfileInTwoTabs(t *testing.T) {
	b := newBrowser(t)
	bob1 := openMessenger(t, b, "dup-bob", "")
	ana := openMessenger(t, b, "dup-ana", "")
	bob1.typeText("#new-title", "One profile", true)
	bob1.poll(`document.querySelector('.pick[aria-current="true"]') !== null`)
	var task, code string
	bob1.run(`return document.querySelector('.pick[aria-current="true"]').dataset.task`, &task)
	bob1.run(`return await window.tmApp.invite(document.querySelector('.pick[aria-current="true"]').dataset.task)`, &code)
	ana.typeText("#join-code", code, false)
	ana.click("#join")
	ana.poll(`document.getElementById('room-title').textContent === 'One profile'`)
	bob1.typeText("#text", "one", true)
	ana.waitText("one")

	// The second tab of Bob's profile shows what the first wrote.
	bob2 := openMessenger(t, b, "dup-bob", "&task="+task)
	bob2.waitText("one")

	// The first tab learns it at once (the relay replaced its session, and
	// the profile was opened after it): it says so, and it stays offline
	// rather than take the relay back from the second tab.
	bob1.poll(`document.getElementById('me-state').textContent.includes('another tab')`)
	// It can no longer write.
	bob1.typeText("#text", "from the old tab", true)
	bob1.poll(`document.getElementById('send-status').textContent.startsWith('Not sent')`)

	// The second tab writes, and Ana gets it.
	bob2.typeText("#text", "two", true)
	bob2.waitText("two")
	ana.waitText("two")
	var texts []string
	ana.run(script(`return (await window.tmApp.timeline({{task}}, { limit: 50 })).filter((m) => m.type === 'chat').map((m) => m.data.text)`, map[string]any{"task": task}), &texts)
	if !slices.Equal(texts, []string{"one", "two"}) {
		t.Errorf("Ana's timeline holds %q; want exactly one, two", texts)
	}
}
