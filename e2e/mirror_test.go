package e2e

import (
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/relay/mirror/boltstore"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestMirrorDeliversInPage: with a mirror in /config.json (as make run
// serves it, on disk), Bob writes 3 messages and closes his tab while
// Ana's is closed (his page says they are "on a mirror", naming the mirror
// that signed it); Ana opens hers afterwards (they are never online
// together) and has them, in order; she reads them and closes her tab, and
// Bob, back, sees them read (her receipt page went through the mirror).
// Neither the mirror's data directory nor the relay's traffic ever holds
// the task's title or a message's words.
func TestMirrorDeliversInPage(t *testing.T) {
	traffic := tapTraffic(t)
	dataDir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dataDir, "mirror.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mir, err := mirror.Start(t.Context(), mirror.Config{Store: st, Seed: identity.Seed{0xee},
		Relay: "ws" + strings.TrimPrefix(site.url, "http") + "relay", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close(); st.Close() })
	pageConfig(t, relay.PageConfig{Mirrors: []string{mir.ID().String()}})
	const title = "Never-together plans"

	b := newBrowser(t)
	bob := openMessenger(t, b, "mirror-bob", "")
	ana := openMessenger(t, b, "mirror-ana", "")
	var task, code, bobID, anaID string
	bob.run(`return window.tmApp.id`, &bobID)
	ana.run(`return window.tmApp.id`, &anaID)
	bob.run(script(`return (await window.tmApp.createTask({ title: {{title}} })).id`, map[string]any{"title": title}), &task)
	bob.run(script(`return await window.tmApp.invite({{task}})`, map[string]any{"task": task}), &code)
	ana.run(script(`await window.tmApp.join({{code}}); return true`, map[string]any{"code": code}), nil)
	bob.poll(script(`(async () => (await window.tmApp.members({{task}})).every((m) => m.paired))()`, map[string]any{"task": task}))
	// The page says where its books are kept.
	bob.poll(script(`document.getElementById('mirrors').textContent.includes('mirror ' + {{id}} + ': up')`, map[string]any{"id": mir.ID().Short()}))
	ana.close()

	want := []string{"first-words-of-bob", "second-words-of-bob", "third-words-of-bob"}
	for _, text := range want {
		bob.run(script(`await window.tmApp.send({{task}}, {{text}}); return true`, map[string]any{"task": task, "text": text}), nil)
	}
	waitMirrored(t, mir, bob, bobID+"-"+anaID+"-"+task)
	// Bob's page: his messages are on the mirror (Ana has not got them),
	// the mirror that signed it named.
	pick := `.pick[data-task="` + task + `"]`
	bob.poll(`document.querySelector('` + pick + `') !== null`)
	bob.click(pick)
	status := `[...document.querySelectorAll('#timeline li.mine')].find((li) => li.querySelector('p.text')?.textContent === 'third-words-of-bob')?.querySelector('.status')`
	bob.poll(script(status+`?.dataset.status === 'on a mirror' && `+status+`.title.includes({{mirror}})`, map[string]any{"mirror": mir.ID().Short()}))
	bob.close()

	ana = openMessenger(t, b, "mirror-ana", "")
	ana.waitChat(task, "third-words-of-bob")
	var texts []string
	ana.run(script(chatTexts, map[string]any{"task": task}), &texts)
	if !slices.Equal(texts, want) {
		t.Fatalf("Ana has %q, want %q", texts, want)
	}

	// Ana reads them and leaves; Bob, back, sees them read, though the two
	// are still never online together: her receipt page (in her book to
	// him, sealed) went through the mirror.
	ana.poll(`document.querySelector('` + pick + `') !== null`)
	ana.click(pick)
	ana.waitText("third-words-of-bob")
	var third int
	ana.run(script(`const ms = await window.tmApp.timeline({{task}}, { limit: 50 })
return Number(ms.find((m) => m.type === 'chat' && m.data.text === 'third-words-of-bob').id.split('/')[1])`, map[string]any{"task": task}), &third)
	ana.poll(script(`(async () => (await window.tmApp.members({{task}})).some((m) => m.id === {{bob}} && m.toldRead >= {{mid}}))()`,
		map[string]any{"task": task, "bob": bobID, "mid": third}))
	waitMirrored(t, mir, ana, anaID+"-"+bobID+"-"+task)
	ana.close()
	bob = openMessenger(t, b, "mirror-bob", "")
	bob.poll(`document.querySelector('` + pick + `') !== null`)
	bob.click(pick)
	bob.poll(status + `?.dataset.status === 'read'`)

	mir.Close()
	st.Close()
	secrets := append([]string{title}, want...)
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the mirror's %s holds %q", filepath.Base(path), s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The relay names a frame's sender to its receiver: Bob's id is in
	// the frames it relayed to the mirror and to Ana, if the tap sees them.
	seen := traffic.Bytes()
	var bobKey identity.ID
	if err := bobKey.UnmarshalText([]byte(bobID)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(seen, bobKey[:]) && !bytes.Contains(seen, []byte(bobID)) {
		t.Fatalf("the tap saw %d bytes, without Bob's id: it does not see the relayed frames", len(seen))
	}
	for _, s := range secrets {
		if bytes.Contains(seen, []byte(s)) {
			t.Errorf("the relay's traffic holds %q", s)
		}
	}
}

// waitMirrored waits until the mirror holds the whole of a book of the
// tab's profile, named as its export lists it.
func waitMirrored(t *testing.T, mir *mirror.Mirror, tab *tab, name string) {
	t.Helper()
	var book struct {
		Key    string `json:"key"`
		Length int    `json:"length"`
	}
	tab.run(script(`const ex = await window.tmApp.export()
const b = ex.books.find((b) => b.name === {{name}})
return { key: b.key, length: b.pages.length }`, map[string]any{"name": name}), &book)
	var key identity.ID
	if err := key.UnmarshalText([]byte(book.Key)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(evalTimeout)
	for mir.Held(key) < uint64(book.Length) {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror holds %d of the %d pages of %s", mir.Held(key), book.Length, name)
		}
		time.Sleep(20 * time.Millisecond) // a poll of the mirror
	}
}
