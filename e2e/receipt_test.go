package e2e

import "testing"

// TestReceiptsInPage: Bob's message says where it is, from Ana's own
// receipts: delivered once her app holds it, read once her page shows the
// task; Bob's member list says she read all of his.
func TestReceiptsInPage(t *testing.T) {
	b := newBrowser(t)
	bob := openMessenger(t, b, "receipt-bob", "")
	ana := openMessenger(t, b, "receipt-ana", "")
	var task, code string
	bob.run(`return (await window.tmApp.createTask({ title: 'Receipts' })).id`, &task)
	bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
	ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	pick := `.pick[data-task="` + task + `"]`
	bob.poll(`document.querySelector('` + pick + `') !== null`)
	bob.click(pick)
	bob.poll(`document.querySelector('#members li[data-peer]:not(:first-child)') !== null && !document.querySelector('#members').textContent.includes('pairing')`)

	bob.typeText("#text", "are you there?", true)
	const status = `[...document.querySelectorAll('#timeline li.mine')].find((li) => li.querySelector('p.text')?.textContent === 'are you there?')?.querySelector('.status')?.dataset.status`
	bob.poll(status + ` === 'delivered'`) // Ana's app holds it; her page shows another task
	ana.poll(`document.querySelector('` + pick + `') !== null`)
	ana.click(pick)
	ana.waitText("are you there?")
	bob.poll(status + ` === 'read'`)
	bob.poll(`document.getElementById('members').textContent.includes('read all of yours')`)
}
