package e2e

import (
	"reflect"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestIOAlone: tm.IO(alias, seed) on its own, with no DB (the seed's IO):
// a bad seed, at() while offline and at() of itself are errors; Ana's at()
// waits for Bob until he comes online; messages go both ways in order on
// ports whose by and to are the two ids, over the relay; at() of a peer
// that never comes times out; a port Ana closes is closed at Bob's end,
// and so is the next when she goes offline (once Bob asked for her too).
func TestIOAlone(t *testing.T) {
	b := newBrowser(t)
	ana := b.open(t, pageURL(testPage, ""))
	bob := b.open(t, pageURL(testPage, ""))
	ana.ready()
	bob.ready()
	anaSeed, bobSeed := testSeed("io-alone-ana"), testSeed("io-alone-bob")
	anaID, bobID := mustSeedID(t, anaSeed), mustSeedID(t, bobSeed)
	carolID := mustSeedID(t, testSeed("io-alone-carol"))

	var id string
	bob.run(script(`
const tm = await window.taskmessenger.ready
window.io = await tm.IO('bob', {{seed}})
return window.io.id`, map[string]any{"seed": bobSeed}), &id)
	if id != bobID {
		t.Fatalf("Bob's IO id %s, want %s", id, bobID)
	}

	var errs []string
	ana.run(script(`
const tm = await window.taskmessenger.ready
const errs = []
const fails = async (f) => { try { await f(); errs.push('') } catch (e) { errs.push(String(e && e.message || e)) } }
await fails(() => tm.IO('ana', 'not a seed'))
const io = window.io = await tm.IO('ana', {{seed}})
await fails(() => io.at({{bob}}))
await io.on(() => {})
await fails(() => io.at(io.id))
await fails(() => io.at({{carol}}, { timeout: 300 }))
return errs`, map[string]any{"seed": anaSeed, "bob": bobID, "carol": carolID}), &errs)
	for i, want := range []string{"IO:", "online", "itself", "timed out"} {
		if i >= len(errs) || !strings.Contains(errs[i], want) {
			t.Fatalf("error %d: %q, want one that says %q (all: %q)", i, errs[i], want, errs)
		}
	}

	// Ana asks for Bob before he is online: at() waits.
	ana.run(script(`
window.got = []
window.at = window.io.at({{bob}}, { timeout: 60000 }).then((p) => {
  window.port = p
  p.onmessage = (e) => window.got.push(e.data)
  p.onclose = () => { window.portClosed = true }
  return p
}, (e) => { window.atErr = String(e && e.message || e) })
return true`, map[string]any{"bob": bobID}), nil)
	var waiting bool
	ana.run(`return window.port === undefined && window.atErr === undefined`, &waiting)
	if !waiting {
		t.Fatal("at() did not wait for Bob")
	}
	bob.run(`
window.got = []
await window.io.on((p) => {
  window.port = p
  p.onmessage = (e) => { window.got.push(e.data); p.postMessage({ echo: e.data }) }
  p.onclose = () => { window.portClosed = true }
})
return true`, nil)
	ana.run(`
const p = await window.at
if (!p) throw new Error('at: ' + window.atErr)
for (const n of [1, 2, 3]) await p.postMessage({ n, text: 'hi ' + n })
return true`, nil)
	bob.poll(`window.got.length === 3`)
	ana.poll(`window.got.length === 3`)
	var got struct {
		Bob, Ana         []map[string]any
		By, To, Via      string
		AnaBy, AnaTo     string
		BobClosedAlready bool
	}
	bob.run(`return { Bob: window.got, By: window.port.by, To: window.port.to, Via: window.port.transport(), BobClosedAlready: !!window.portClosed }`, &got)
	ana.run(`return { Ana: window.got, AnaBy: window.port.by, AnaTo: window.port.to }`, &got)
	var sent []map[string]any
	for _, n := range []float64{1, 2, 3} {
		sent = append(sent, map[string]any{"n": n, "text": "hi " + string(rune('0'+int(n)))})
	}
	if !reflect.DeepEqual(got.Bob, sent) {
		t.Fatalf("Bob got %v, want %v", got.Bob, sent)
	}
	for i, e := range got.Ana {
		if !reflect.DeepEqual(e["echo"], any(sent[i])) {
			t.Fatalf("Ana's echo %d: %v, want %v", i, e, sent[i])
		}
	}
	if got.By != bobID || got.To != anaID || got.AnaBy != anaID || got.AnaTo != bobID || got.Via != "relay" || got.BobClosedAlready {
		t.Fatalf("ports: %+v", got)
	}

	// Ana closes her port: Bob's closes. She asks again, then goes
	// offline: Bob's new port closes too.
	ana.run(`await window.port.close(); return true`, nil)
	bob.poll(`window.portClosed === true`)
	bob.run(`window.portClosed = false; return true`, nil)
	ana.run(script(`
const p = await window.io.at({{bob}}, { timeout: 60000 })
await p.postMessage('again')
return true`, map[string]any{"bob": bobID}), nil)
	bob.poll(`window.got.length === 4 && window.got[3] === 'again'`)
	// Bob asks for Ana too (a port she opened is a stranger's until he
	// does, and not watched): he gets the same port, now watched.
	var same bool
	bob.run(script(`return (await window.io.at({{ana}})) === window.port`, map[string]any{"ana": anaID}), &same)
	if !same {
		t.Fatal("Bob's at(Ana) gave another port than the one open")
	}
	ana.run(`await window.io.on(null); return true`, nil)
	bob.poll(`window.portClosed === true`)
	ana.run(`await window.io.close(); return true`, nil)
	bob.run(`await window.io.close(); return true`, nil)
}

// mustSeedID is the peer id of a seed in text form.
func mustSeedID(t *testing.T, seed string) string {
	t.Helper()
	s, err := identity.ParseSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return identity.New(s).ID().String()
}
