package e2e

import (
	"strings"
	"testing"
)

// lineOf is the JS expression of the timeline line whose text is text.
func lineOf(text string) string {
	return script(`[...document.querySelectorAll('#timeline li.msg')].find((li) => li.querySelector('p.text')?.textContent === {{text}})`, map[string]any{"text": text})
}

// TestNamesEditDelete is issue #16's names, edits and limits through the
// page, clicking and typing: Bob and Ana name themselves in the header,
// see each other's names after the join and after Ana's rename; Ana edits
// and deletes a message of hers and Bob sees both; a paste over the limit
// is kept whole, the limit said and Send disabled. Screenshots:
// artifacts/names-{bob,ana}.png, names-edit-bob.png, names-limit-ana.png.
func TestNamesEditDelete(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "names-bob", "")
	ana := openMessenger(t, b, "names-ana", "")

	// A new profile is asked its name, without blocking the page.
	for _, c := range []struct {
		tab  *tab
		name string
	}{{bob, "Bob"}, {ana, "Ana"}} {
		c.tab.poll(`!document.getElementById('name-form').hidden && document.getElementById('name-shown').hidden`)
		c.tab.typeText("#my-name", c.name, true)
		c.tab.poll(script(`document.getElementById('my-name-text').textContent === {{n}} && document.getElementById('name-form').hidden`, map[string]any{"n": c.name}))
	}

	shareTask(bob, ana, "Paint the fence")

	// Names after the join: in the member list (with the id), the system
	// lines and the messages; no "(host)" that means someone else to each.
	ana.poll(`[...document.querySelectorAll('#members li')].some((li) => li.textContent.startsWith('Bob · ') && li.textContent.includes('(creator)'))`)
	ana.poll(`document.querySelector('#timeline li[data-type="task"]')?.textContent.startsWith('Bob created the task')`)
	bob.poll(`[...document.querySelectorAll('#members li')].some((li) => li.textContent.startsWith('Ana · '))`)
	ana.typeText("#text", "helo, I have brushes", true)
	bob.waitText("helo, I have brushes")
	bob.poll(lineOf("helo, I have brushes") + `.querySelector('.who').textContent === 'Ana'`)
	for _, tb := range []*tab{ana, bob} {
		var text string
		tb.run(`return document.getElementById('members').textContent`, &text)
		if strings.Contains(text, "(host)") {
			t.Errorf("the member list says (host): %q", text)
		}
	}
	t.Logf("screenshots: %s %s", bob.screenshot("names-bob.png"), ana.screenshot("names-ana.png"))

	// Ana renames herself from the header: Bob sees the new name.
	ana.click("#edit-name")
	ana.run(`document.getElementById('my-name').value = ''; return true`, nil)
	ana.typeText("#my-name", "Ana Maria", true)
	ana.poll(`document.getElementById('my-name-text').textContent === 'Ana Maria'`)
	bob.poll(lineOf("helo, I have brushes") + `.querySelector('.who').textContent === 'Ana Maria'`)
	bob.poll(`[...document.querySelectorAll('#members li')].some((li) => li.textContent.startsWith('Ana Maria · '))`)
	bob.poll(`[...document.querySelectorAll('#timeline li[data-type="name"]')].some((li) => li.textContent.includes('set their name to “Ana Maria”'))`)

	// Ana edits her message: Edit, a new text, Enter. Escape cancels.
	ana.run(lineOf("helo, I have brushes")+`.querySelector('button.edit').click(); return true`, nil)
	ana.poll(`document.activeElement?.classList.contains('edit-box')`)
	ana.typeText(".edit-box", "ignored", false)
	ana.run(`document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })); return true`, nil)
	ana.waitText("helo, I have brushes")
	ana.run(lineOf("helo, I have brushes")+`.querySelector('button.edit').click(); return true`, nil)
	ana.poll(`document.activeElement?.classList.contains('edit-box')`)
	ana.run(`document.activeElement.select(); return true`, nil)
	ana.typeText(".edit-box", "Hello, I have brushes", true)
	bob.waitText("Hello, I have brushes")
	bob.poll(lineOf("Hello, I have brushes") + `.querySelector('.edited')?.textContent === '(edited)'`)

	// Ana deletes a message (confirming): Bob sees it deleted.
	ana.typeText("#text", "wrong task, sorry", true)
	bob.waitText("wrong task, sorry")
	ana.run(`window.confirm = () => true; `+lineOf("wrong task, sorry")+`.querySelector('button.delete').click(); return true`, nil)
	bob.poll(`[...document.querySelectorAll('#timeline li.msg p.text.deleted')].some((p) => p.textContent === 'message deleted')`)
	bob.poll(`![...document.querySelectorAll('#timeline li.msg p.text')].some((p) => p.textContent === 'wrong task, sorry')`)
	var ownButtons int
	bob.run("return "+lineOf("Hello, I have brushes")+`.querySelectorAll('button.edit, button.delete').length`, &ownButtons)
	if ownButtons != 0 {
		t.Errorf("Bob can edit Ana's message: %d buttons", ownButtons)
	}
	t.Logf("screenshot: %s", bob.screenshot("names-edit-bob.png"))

	// A paste over the limit is kept whole; the limit is said before
	// sending and Send is disabled; Enter sends nothing.
	ana.run(`const ta = document.getElementById('text'); ta.focus();
  document.execCommand('insertText', false, 'x'.repeat(20000)); return true`, nil)
	ana.poll(`document.getElementById('text').value.length === 20000`)
	ana.poll(`document.getElementById('text-count').textContent === '20,000 / 16,384 — too long' && document.getElementById('send').disabled`)
	ana.typeText("#text", "", true)
	var n int
	ana.run(`return document.getElementById('text').value.length`, &n)
	if n != 20001 && n != 20000 {
		t.Errorf("the draft is %d characters after Enter, want it kept", n)
	}
	t.Logf("screenshot: %s", ana.screenshot("names-limit-ana.png"))
	var sent bool
	ana.run(`return [...document.querySelectorAll('#timeline li.msg p.text')].some((p) => p.textContent.startsWith('xxxx'))`, &sent)
	if sent {
		t.Error("a message over the limit was sent")
	}

	// A title over the limit is kept whole and refused with the limit said.
	ana.run(`document.getElementById('new-title').focus();
  document.execCommand('insertText', false, 'é'.repeat(150)); return true`, nil)
	ana.click("#new-task button[type=submit]")
	var title struct {
		Length  int    `json:"length"`
		Message string `json:"message"`
		Tasks   int    `json:"tasks"`
	}
	ana.run(`const i = document.getElementById('new-title');
  return { length: i.value.length, message: i.validationMessage, tasks: document.querySelectorAll('.pick').length }`, &title)
	if title.Length != 150 || !strings.Contains(title.Message, "At most 200 bytes: this is 300.") || title.Tasks != 1 {
		t.Errorf("a long title: %+v", title)
	}
}
