package e2e

import (
	"fmt"
	"testing"
)

// TestUnreadAbove: a message that arrives while its task is shown but
// sorts above the page shown (Ana wrote it offline, before the 60 lines
// Bob wrote meanwhile) is counted unread with nothing in view; a button at
// the top of the timeline says so and goes to it, and once shown it is read.
func TestUnreadAbove(t *testing.T) {
	b := newBrowser(t)
	ana, bob, anaID, _, task := pair(t, b, "above", "")
	pick := `document.querySelector('.pick[data-task="` + task + `"] .unread')`
	bob.poll(`document.querySelector('#timeline li.msg[data-type="join"][data-person="` + anaID + `"]') !== null && ` + pick + ` === null`)

	// Bob's tab closes; Ana writes, and closes hers: her message waits in
	// her own storage, with the clock of a task where nothing followed the
	// join. Bob comes back and writes 60 lines, the newest page of which
	// is shown.
	bob.close()
	ana.run(script(`await window.tmApp.send({{task}}, 'written while Bob was away'); return true`, map[string]any{"task": task}), nil)
	ana.close()
	bob = openMessenger(t, b, "above-bob", "&task="+task)
	bob.poll(`document.body.dataset.shown === '` + task + `'`)
	bob.run(script(`const texts = []
for (let i = 1; i <= 60; i++) texts.push('deck line ' + i)
await window.tmApp.sendMany({{task}}, texts); return true`, map[string]any{"task": task}), nil)
	bob.waitText("deck line 60")
	if !bob.hidden("#above") {
		t.Fatalf("the unread button shows with nothing unread: %s", bob.says())
	}

	// Ana comes back: her message reaches Bob and sorts above his page.
	ana = openMessenger(t, b, "above-ana", "")
	above := `document.getElementById('above')`
	bob.poll(`!` + above + `.hidden && ` + above + `.textContent.includes('1 unread message above') && ` + pick + `?.dataset.unread === '1'`)
	var shown bool
	bob.run(`return [...document.querySelectorAll('#timeline li.msg p.text')].some((p) => p.textContent === 'written while Bob was away')`, &shown)
	if shown {
		t.Fatalf("Ana's message is on the page already: the test did not make it sort above")
	}
	t.Logf("above: %s", bob.screenshot("above-button.png"))

	// Ana writes again while Bob looks: her line shows at the end of his
	// page, and the page marks her messages read up to it, but not the
	// one above, which Bob has not seen: both stay unread, the button too.
	var reads int
	bob.run(`return Number(document.body.dataset.reads || 0)`, &reads)
	ana.run(script(`await window.tmApp.send({{task}}, 'back now'); return true`, map[string]any{"task": task}), nil)
	bob.waitText("back now")
	bob.poll(fmt.Sprintf(`Number(document.body.dataset.reads || 0) > %d`, reads))
	var unread int
	bob.run(script(`return (await window.tmApp.tasks()).find((t) => t.id === {{task}}).unread`, map[string]any{"task": task}), &unread)
	if unread != 2 || bob.hidden("#above") {
		t.Fatalf("after Ana's new line, %d unread (want 2: the line above is not seen), the button hidden %v", unread, bob.hidden("#above"))
	}

	bob.click("#above")
	bob.waitText("written while Bob was away")
	bob.poll(above + `.hidden && ` + pick + ` === null`)
	bob.poll(`document.activeElement?.closest('li.msg')?.querySelector('p.text')?.textContent === 'written while Bob was away'`)
}

// hidden reports whether the element is hidden (absent counts as hidden).
func (t *tab) hidden(selector string) bool {
	var h bool
	t.run(script(`const e = document.querySelector({{s}}); return !e || e.hidden`, map[string]any{"s": selector}), &h)
	return h
}
