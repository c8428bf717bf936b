package e2e

import (
	"slices"
	"testing"
	"time"
)

// waitChat waits until the tab's app has a chat message with text in
// task (its timeline, as app.timeline gives it), polling.
func (t *tab) waitChat(task, text string) {
	t.tb.Helper()
	deadline := time.Now().Add(evalTimeout)
	for {
		var texts []string
		t.run(script(chatTexts, map[string]any{"task": task}), &texts)
		if slices.Contains(texts, text) {
			return
		}
		if time.Now().After(deadline) {
			t.tb.Fatalf("e2e: %s: no message %q in %q", t.name, text, texts)
		}
		time.Sleep(20 * time.Millisecond) // a poll, as tab.poll does
	}
}

// TestForkHealsInPage: Bob's backup restored on a second device (another
// profile's storage in the browser, the same identity) that writes after
// the first one did forks his book to Ana. Ana proves it; the second
// device goes on in a successor book; Ana keeps the messages of both
// places, each once, and both pages say what happened in the timeline.
func TestForkHealsInPage(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "fork-bob", "")
	ana := openMessenger(t, b, "fork-ana", "")
	var task, code string
	bob.run(`const t = await window.tmApp.createTask({ title: 'Two places' })
return t.id`, &task)
	bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
	ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	args := map[string]any{"task": task}
	bob.run(script(`await window.tmApp.send({{task}}, 'one'); return true`, args), nil)
	ana.waitChat(task, "one")

	// Bob's backup, then one more message from the first device, which
	// then closes.
	var sealed string
	bob.run(`return JSON.stringify(await window.tmApp.export({ passphrase: 'two places' }))`, &sealed)
	bob.run(script(`await window.tmApp.send({{task}}, 'from the laptop'); return true`, args), nil)
	ana.waitChat(task, "from the laptop")
	bob.close()

	// The second device: the backup restored, it writes from "one".
	phone := openMessenger(t, b, "fork-bob-phone", "")
	var msg string
	phone.run(script(importError, map[string]any{"backup": sealed, "opts": map[string]any{"passphrase": "two places"}}), &msg)
	if msg != "" {
		t.Fatalf("import: %s", msg)
	}
	phone.reload()
	phone.poll(`document.body.dataset.ready === '1'`)
	pick := `.pick[data-task="` + task + `"]`
	phone.poll(`document.querySelector('` + pick + `') !== null`)
	phone.click(pick)
	ana.poll(`document.querySelector('` + pick + `') !== null`)
	ana.click(pick)
	phone.typeText("#text", "from the phone", true)

	ana.waitText("from the phone")
	ana.poll(`[...document.querySelectorAll('#timeline li[data-type="fork"]')].some((li) => li.textContent.includes('wrote from two places'))`)
	phone.poll(`[...document.querySelectorAll('#timeline li[data-type="fork"]')].some((li) => li.textContent.includes('go on in a new book'))`)
	var texts []string
	ana.run(script(chatTexts, args), &texts)
	if want := []string{"one", "from the laptop", "from the phone"}; !slices.Equal(texts, want) {
		t.Fatalf("Ana's timeline %q, want %q", texts, want)
	}
	// The notice that Bob's messages no longer reach Ana is gone.
	phone.poll(`document.getElementById('room-notice').hidden`)
	phone.typeText("#text", "and after", true)
	ana.waitText("and after")
}
