//go:build !js

package room

import (
	"fmt"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestMirrorDelivers: Bob writes while Ana is offline and goes offline
// himself; Ana, back, has his messages from the mirror, in order, though
// the two were never online together. Ana's answer, written while Bob is
// still away, reaches him the same way.
func TestMirrorDelivers(t *testing.T) {
	url := startRelay(t)
	mir, err := mirror.Start(testCtx(t), mirror.Config{Store: store.NewMemory(), Seed: identity.Seed{9}, Relay: url, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close() })
	mirrors := []identity.ID{mir.ID()}
	bob := &node{t: t, name: "bob", url: url, seed: identity.Seed{2}, st: store.NewMemory(), mirrors: mirrors}
	ana := &node{t: t, name: "ana", url: url, seed: identity.Seed{1}, st: store.NewMemory(), mirrors: mirrors}
	bob.start()
	t.Cleanup(bob.stop)
	ana.start()
	t.Cleanup(ana.stop)
	task, err := bob.CreateTask(testCtx(t), "Never together", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "the pair", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) })
	bobID, anaID := bob.ID(), ana.ID()
	toAna := bob.db.BookKey(pairName(bobID, anaID, task.ID))
	toBob := ana.db.BookKey(pairName(anaID, bobID, task.ID))

	ana.stop()
	var want []string
	for i := range 3 {
		want = append(want, fmt.Sprint("while you were away ", i))
		bob.send(task.ID, want[i], nil)
	}
	eventually(t, "the mirror holds Bob's messages to Ana", func() bool {
		b, err := bob.db.Get(testCtx(t), toAna)
		return err == nil && mir.Held(toAna) == b.Len()
	})
	bob.stop()

	ana.start()
	eventually(t, "Ana has Bob's messages from the mirror", func() bool {
		return slices.Equal(ana.chats(task.ID, bobID), want)
	}, state(task.ID, ana))
	ana.send(task.ID, "back now", nil)
	eventually(t, "the mirror holds Ana's answer", func() bool {
		b, err := ana.db.Get(testCtx(t), toBob)
		return err == nil && mir.Held(toBob) == b.Len()
	})
	ana.stop()
	bob.start()
	eventually(t, "Bob has Ana's answer from the mirror", func() bool { return bob.hasChat(task.ID, anaID, "back now") }, state(task.ID, bob))
}
