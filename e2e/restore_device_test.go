package e2e

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestRestoreDeviceWithMirror: Bob's only browser is gone (closed, never
// back); a mirror holds the task's books. In an empty browser, Bob's
// recovery code makes a new device of Bob's: Ana, dialling Bob's identity,
// tells it the task; Ana then closes her tab, and the rest of Bob's
// history comes from the mirror. Same person, the whole history, and Bob's
// first new message reaches Ana, as his, when she is back.
func TestRestoreDeviceWithMirror(t *testing.T) {
	mir, err := mirror.Start(t.Context(), mirror.Config{Store: store.NewMemory(), Seed: identity.Seed{0xed},
		Relay: "ws" + strings.TrimPrefix(site.url, "http") + "relay", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close() })
	pageConfig(t, relay.PageConfig{Mirrors: []string{mir.ID().String()}})

	b := newBrowser(t)
	bob := openMessenger(t, b, "restore-dev-bob", "")
	ana := openMessenger(t, b, "restore-dev-ana", "")
	var task, code, bobID, recovery string
	bob.run(`return window.tmApp.id`, &bobID)
	bob.run(`return (await window.tmApp.createTask({ title: 'Lost browser' })).id`, &task)
	args := map[string]any{"task": task}
	bob.run(script(`return await window.tmApp.invite({{task}})`, args), &code)
	ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	for _, text := range []string{"bob one", "bob two"} {
		bob.run(script(`await window.tmApp.send({{task}}, {{text}}); return true`, map[string]any{"task": task, "text": text}), nil)
	}
	ana.run(script(waitChats, map[string]any{"task": task, "want": []string{"bob one", "bob two"}}), nil)
	// Every book of Bob's is on the mirror before his browser goes.
	bob.poll(script(`(async () => (await window.tmApp.members({{task}})).every((m) => m.self || m.mirrored >= 4))()`, args))
	bob.run(`return await window.tmApp.recoveryCode()`, &recovery)
	bob.close()

	nb := newBrowser(t)
	fresh := openMessenger(t, nb, "restore-dev-bob", "")
	fresh.run(script(`await window.tmApp.recover({{code}}); return true`, map[string]any{"code": recovery}), nil)
	fresh.poll(`(async () => (await window.tmApp.restoreStatus()).tasks === 1)()`)
	ana.close() // from here, only the mirror holds Bob's history
	fresh.run(script(waitChats, map[string]any{"task": task, "want": []string{"bob one", "bob two"}}), nil)
	var person, device string
	fresh.run(`return await window.tmApp.person()`, &person)
	fresh.run(`return window.tmApp.id`, &device)
	if person != bobID || device == bobID {
		t.Fatalf("restored as device %s of %s, want a new device of %s", device, person, bobID)
	}
	fresh.run(script(`await window.tmApp.send({{task}}, 'bob is back'); return true`, args), nil)
	ana = openMessenger(t, b, "restore-dev-ana", "")
	ana.run(script(waitChats, map[string]any{"task": task, "want": []string{"bob one", "bob two", "bob is back"}}), nil)
	ana.poll(script(`(async () => (await window.tmApp.timeline({{task}})).some((m) => m.type === 'chat' && m.data.text === 'bob is back' && m.person === {{bob}}))()`, map[string]any{"task": task, "bob": bobID}))
}
