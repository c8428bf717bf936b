//go:build !js

package room

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	// Held, and counted: the mirror counts a page's bytes when its store
	// event comes, just after the page is held.
	var before mirror.Stats
	eventually(t, "the mirror holds and counts both books", func() bool {
		a, err := ana.db.Get(testCtx(t), toBob)
		b, err2 := bob.db.Get(testCtx(t), toAna)
		if err != nil || err2 != nil || mir.Held(toBob) != a.Len() || mir.Held(toAna) != b.Len() {
			return false
		}
		before = mir.Stats()
		return before.Books == 2 && before.Bytes == bookBytes(t, a)+bookBytes(t, b)
	})
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

// bookBytes is the size of all of b's pages.
func bookBytes(t *testing.T, b *journal.Book) int64 {
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

// TestLeaveKeepsPinsForOfflineMembers: Ana's last message and her leave
// reach Bob, offline, only through the mirror; Ana's leave deletes her
// copy but leaves her book to Bob on the mirror, so Bob, back, has both.
// (The soak found it: a leave released every book from the mirrors once
// a mirror vouched, and a member that was offline lost the leaver's last
// messages.)
func TestLeaveKeepsPinsForOfflineMembers(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{})
	bob, ana, task := mirrorPair(t, url, []identity.ID{mir.ID()}, "Parting", nil)
	toBob := ana.db.BookKey(pairName(ana.ID(), bob.ID(), task.ID))
	n := len(converged(t, task.ID, 3, bob, ana))
	bob.stop()
	ana.send(task.ID, "last words", nil)
	if _, err := ana.Leave(testCtx(t), task.ID); err != nil {
		t.Fatal(err)
	}
	if mir.Held(toBob) == 0 {
		t.Fatal("the mirror released Ana's book to Bob, who has not read it")
	}
	bob.start()
	eventually(t, "Bob has Ana's last words and her leave", func() bool {
		ls := bob.lines(task.ID)
		return len(ls) == n+2 && strings.Contains(ls[n], "last words") && strings.Contains(ls[n+1], " leave ")
	}, state(task.ID, bob))
}

// TestLeaveUndelivered: with Bob offline and no mirror, Ana's leave
// fails with ErrLeaveUndelivered and keeps the task; once Bob is back,
// leaving again (the same leave message) deletes it.
func TestLeaveUndelivered(t *testing.T) {
	url := startRelay(t)
	bob, ana, task := mirrorPair(t, url, nil, "Not yet", nil)
	n := len(converged(t, task.ID, 3, bob, ana))
	bob.stop()
	ana.send(task.ID, "last words", nil)
	ctx, cancel := context.WithTimeout(testCtx(t), LeaveWait+30*time.Second)
	defer cancel()
	if _, err := ana.Leave(ctx, task.ID); !errors.Is(err, ErrLeaveUndelivered) {
		t.Fatalf("leave with Bob offline and no mirror: %v, want ErrLeaveUndelivered", err)
	}
	if ts := ana.Tasks(); len(ts) != 1 {
		t.Fatalf("Ana's tasks after a leave that failed: %+v", ts)
	}
	bob.start()
	if _, err := ana.Leave(testCtx(t), task.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Bob has Ana's last words and one leave", func() bool {
		ls := bob.lines(task.ID)
		return len(ls) == n+2 && strings.Contains(ls[n], "last words") && strings.Contains(ls[n+1], " leave ")
	}, state(task.ID, bob))
}
