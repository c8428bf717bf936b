//go:build !js

package room

import (
	"fmt"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestForgetReleasesMirrorPins: Ana forgets a task; the mirror deletes
// the book she pinned there and frees her quota, and keeps Bob's.
func TestForgetReleasesMirrorPins(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{})
	bob, ana, task := mirrorPair(t, url, []identity.ID{mir.ID()}, "Pinned", nil)
	toBob := ana.db.BookKey(pairName(ana.ID(), bob.ID(), task.ID))
	toAna := bob.db.BookKey(pairName(bob.ID(), ana.ID(), task.ID))
	for i := range 5 {
		ana.send(task.ID, fmt.Sprint(strings.Repeat("tiles ", 500), i), nil)
	}
	bob.send(task.ID, "thanks", nil)
	// Held, then counted: the mirror counts the bytes in a hook of its
	// DB, which runs once the book shows the pages held.
	eventually(t, "the mirror holds both books, their bytes counted", func() bool {
		a, err := ana.db.Get(testCtx(t), toBob)
		b, err2 := bob.db.Get(testCtx(t), toAna)
		return err == nil && err2 == nil && mir.Held(toBob) == a.Len() && mir.Held(toAna) == b.Len() &&
			mir.Stats().Bytes == bookBytes(t, a)+bookBytes(t, b)
	})
	before := mir.Stats()
	if _, err := ana.Forget(testCtx(t), task.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mirror releases Ana's book", func() bool { return mir.Held(toBob) == 0 && mir.Stats().Released == 1 })
	after := mir.Stats()
	t.Logf("mirror: %d books, %d bytes → %d books, %d bytes", before.Books, before.Bytes, after.Books, after.Bytes)
	if after.Books != before.Books-1 || after.Bytes > before.Bytes-5*3000 {
		t.Fatalf("mirror stats %+v → %+v: Ana's book and its bytes not freed", before, after)
	}
	if mir.Held(toAna) == 0 {
		t.Fatal("the mirror dropped Bob's book too")
	}
}

// bookBytes is the size of b's pages, as a mirror counts them.
func bookBytes(t *testing.T, b *journal.Book) int64 {
	t.Helper()
	pages, err := b.GetRange(testCtx(t), 0, b.Len())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range pages {
		n += int64(len(p))
	}
	return n
}
