package e2e

import "testing"

// TestRemoveMemberInPage: Bob, the task's creator, removes Carl with the
// member list's button. Every timeline says so; Carl's page says he was
// removed and lets him write no more; a message Ana writes after reaches
// Bob and not Carl.
func TestRemoveMemberInPage(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "remove-bob", "")
	ana := openMessenger(t, b, "remove-ana", "")
	carl := openMessenger(t, b, "remove-carl", "")
	var task, carlID string
	carl.run(`return window.tmApp.id`, &carlID)
	bob.run(`return (await window.tmApp.createTask({ title: 'Removal' })).id`, &task)
	for _, joiner := range []*tab{ana, carl} {
		var code string
		bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
		joiner.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	}
	paired := script(`(async () => { const ms = await window.tmApp.members({{task}}); return ms.length === 3 && ms.every((m) => m.paired) })()`, map[string]any{"task": task})
	for _, p := range []*tab{bob, ana, carl} {
		p.poll(paired)
	}
	pick := `.pick[data-task="` + task + `"]`
	for _, p := range []*tab{bob, carl} {
		p.poll(`document.querySelector('` + pick + `') !== null`)
		p.click(pick)
	}
	bob.run(`window.confirm = () => true; return true`, nil)
	button := `#members li[data-peer="` + carlID + `"] button.remove-member`
	bob.poll(`document.querySelector('` + button + `') !== null`)
	bob.click(button)
	bob.poll(`document.querySelector('#members li[data-peer="` + carlID + `"]')?.textContent.includes('removed')`)
	carl.poll(`!document.getElementById('removed').hidden && document.getElementById('removed').textContent.includes('removed') && document.getElementById('text').disabled`)
	carl.poll(`[...document.querySelectorAll('#timeline li')].some((li) => li.textContent.includes('removed'))`)

	ana.poll(script(`(async () => (await window.tmApp.tasks())[0].epoch === 1)()`, nil))
	ana.run(script(`await window.tmApp.send({{task}}, 'after Carl left'); return true`, map[string]any{"task": task}), nil)
	bob.waitText("after Carl left")
	var has bool
	carl.run(script(`return (await window.tmApp.timeline({{task}}, { limit: 100 })).some((m) => m.type === 'chat' && m.data.text === 'after Carl left')`, map[string]any{"task": task}), &has)
	if has {
		t.Fatal("Carl has Ana's message written after his removal")
	}
}
