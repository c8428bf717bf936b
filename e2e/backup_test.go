package e2e

import (
	"strings"
	"testing"
	"time"
)

// chatTexts returns the texts of the chat messages of a task's timeline,
// oldest first, as app.timeline gives them.
const chatTexts = `return (await window.tmApp.timeline({{task}})).filter((m) => m.type === 'chat').map((m) => m.data.text)`

// importError imports {{backup}} with {{opts}} and returns the error's
// message ("" if the import succeeded).
const importError = `try { await window.tmApp.import({{backup}}, {{opts}}); return '' } catch (e) { return String(e && e.message || e) }`

// profileState is a profile as a test compares it before and after a
// refused import.
type profileState struct {
	ID    string `json:"id"`
	Tasks int    `json:"tasks"`
	Books int    `json:"books"`
}

const readState = `const ex = await window.tmApp.export()
return { id: window.tmApp.id, tasks: (await window.tmApp.tasks()).length, books: ex.books.length }`

// TestBackupRestore: Bob writes a task and 3 messages, exports a backup
// with a passphrase, resets, and reloads on a new identity; a wrong
// passphrase, a truncated backup and a backup without the identity are
// refused and change nothing; the right passphrase restores his id, the
// task and its messages (also after a reload), and his own books go on.
// A backup of Bob's profile is refused by a profile with its own tasks.
func TestBackupRestore(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "backup-bob", "")
	var oldID, task string
	bob.run(`return window.tmApp.id`, &oldID)
	bob.run(`const t = await window.tmApp.createTask({ title: 'Back me up' })
for (const text of ['one', 'two', 'three']) await window.tmApp.send(t.id, text)
return t.id`, &task)

	var sealed, plain string
	bob.run(`return JSON.stringify(await window.tmApp.export({ passphrase: 'correct horse battery' }))`, &sealed)
	bob.run(`return JSON.stringify(await window.tmApp.export())`, &plain)
	if !strings.Contains(sealed, `"seal":{"v":1,"kdf":"scrypt"`) || strings.Contains(plain, `"seal"`) {
		t.Fatalf("export with a passphrase has no seal, or one without has one:\n%.300s\n%.300s", sealed, plain)
	}
	if strings.Contains(sealed, "correct horse") {
		t.Fatal("the backup holds the passphrase")
	}

	// Reset: a new identity after the reload.
	bob.run(`await window.tmApp.reset(); return true`, nil)
	bob.reload()
	bob.poll(`document.body.dataset.ready === '1'`)
	var fresh profileState
	bob.run(readState, &fresh)
	if fresh.ID == oldID || fresh.Tasks != 0 {
		t.Fatalf("after reset: %+v, want a new id with no task (old id %s)", fresh, oldID)
	}

	// Refused imports write nothing.
	for _, c := range []struct {
		what, backup string
		opts         any
		want         string
	}{
		{"a wrong passphrase", sealed, map[string]any{"passphrase": "wrong horse"}, "wrong passphrase or damaged backup"},
		{"a truncated backup", sealed[:len(sealed)/2], map[string]any{"passphrase": "correct horse battery"}, "not a task-messenger backup"},
		{"a foreign JSON file", `{"name":"my-package","version":"1.0.0"}`, map[string]any{"passphrase": "correct horse battery"}, "not a task-messenger backup"},
		{"a backup without the identity", plain, map[string]any{"passphrase": "correct horse battery"}, "does not hold the identity"},
	} {
		var msg string
		bob.run(script(importError, map[string]any{"backup": c.backup, "opts": c.opts}), &msg)
		if !strings.Contains(msg, c.want) {
			t.Errorf("import of %s: error %q, want one saying %q", c.what, msg, c.want)
		}
		var now profileState
		bob.run(readState, &now)
		if now != fresh {
			t.Errorf("import of %s changed the profile: %+v, was %+v", c.what, now, fresh)
		}
	}

	// The right passphrase: Bob's id, task and messages are back.
	var msg string
	bob.run(script(importError, map[string]any{"backup": sealed, "opts": map[string]any{"passphrase": "correct horse battery"}}), &msg)
	if msg != "" {
		t.Fatalf("import with the passphrase: %s", msg)
	}
	var restored profileState
	bob.run(readState, &restored)
	if restored.ID != oldID || restored.Tasks != 1 {
		t.Fatalf("restored: %+v, want id %s and 1 task", restored, oldID)
	}
	var texts []string
	bob.run(script(chatTexts, map[string]any{"task": task}), &texts)
	if strings.Join(texts, ",") != "one,two,three" {
		t.Fatalf("restored timeline %q, want one, two, three", texts)
	}
	// His own books go on from where they were.
	bob.run(script(`await window.tmApp.send({{task}}, 'four'); return true`, map[string]any{"task": task}), nil)

	// After a reload the page opens the restored profile and shows it.
	bob.reload()
	bob.poll(`document.body.dataset.ready === '1'`)
	var id string
	bob.run(`return window.tmApp.id`, &id)
	if id != oldID {
		t.Fatalf("after a reload the id is %s, want %s", id, oldID)
	}
	bob.poll(script(`document.querySelector('.pick[data-task=' + JSON.stringify({{task}}) + ']') !== null`, map[string]any{"task": task}))
	bob.click(`.pick[data-task="` + task + `"]`)
	for _, text := range []string{"one", "two", "three", "four"} {
		bob.waitText(text)
	}

	// A profile with a task of its own refuses Bob's backup.
	cat := openMessenger(t, b, "backup-cat", "")
	cat.run(`await window.tmApp.createTask({ title: 'Mine' }); return true`, nil)
	var catBefore, catAfter profileState
	cat.run(readState, &catBefore)
	cat.run(script(importError, map[string]any{"backup": sealed, "opts": map[string]any{"passphrase": "correct horse battery"}}), &msg)
	if !strings.Contains(msg, "books or tasks of its own") {
		t.Errorf("import of another profile's backup into one with its own task: error %q", msg)
	}
	cat.run(readState, &catAfter)
	if catAfter != catBefore {
		t.Errorf("the refused import changed the profile: %+v, was %+v", catAfter, catBefore)
	}
}

// pageImport imports {{backup}} through the page's Import input, the
// passphrase prompt answering {{pass}}.
const pageImport = `window.prompt = () => {{pass}}
window.beforeImport = true // gone once the page reloads
const input = document.getElementById('import')
const dt = new DataTransfer()
dt.items.add(new File([{{backup}}], 'backup.json', { type: 'application/json' }))
input.files = dt.files
input.dispatchEvent(new Event('change'))
return true`

// pageExport clicks the page's Export, the prompt answering {{pass}}, and
// returns the file it made.
const pageExport = `window.prompt = () => {{pass}}
let made
URL.createObjectURL = (blob) => { made = blob; return 'about:blank' }
URL.revokeObjectURL = () => {}
HTMLAnchorElement.prototype.click = function () {}
document.getElementById('export').click()
while (!made) await new Promise((resolve) => setTimeout(resolve, 10))
return { text: await made.text(), state: document.getElementById('action-status').textContent }`

// TestBackupPage: the page's Reset says the identity is lost and offers a
// backup first; its Export asks for a passphrase (empty: books only, and
// it says so); its Import asks for the passphrase of a sealed file, says a
// wrong one, and with the right one reloads on the restored identity.
func TestBackupPage(t *testing.T) {
	b := newBrowser(t)
	tab := openMessenger(t, b, "backup-page", "")
	var oldID string
	tab.run(`return window.tmApp.id`, &oldID)
	tab.run(`await window.tmApp.createTask({ title: 'Page task' }); return true`, nil)

	// Reset, cancelled twice: it said what is lost and offered a backup.
	var dialogs []string
	tab.run(`const seen = []
window.confirm = (m) => { seen.push(m); return false }
document.getElementById('reset').click()
await new Promise((resolve) => setTimeout(resolve, 0))
return seen`, &dialogs)
	if len(dialogs) != 2 || !strings.Contains(dialogs[0], "identity") || !strings.Contains(dialogs[0], "Export a backup first") || !strings.Contains(dialogs[1], "Reset now") {
		t.Fatalf("reset's dialogs: %q", dialogs)
	}

	var out struct{ Text, State string }
	tab.run(script(pageExport, map[string]any{"pass": ""}), &out)
	if strings.Contains(out.Text, `"seal"`) || !strings.Contains(out.State, "does not hold your identity") {
		t.Fatalf("export with no passphrase: seal %v, the page says %q", strings.Contains(out.Text, `"seal"`), out.State)
	}
	tab.run(script(pageExport, map[string]any{"pass": "page pass"}), &out)
	if !strings.Contains(out.Text, `"seal"`) {
		t.Fatal("export with a passphrase has no seal")
	}
	sealed := out.Text

	tab.run(`await window.tmApp.reset(); return true`, nil)
	tab.reload()
	tab.poll(`document.body.dataset.ready === '1'`)
	var newID string
	tab.run(`return window.tmApp.id`, &newID)
	if newID == oldID {
		t.Fatal("reset kept the id")
	}
	tab.run(script(pageImport, map[string]any{"pass": "not it", "backup": sealed}), nil)
	tab.poll(`document.getElementById('action-status').textContent.includes('wrong passphrase or damaged backup')`)
	// The relay connection's state has a line of its own: it coming up
	// (or going) does not replace the error the person has to read.
	tab.poll(`document.getElementById('me-state').textContent === 'online'`)
	var shown string
	tab.run(`return document.getElementById('action-status').textContent`, &shown)
	if !strings.Contains(shown, "wrong passphrase or damaged backup") {
		t.Fatalf("once online, the import's error is gone: the page says %q", shown)
	}

	tab.run(script(pageImport, map[string]any{"pass": "page pass", "backup": sealed}), nil)
	// The page reloads itself on the restored identity.
	deadline := time.Now().Add(evalTimeout)
	for {
		var id string
		err := tab.try(`return !window.beforeImport && document.body.dataset.ready === '1' ? window.tmApp.id : ''`, &id)
		if err == nil && id == oldID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not come back as %s (last: %q, %v)", oldID, id, err)
		}
		time.Sleep(20 * time.Millisecond) // polling across the page's own reload, not synchronising
	}
	tab.poll(`document.getElementById('me-id').textContent === window.tmApp.id`)
	tab.poll(`[...document.querySelectorAll('#tree .pick')].some((b) => b.textContent.startsWith('Page task'))`)
}
