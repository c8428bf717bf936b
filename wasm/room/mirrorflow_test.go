//go:build !js

package room

import (
	"fmt"
	"testing"

	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestMirrorHoldsBigBatch: Bob writes 8,192 messages in two SendMany calls
// while Ana is offline (about 2 MB of sealed pages); the mirror holds them
// all. The mirror's port from Bob is a stranger's (peerio holds at most
// MaxStrangerBuffer of its unread messages), so the mirror asks for few
// pages at a time; asking for its default window, it was sent more than
// that and the port closed, again at every retry, with 3 pages held.
func TestMirrorHoldsBigBatch(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{})
	bob, ana, task := mirrorPair(t, url, []identity.ID{mir.ID()}, "Many at once", nil)
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
