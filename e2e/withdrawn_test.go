package e2e

import (
	"strings"
	"testing"
)

// TestPendingWithdrawn: Ana's tab cannot store what she sends (every
// IndexedDB write of hers is aborted, as a failing disk would). Her tab
// previews the message to Bob as its write begins, and the write fails:
// Bob's page shows the message pending ("being saved"), then takes it away
// once it is not stored in time (room.DefaultPendingFor), rather than keep
// it until a reload. Once her writes work again, what she sends next shows
// at Bob, stored.
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
	var failed string
	ana.run(script(`window.failWrites = true
try { await window.tmApp.send({{task}}, 'lost'); return '' } catch (err) { return err.message || String(err) } finally { window.failWrites = false }`,
		map[string]any{"task": task}), &failed)
	if failed == "" {
		t.Fatal("Ana's send succeeded with every write of hers aborted")
	}
	bob.poll(`[...document.querySelectorAll('#timeline li.msg.pending p.text')].some((p) => p.textContent === 'lost')`)
	bob.poll(`![...document.querySelectorAll('#timeline li.msg p.text')].some((p) => p.textContent === 'lost')`)

	ana.typeText("#text", "kept", true)
	bob.waitText("kept")
	for _, s := range bob.texts() {
		if strings.HasSuffix(s, ": lost") {
			t.Fatalf("Bob's page shows the message never stored: %q", bob.texts())
		}
	}
}
