//go:build !js

package room

import (
	"fmt"
	"testing"

	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestMirrorHoldsBigBatch: Bob writes 8,192 messages in two SendMany calls
// while Ana is offline (about 2 MB of sealed pages); the mirror holds them
// all. The mirror's port from Bob is a stranger's (peerio holds at most
// MaxStrangerBuffer of its unread messages), so the mirror asks for few
// pages at a time; asking for its default window, it was sent more than
// that and the port closed, again at every retry, with 3 pages held.
func TestMirrorHoldsBigBatch(t *testing.T) {
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
	task, err := bob.CreateTask(testCtx(t), "Many at once", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "the pair", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) })
	toAna := bob.db.BookKey(pairName(bob.ID(), ana.ID(), task.ID))
	ana.stop()
	texts := make([]string, 4096)
	for round := range 2 {
		for i := range texts {
			texts[i] = fmt.Sprintf("message %d of round %d, some words to make it a page of a couple of hundred bytes", i, round)
		}
		if _, err := bob.SendMany(testCtx(t), task.ID, texts); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bob.db.Get(testCtx(t), toAna)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mirror holds Bob's messages to Ana", func() bool { return mir.Held(toAna) == b.Len() },
		func() string { return fmt.Sprintf("the mirror holds %d of %d pages", mir.Held(toAna), b.Len()) })
}
