package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
)

// TestLinkDevices is issue #14's story in Chromium: Bob links a second
// browser (another context: its own storage) by typing the pairing code
// his page shows; both of Bob's devices write at once, and Ana, in a third
// profile, shows every message once, as Bob's, in the order all three
// agree on; devtools verifies every book of the task (no fork). Bob
// revokes the second browser from his Devices panel: its next message is
// refused, and it reads nothing written after.
func TestLinkDevices(t *testing.T) {
	dt := startDevtools(t)
	pageConfig(t, relay.PageConfig{Devtools: "ws" + strings.TrimPrefix(dt.URL, "http") + "/peer"})
	b := newBrowser(t)
	bob := openMessenger(t, b, "devices-bob", "")
	ana := openMessenger(t, b, "devices-ana", "")
	var bobID, task, code string
	bob.run(`return window.tmApp.id`, &bobID)
	bob.run(`return (await window.tmApp.createTask({ title: 'Two devices' })).id`, &task)
	args := map[string]any{"task": task}
	bob.run(script(`return await window.tmApp.invite({{task}})`, args), &code)
	ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	bob.run(script(`await window.tmApp.send({{task}}, 'before the link'); return true`, args), nil)

	// Bob shows a pairing code; the new browser types it.
	pairing := bob.showLinkCode()
	nb := newBrowser(t)
	phone := openMessenger(t, nb, "devices-bob-phone", "")
	var phoneID, person string
	phone.run(`return window.tmApp.id`, &phoneID)
	phone.poll(`!document.getElementById('link-form').hidden`)
	phone.typeText("#link-input", pairing, false)
	phone.typeText("#link-label", "second browser", true)
	phone.poll(`(async () => (await window.tmApp.person()) !== window.tmApp.id)()`)
	phone.run(`return await window.tmApp.person()`, &person)
	if person != bobID || phoneID == bobID {
		t.Fatalf("the linked browser is %s of person %s; Bob is %s", phoneID, person, bobID)
	}
	has := script(`(async () => { try { return (await window.tmApp.timeline({{task}}, { limit: 500 })).some((m) => m.type === 'chat' && m.data.text === {{text}}) } catch (e) { return false } })()`, map[string]any{"task": task, "text": "before the link"})
	phone.poll(has)
	bob.poll(`/linked/i.test(document.getElementById('link-status').textContent)`)

	// Both of Bob's devices write at once, Ana too.
	var wg sync.WaitGroup
	for _, p := range []*tab{bob, phone, ana} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(script(`const who = window.tmApp.id.slice(0, 4); await Promise.all([0, 1, 2, 3, 4].map((i) => window.tmApp.send({{task}}, who + ' ' + i))); return true`, args), nil)
		}()
	}
	wg.Wait()
	type line struct {
		By, Person, Text string
		Mid              uint64
	}
	timeline := func(p *tab) []line {
		var ms []struct {
			Head   []any  `json:"head"`
			Person string `json:"person"`
			Type   string `json:"type"`
			Data   struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		p.run(script(`return await window.tmApp.timeline({{task}}, { limit: 500 })`, args), &ms)
		var out []line
		for _, m := range ms {
			if m.Type == "chat" {
				out = append(out, line{fmt.Sprint(m.Head[0]), m.Person, m.Data.Text, uint64(m.Head[2].(float64))})
			}
		}
		return out
	}
	var ref, last []line
	var lastBob, lastPhone []line
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ana %v\nbob %v\nphone %v", last, lastBob, lastPhone)
			for _, p := range []*tab{ana, bob, phone} {
				var dump string
				p.run(script(`const ms = await window.tmApp.members({{task}}); const tl = await window.tmApp.timeline({{task}}, { limit: 500 }); return JSON.stringify({ members: ms.map((m) => [m.id.slice(0, 4), m.person.slice(0, 4), m.have, m.length, m.paired, m.online, m.removed]), other: tl.filter((m) => m.type !== 'chat').map((m) => [m.head[0].slice(0, 4), m.head[2], m.type, m.reason]) })`, args), &dump)
				t.Logf("%s: %s", p.name, dump)
			}
		}
	})
	// Polled: the last change may be in any of the three tabs (a tab's
	// waitFor wakes on its own tab's events only).
	converged := func() bool {
		ref = timeline(ana)
		last, lastBob, lastPhone = ref, timeline(bob), timeline(phone)
		return len(ref) == 16 && slices.Equal(lastBob, ref) && slices.Equal(lastPhone, ref)
	}
	until(t, "three identical timelines of 16 chats", converged)
	seen := map[string]bool{}
	for _, l := range ref {
		key := fmt.Sprint(l.By, l.Mid)
		if seen[key] {
			t.Fatalf("a message twice: %+v", l)
		}
		seen[key] = true
		if (l.By == bobID || l.By == phoneID) && l.Person != bobID {
			t.Fatalf("Ana shows a message of Bob's devices as %s's: %+v", l.Person, l)
		}
	}
	ana.click(`.pick[data-task="` + task + `"]`)
	ana.poll(`[...document.querySelectorAll('#timeline li[data-person="` + bobID + `"]')].length >= 11`)
	// Her member list shows Bob once, with both devices.
	ana.poll(script(`(() => {
  const lis = document.querySelectorAll('#members li[data-person=' + JSON.stringify({{bob}}) + ']')
  return lis.length === 1 && lis[0].textContent.includes('2 devices') && lis[0].title.includes({{phone}}) && lis[0].title.includes('second browser')
})()`, map[string]any{"bob": bobID, "phone": phoneID}))

	// Devtools: every book of the task verified, none forked.
	until(t, "devtools verifies every book of the task", func() bool {
		var books struct {
			Books []apiBook `json:"books"`
		}
		getJSON(t, dt.URL, "/api/books?task="+task, &books)
		if len(books.Books) < 4 {
			return false
		}
		for _, bk := range books.Books {
			if bk.Status != "verified" {
				return false
			}
		}
		return true
	})

	// Bob revokes the second browser from the Devices panel.
	bob.run(`window.confirm = () => true; return true`, nil)
	button := `#devices li[data-device="` + phoneID + `"] button`
	bob.poll(`document.querySelector('` + button + `') !== null`)
	bob.click(button)
	ana.poll(script(`(async () => (await window.tmApp.members({{task}})).some((m) => m.id === {{phone}} && m.removed))()`, map[string]any{"task": task, "phone": phoneID}))
	phone.poll(script(`(async () => { try { await window.tmApp.send({{task}}, 'after revocation'); return false } catch (e) { return /revoked/.test(e.message) } })()`, args))
	// Ana seals with the next epoch once Bob, the task's creator, gave it.
	ana.poll(script(`(async () => (await window.tmApp.tasks()).find((t) => t.id === {{task}}).epoch >= 1)()`, args))
	ana.run(script(`await window.tmApp.send({{task}}, 'after the phone left'); return true`, args), nil)
	bob.poll(script(`(async () => (await window.tmApp.timeline({{task}}, { limit: 500 })).some((m) => m.type === 'chat' && m.data.text === 'after the phone left'))()`, args))
	var leaked bool
	phone.run(script(`return (await window.tmApp.timeline({{task}}, { limit: 500 })).some((m) => m.type === 'chat' && m.data.text === 'after the phone left')`, args), &leaked)
	if leaked {
		t.Fatal("the revoked browser reads a message written after")
	}
}

// until polls cond, which may look at several tabs or servers, until it
// holds or evalTimeout passes (a tab's waitFor wakes on that tab's own
// events only).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(evalTimeout); !cond(); <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("e2e: timed out waiting for %s", what)
		}
	}
}

// showLinkCode opens the page's Devices panel, asks for a pairing code
// and returns the code the page shows.
func (t *tab) showLinkCode() string {
	t.click("#show-devices")
	t.click("#link-device")
	t.poll(`!document.getElementById('link-offer').hidden`)
	var code string
	t.run(`return document.getElementById('link-code').textContent`, &code)
	return code
}
