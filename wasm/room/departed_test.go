package room

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// leftTask makes Bob's task that Ana and Carl join; Ana writes, then
// leaves (her leave held by both) and goes offline. It returns the task
// and the timeline's length.
func leftTask(t *testing.T, url string) (id TaskID, bob, carl *node, ana identity.ID, n int) {
	t.Helper()
	bob, an, carl := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1), newNode(t, url, "carl", 3)
	ana = an.ID()
	for _, nd := range []*node{bob, an, carl} {
		nd.receiptEvery = 50 * time.Millisecond
	}
	task, err := bob.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	an.join(bob, task.ID)
	carl.join(bob, task.ID)
	eventually(t, "three members paired", func() bool { return an.paired(task.ID, 2) && carl.paired(task.ID, 2) && bob.paired(task.ID, 2) }, state(task.ID, bob, an, carl))
	for _, text := range []string{"tiles ordered", "scaffold up", "bye all"} {
		an.send(task.ID, text, nil)
	}
	bob.send(task.ID, "thanks Ana", nil)
	n = len(converged(t, task.ID, 9, bob, an, carl))
	if _, err := an.Leave(testCtx(t), task.ID); err != nil {
		t.Fatal(err)
	}
	an.stop()
	converged(t, task.ID, n+1, bob, carl)
	return task.ID, bob, carl, ana, n + 1
}

// TestJoinAfterLeave: Ana left before Dave joined; the member Dave joins
// through names her book to it, which Dave follows through the members:
// Dave's timeline holds Ana's messages in the order every member shows
// them, shows her left, and still after a reopen.
func TestJoinAfterLeave(t *testing.T) {
	for _, via := range []string{"bob", "carl"} {
		t.Run("via "+via, func(t *testing.T) {
			url := startRelay(t)
			id, bob, carl, ana, n := leftTask(t, url)
			dave := newNode(t, url, "dave", 4)
			host := bob
			if via == "carl" {
				host = carl
			}
			dave.join(host, id)
			// The host's announcement of Dave and Dave's join.
			lines := converged(t, id, n+2, bob, carl, dave)
			if _, texts := dave.chatsOf(id, ana); !slices.Equal(texts, []string{"tiles ordered", "scaffold up", "bye all"}) {
				t.Fatalf("Dave's chats of Ana = %q", texts)
			}
			eventually(t, "Dave shows Ana left", func() bool {
				mi, ok := dave.member(id, ana)
				return ok && mi.Left && !mi.Paired
			}, state(id, dave))

			dave.stop()
			dave.start()
			if got := dave.lines(id); !slices.Equal(got, lines) {
				t.Fatalf("after reopening, Dave's timeline:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(lines, "\n  "))
			}
			dave.send(id, "hello all", nil)
			converged(t, id, n+3, bob, carl, dave)
		})
	}
}

// TestJoinAfterLeaveHostile: a departed member's book is taken only for a
// member the answer lists, once, by a book its author signed and named
// for the task.
func TestJoinAfterLeaveHostile(t *testing.T) {
	url := startRelay(t)
	id, bob, carl, ana, n := leftTask(t, url)
	dave := newNode(t, url, "dave", 4)
	dave.join(bob, id)
	converged(t, id, n+2, bob, carl, dave)
	task := dave.task(id)
	zed := identity.New(identity.Seed{9}).ID()
	members := []identity.ID{bob.ID(), ana, carl.ID(), zed}
	dave.mu.Lock()
	bobBook := task.members[bob.ID()].inKey
	anaBook := task.departed[ana]
	dave.mu.Unlock()
	for _, c := range []struct {
		what    string
		members []identity.ID
		d       departedBook
	}{
		{"not a member", members[:3], departedBook{zed, zed}},
		{"the host", members, departedBook{bob.ID(), bobBook}},
		{"its own log", members, departedBook{zed, task.log.Key()}},
		{"another's book", members, departedBook{zed, bobBook}},
		{"a second book", members, departedBook{ana, zed}},
	} {
		err := dave.takeDepartedBook(testCtx(t), task, bob.ID(), c.members, c.d, map[identity.ID]bool{})
		if !errors.Is(err, ErrBadDeparted) {
			t.Errorf("%s: %v, want ErrBadDeparted", c.what, err)
		}
	}
	if _, ok := dave.member(id, zed); ok {
		t.Fatal("Zed was taken as a member")
	}
	dave.mu.Lock()
	got := task.departed[ana]
	dave.mu.Unlock()
	if got != anaBook {
		t.Fatalf("Ana's book is %s, was %s", got.Short(), anaBook.Short())
	}
	// Only Ana's book, named for this task, is hers to read.
	other, err := bob.CreateTask(testCtx(t), "Garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		info journal.BookInfo
		want bool
	}{
		{journal.BookInfo{Key: anaBook, Name: pairName(ana, bob.ID(), id)}, true},
		{journal.BookInfo{Key: anaBook, Name: pairName(ana, bob.ID(), other.ID)}, false},
		{journal.BookInfo{Key: bobBook, Name: pairName(ana, bob.ID(), id)}, false},
	} {
		if got := dave.bookNameOK(c.info, ana, id, 0); got != c.want {
			t.Errorf("book %s named %s: taken %v, want %v", c.info.Key.Short(), c.info.Name, got, c.want)
		}
	}
	// A joined answer names at most MaxMembers, and only a joined does.
	w := wire{V: RoomVersion, Type: wireJoin, Task: id, Key: bobBook, Departed: []departedBook{{ana, anaBook}}}
	if checkDeparted(w) == nil {
		t.Error("departed members in a join were taken")
	}
	w.Type, w.Departed = wireJoined, make([]departedBook, MaxMembers+1)
	if checkDeparted(w) == nil {
		t.Error("too many departed members were taken")
	}
}
