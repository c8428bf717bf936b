package e2e

import (
	"strings"
	"testing"
)

// TestPendingWithdrawn: Ana's tab cannot store what she sends (every
// IndexedDB write of hers is aborted, as a failing disk would). Her tab
// previews the message to Bob as its write begins, and the write fails:
// Bob's page shows the message pending ("being saved"). What she sends
// next, once her writes work again, is stored at its place and replaces
// it on Bob's page; if she sends nothing, Bob's page takes it away once it
// is not stored in time (room.DefaultPendingFor), rather than keep it
// until a reload.
func TestPendingWithdrawn(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "withdrawn-bob", "")
	ana := openMessenger(t, b, "withdrawn-ana", "")
	shareTask(bob, ana, "withdrawn")
	ana.typeText("#text", "first", true)
	bob.waitText("first")
	var task string
	ana.run(`return (await window.tmApp.tasks()).find((t) => t.title === 'withdrawn').id`, &task)

	// Every readwrite transaction Ana's tab begins is aborted once its
	// requests are issued, while failWrites is set.
	ana.run(`const begin = IDBDatabase.prototype.transaction
IDBDatabase.prototype.transaction = function (stores, mode, opts) {
  const tx = begin.call(this, stores, mode, opts)
  if (mode === 'readwrite' && window.failWrites) queueMicrotask(() => { try { tx.abort() } catch (_) {} })
  return tx
}
return true`, nil)
	failSend := func(text string) {
		t.Helper()
		var failed string
		ana.run(script(`window.failWrites = true
try { await window.tmApp.send({{task}}, {{text}}); return '' } catch (err) { return err.message || String(err) } finally { window.failWrites = false }`,
			map[string]any{"task": task, "text": text}), &failed)
		if failed == "" {
			t.Fatalf("Ana's send of %q succeeded with every write of hers aborted", text)
		}
		bob.poll(script(`[...document.querySelectorAll('#timeline li.msg.pending p.text')].some((p) => p.textContent === {{text}})`, map[string]any{"text": text}))
	}
	shows := func(text string) bool {
		var yes bool
		bob.run(script(`return [...document.querySelectorAll('#timeline li.msg p.text')].some((p) => p.textContent === {{text}})`, map[string]any{"text": text}), &yes)
		return yes
	}

	// replyToPending begins Bob's reply to the pending message text.
	replyToPending := func(text string) {
		t.Helper()
		bob.run(script(`const li = [...document.querySelectorAll('#timeline li.msg.pending')].find((li) => li.querySelector('p.text').textContent === {{text}})
li.querySelector('button.act').click()
return true`, map[string]any{"text": text}), nil)
		bob.poll(`!document.getElementById('replying').hidden`)
	}

	// Replaced: what Ana sends next is stored at the same place at once,
	// and takes the pending message's line (well within the 10 s). Bob
	// began a reply to the one shown: it goes, rather than answer the
	// message now at that place.
	failSend("lost")
	replyToPending("lost")
	ana.typeText("#text", "kept", true)
	bob.waitText("kept")
	if shows("lost") {
		t.Fatalf("Bob's page shows the message never stored beside the one stored at its place: %q", bob.texts())
	}
	bob.poll(`document.getElementById('replying').hidden`)

	// Withdrawn: nothing comes in its place. Bob began a reply to it: the
	// reply goes with it.
	failSend("lost again")
	replyToPending("lost again")
	bob.poll(`![...document.querySelectorAll('#timeline li.msg p.text')].some((p) => p.textContent === 'lost again')`)
	bob.poll(`document.getElementById('replying').hidden`)
	ana.typeText("#text", "kept again", true)
	bob.waitText("kept again")
	for _, s := range bob.texts() {
		if strings.HasSuffix(s, ": lost") || strings.HasSuffix(s, ": lost again") {
			t.Fatalf("Bob's page shows a message never stored: %q", bob.texts())
		}
	}
}
