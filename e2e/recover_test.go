package e2e

import (
	"strings"
	"testing"
)

// waitChats waits until the chat texts of a task's timeline include all
// of {{want}}, and returns them.
const waitChats = `for (;;) {
  const texts = (await window.tmApp.timeline({{task}})).filter((m) => m.type === 'chat').map((m) => m.data.text)
  if ({{want}}.every((w) => texts.includes(w))) return texts
  await new Promise((resolve) => setTimeout(resolve, 20))
}`

// TestRecoveryCodeRestore: Bob and Ana share a task; Ana's page shows her
// recovery code behind a warning; her browser is gone. In a fresh browser
// (another user-data-dir: nothing of Ana's), the page's "Restore from a
// code" makes its empty profile a new device of Ana's while Bob is online
// (asked in a follower tab, carried out by the writer tab): the same
// person in both tabs, her task and its timeline back (Bob gives it, dialling
// her identity), and her first new message reaches Bob.
func TestRecoveryCodeRestore(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "recover-bob", "")
	ana := openMessenger(t, b, "recover-ana", "")
	var task, code, anaID string
	bob.run(`const t = await window.tmApp.createTask({ title: 'Restore me' }); return t.id`, &task)
	bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
	ana.run(script(`await window.tmApp.join({{code}}, { timeout: 30000 })
for (const text of ['one', 'two']) await window.tmApp.send({{task}}, text)
return window.tmApp.id`, map[string]any{"code": code, "task": task}), &anaID)
	bob.run(script(waitChats, map[string]any{"task": task, "want": []string{"one", "two"}}), nil)
	bob.run(script(`await window.tmApp.send({{task}}, 'hi Ana'); return true`, map[string]any{"task": task}), nil)
	ana.run(script(waitChats, map[string]any{"task": task, "want": []string{"hi Ana"}}), nil)

	// The page shows the code only after a warning that it is the identity.
	var warned []string
	ana.run(`const seen = []
window.confirm = (m) => { seen.push(m); return true }
document.getElementById('show-recovery').click()
while (document.getElementById('recovery').hidden) await new Promise((r) => setTimeout(r, 10))
return seen`, &warned)
	if len(warned) != 1 || !strings.Contains(warned[0], "whole identity") {
		t.Fatalf("the recovery code's warning: %q", warned)
	}
	var recovery, shown string
	ana.run(`return await window.tmApp.recoveryCode()`, &recovery)
	ana.run(`return document.getElementById('recovery-code').textContent`, &shown)
	if !strings.HasPrefix(recovery, "tmr1-") || shown != recovery {
		t.Fatalf("recovery code %q, the page shows %q", recovery, shown)
	}
	ana.close() // Ana's browser is gone

	nb := newBrowser(t)
	writer := openMessenger(t, nb, "recover-ana", "")
	// The restore is done from a second tab of the profile: a follower,
	// whose calls the writer tab carries out.
	fresh := openMessenger(t, nb, "recover-ana", "")
	var role string
	fresh.run(`return window.tmApp.role()`, &role)
	if role != "follower" {
		t.Fatalf("the second tab is the %s", role)
	}
	var newID string
	fresh.run(`return window.tmApp.id`, &newID)
	if newID == anaID {
		t.Fatal("a fresh browser has Ana's id already")
	}
	// A typo is refused, and changes nothing.
	var msg string
	typo := []byte(recovery)
	typo[5] = map[bool]byte{true: 'y', false: 'b'}[typo[5] != 'y']
	fresh.run(script(`try { await window.tmApp.recover({{code}}); return '' } catch (e) { return e.message }`,
		map[string]any{"code": string(typo)}), &msg)
	if !strings.Contains(msg, "recovery code") {
		t.Fatalf("a code with a typo: %q", msg)
	}
	fresh.run(script(`try { await (await window.taskmessenger.ready).open({ profile: 'recover-other', recover: {{code}} }); return '' } catch (e) { return e.message }`,
		map[string]any{"code": string(typo)}), &msg)
	if !strings.Contains(msg, "open({ recover })") || !strings.Contains(msg, "typo") {
		t.Fatalf("tm.open with a code with a typo: %q", msg)
	}
	fresh.run(script(`window.prompt = () => {{code}}
document.getElementById('recover').click()
return true`, map[string]any{"code": strings.ToUpper(strings.ReplaceAll(recovery, "-", " "))}), nil)
	fresh.poll(`document.getElementById('restore-text').textContent.startsWith('Restored')`)
	var st struct {
		ID, Person, Device string
		Active             bool
		Tasks              int
	}
	fresh.run(`const st = await window.tmApp.restoreStatus(); return { id: st.id, person: await window.tmApp.person(), device: window.tmApp.id, active: st.active, tasks: st.tasks }`, &st)
	// A new device of Ana's (its own key: nothing it writes can fork what
	// her lost browser wrote), the same person.
	if st.ID != st.Device || st.Person != anaID || st.Device == anaID || st.Active || st.Tasks != 1 {
		var bobID string
		bob.run(`return window.tmApp.id`, &bobID)
		t.Fatalf("after the restore: %+v, want a new device of %s with 1 task (bob %s)", st, anaID, bobID)
	}
	writer.poll(script(`(async () => (await window.tmApp.person()) === {{id}})()`, map[string]any{"id": anaID}))
	// The timeline is back (Bob's message from his book) before Ana writes.
	fresh.run(script(waitChats, map[string]any{"task": task, "want": []string{"one", "two", "hi Ana"}}), nil)
	fresh.poll(script(`document.querySelector('.pick[data-task=' + JSON.stringify({{task}}) + ']') !== null`, map[string]any{"task": task}))
	fresh.run(script(`await window.tmApp.send({{task}}, 'three'); return true`, map[string]any{"task": task}), nil)
	var texts []string
	bob.run(script(waitChats, map[string]any{"task": task, "want": []string{"three"}}), nil)
	bob.run(script(chatTexts, map[string]any{"task": task}), &texts)
	if strings.Join(texts, ",") != "one,two,hi Ana,three" {
		t.Fatalf("Bob's timeline %q", texts)
	}
}
