package room

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// lazy reports whether n's task id is known and its books not opened.
func (n *node) lazy(id TaskID) bool {
	n.Messenger.mu.Lock()
	defer n.Messenger.mu.Unlock()
	t := n.Messenger.tasks[id]
	return t != nil && t.lazy && !t.ready
}

// readAll marks every message of task as read at n.
func (n *node) readAll(task TaskID) {
	n.t.Helper()
	msgs, err := n.Timeline(testCtx(n.t), task, nil, MaxPage)
	if err != nil {
		n.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Head.By != n.ID() {
			if err := n.MarkRead(task, Ref{By: m.Head.By, Mid: m.Head.Mid}); err != nil {
				n.t.Fatal(err)
			}
		}
	}
}

// TestLazyTasks: after a reopen no task's books are open; a message in
// one opens it (news), and writing, listing members and inviting in
// another opens that one on demand.
func TestLazyTasks(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	var ids []TaskID
	for _, title := range []string{"Roof", "Garden", "Cellar"} {
		task, err := bob.CreateTask(testCtx(t), title, nil)
		if err != nil {
			t.Fatal(err)
		}
		ana.join(bob, task.ID)
		ids = append(ids, task.ID)
	}
	for _, id := range ids {
		eventually(t, "paired", func() bool { return ana.paired(id, 1) && bob.paired(id, 1) })
	}
	ana.stop()
	ana.start()
	if got := len(ana.Tasks()); got != 3 {
		t.Fatalf("Ana lists %d tasks after reopening, want 3", got)
	}
	for _, id := range ids {
		if !ana.lazy(id) {
			t.Fatalf("task %s was opened at open", id)
		}
	}

	// News: Bob writes in the garden; Ana's copy opens and shows it.
	bob.send(ids[1], "water the roses", nil)
	eventually(t, "Bob's message at Ana", func() bool { return !ana.lazy(ids[1]) && ana.hasChat(ids[1], bob.ID(), "water the roses") })

	// On demand: Ana writes in the cellar, lists its members, invites.
	ana.send(ids[2], "the lights are out", nil)
	eventually(t, "Ana's message at Bob", func() bool { return bob.hasChat(ids[2], ana.ID(), "the lights are out") })
	if ms, err := ana.Members(ids[0]); err != nil || len(ms) != 2 {
		t.Fatalf("members of a lazy task: %v, %v", ms, err)
	}
	if _, err := ana.Invite(testCtx(t), ids[0], InviteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadSurvivesReopen: messages of others count as unread until read;
// the count and the first unread message are kept across a reopen, without
// opening the task, and the read marks too.
func TestUnreadSurvivesReopen(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Roof", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "paired", func() bool { return ana.paired(task.ID, 1) && bob.paired(task.ID, 1) })
	eventually(t, "Ana's join at Bob", func() bool { return strings.Contains(strings.Join(bob.lines(task.ID), "\n"), " join ") })
	ana.readAll(task.ID)
	bob.readAll(task.ID)
	if n, first := ana.Unread(task.ID); n != 0 || first != "" {
		t.Fatalf("after reading all: %d unread, first %q", n, first)
	}
	one := bob.send(task.ID, "one", nil)
	bob.send(task.ID, "two", nil)
	ana.send(task.ID, "mine", nil) // one's own: never unread
	firstID := Ref{By: one.Head.By, Mid: one.Head.Mid}.String()
	eventually(t, "two unread at Ana", func() bool {
		n, first := ana.Unread(task.ID)
		return n == 2 && first == firstID
	})
	eventually(t, "one unread at Bob (Ana's)", func() bool { n, _ := bob.Unread(task.ID); return n == 1 }, func() string {
		n, first := bob.Unread(task.ID)
		return fmt.Sprintf("Bob: %d unread, first %s; timeline:\n%s", n, first, strings.Join(bob.lines(task.ID), "\n"))
	})

	ana.stop()
	ana.start()
	if n, first := ana.Unread(task.ID); n != 2 || first != firstID || !ana.lazy(task.ID) {
		t.Fatalf("after reopening: %d unread, first %q, lazy %v; want 2, %q, true", n, first, ana.lazy(task.ID), firstID)
	}
	if info := ana.Tasks()[0]; info.Unread != 2 || info.FirstUnread != firstID {
		t.Fatalf("Tasks: %+v", info)
	}
	ana.readAll(task.ID) // opens it, counts again, reads
	if n, first := ana.Unread(task.ID); n != 0 || first != "" {
		t.Fatalf("after reading: %d unread, first %q", n, first)
	}
	ana.stop()
	ana.start()
	if n, _ := ana.Unread(task.ID); n != 0 {
		t.Fatalf("after reading and reopening: %d unread", n)
	}
	ana.spoilUnread(task.ID)
	if _, err := ana.Timeline(testCtx(t), task.ID, nil, 1); err != nil { // opens it: counted from the books
		t.Fatal(err)
	}
	eventually(t, "counted from the books after reopening (the read marks kept)", func() bool { n, _ := ana.Unread(task.ID); return n == 0 })
}

// spoilUnread makes the count n keeps of lazy task id wrong, as a crash
// before it was written down would: only a count from the books puts it
// right.
func (n *node) spoilUnread(id TaskID) {
	n.Messenger.mu.Lock()
	defer n.Messenger.mu.Unlock()
	u := &n.Messenger.tasks[id].unread
	u.n, u.firstID = 99, "nobody/1"
}

// TestUnreadFromMark: with a read mark between an author's messages, the
// count is of the messages after it, the first of them included, live and
// when counted again from the books (a reopen, a later mark).
func TestUnreadFromMark(t *testing.T) {
	ana, task, bobs := threeUnread(t)
	one, two := bobs[0], bobs[1]
	if err := ana.MarkRead(task, one.Ref()); err != nil {
		t.Fatal(err)
	}
	want := two.Ref().String()
	if n, first := ana.Unread(task); n != 2 || first != want {
		t.Fatalf("after reading one: %d unread, first %s; want 2, %s", n, first, want)
	}
	ana.stop()
	ana.start()
	ana.spoilUnread(task)
	if _, err := ana.Timeline(testCtx(t), task, nil, 1); err != nil { // opens it: counted from the books
		t.Fatal(err)
	}
	eventually(t, "counted from the books", func() bool { n, first := ana.Unread(task); return n == 2 && first == want }, func() string {
		n, first := ana.Unread(task)
		return fmt.Sprintf("%d unread, first %s; want 2, %s", n, first, want)
	})
}

// TestMarkReadFrom: a view showing the messages from a key on marks an
// author's messages read up to the newest it shows, but never past an
// unread one of the author that sorts before the view (not seen).
func TestMarkReadFrom(t *testing.T) {
	ana, task, bobs := threeUnread(t)
	one, two, three := bobs[0], bobs[1], bobs[2]
	for _, step := range []struct {
		from   Message
		unread int
		first  Ref
	}{
		{three, 3, one.Ref()}, // one and two above the view: nothing moves
		{two, 3, one.Ref()},   // one above it still
		{one, 0, Ref{}},       // all shown
	} {
		if err := ana.MarkReadFrom(task, three.Ref(), step.from.Key()); err != nil {
			t.Fatal(err)
		}
		n, first := ana.Unread(task)
		want := ""
		if step.unread > 0 {
			want = step.first.String()
		}
		if n != step.unread || first != want {
			t.Fatalf("view from %s: %d unread, first %s; want %d, %s", step.from.Ref(), n, first, step.unread, want)
		}
	}
	if err := ana.MarkReadFrom(task, Ref{By: identity.ID{1}, Mid: 1}, one.Key()); err == nil {
		t.Fatal("a mark of a stranger's message taken")
	}
}

// threeUnread: Bob's task, Ana paired in it and all read; then Bob's
// three lines, unread at Ana.
func threeUnread(t *testing.T) (ana *node, task TaskID, bobs [3]Message) {
	ana, task, sent := unreadAtAna(t, "one", "two", "three")
	return ana, task, [3]Message(sent)
}

// unreadAtAna: Bob's task, Ana paired in it and all read; then Bob's lines
// with these texts, unread at Ana.
func unreadAtAna(t *testing.T, texts ...string) (ana *node, task TaskID, sent []Message) {
	bob, ana, task := allReadAtAna(t)
	for _, text := range texts {
		sent = append(sent, bob.send(task, text, nil))
	}
	eventually(t, "Bob's lines unread at Ana", func() bool { n, _ := ana.Unread(task); return n == len(texts) })
	return ana, task, sent
}

// TestReadMarksShareAWrite: a reader marking message after message read
// (as a page does when shown one at a time) writes the marks together, a
// few records for many marks, and the last mark is written without a
// Close.
func TestReadMarksShareAWrite(t *testing.T) {
	var texts []string
	for i := range 30 {
		texts = append(texts, fmt.Sprintf("line %d", i))
	}
	ana, task, sent := unreadAtAna(t, texts...)
	written := func() uint64 { return ana.Messenger.unreadLog.book.Len() }
	settled := func() bool { return ana.marksWritten(task) }
	eventually(t, "Ana's unread state written", settled)
	before := written()
	for _, m := range sent {
		if err := ana.MarkRead(task, m.Ref()); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the marks written", settled)
	if got := written() - before; got == 0 || got > 5 {
		t.Fatalf("%d marks made %d records of the unread book, want 1 to 5", len(sent), got)
	}
	// Nothing is left for Close to write: the marks read back are those
	// written without it.
	ana.stop()
	ana.start()
	if c, first := ana.Unread(task); c != 0 || first != "" {
		t.Fatalf("after a crash: %d unread, first %q", c, first)
	}
}

// TestReadMarkWaitingAtClose: a mark whose write waits (another was
// written just before) is written by Close: closing mid-wait loses no
// mark.
func TestReadMarkWaitingAtClose(t *testing.T) {
	ana, task, bobs := threeUnread(t)
	if err := ana.MarkRead(task, bobs[0].Ref()); err != nil { // written at once
		t.Fatal(err)
	}
	eventually(t, "the first mark written", func() bool { return ana.marksWritten(task) })
	if err := ana.MarkRead(task, bobs[2].Ref()); err != nil { // waits for readMarkEvery
		t.Fatal(err)
	}
	ana.stop()
	ana.start()
	if c, first := ana.Unread(task); c != 0 || first != "" {
		t.Fatalf("after closing while a mark waited: %d unread, first %q", c, first)
	}
}

// marksWritten reports whether n's unread state of task id is written,
// and no write of read marks is planned.
func (n *node) marksWritten(id TaskID) bool {
	m := n.Messenger
	m.unreadLog.marks.mu.Lock()
	planned := m.unreadLog.marks.planned
	m.unreadLog.marks.mu.Unlock()
	m.mu.Lock()
	dirty := m.tasks[id].unread.dirty
	m.mu.Unlock()
	return !planned && !dirty
}

// allReadAtAna: Bob's task, Ana paired in it (pair) and all read.
func allReadAtAna(t *testing.T) (bob, ana *node, task TaskID) {
	bob, ana, task = pair(t)
	ana.readAll(task)
	return bob, ana, task
}

// heldOldPages holds every read of one book's pages that starts below
// page below (a scan or seek of the pages table) until release is closed,
// telling holding when the first is held.
type heldOldPages struct {
	store.Store
	book     identity.ID
	below    uint64
	holding  chan struct{}
	once     sync.Once
	release  chan struct{}
	released sync.Once
}

func (s *heldOldPages) old(table string, keys ...[]byte) bool {
	if table != store.TablePages {
		return false
	}
	for _, k := range keys {
		if len(k) == identity.IDSize+8 && identity.ID(k[:identity.IDSize]) == s.book && binary.BigEndian.Uint64(k[identity.IDSize:]) < s.below {
			return true
		}
	}
	return false
}

func (s *heldOldPages) hold(ctx context.Context) error {
	s.once.Do(func() { close(s.holding) })
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *heldOldPages) let() { s.released.Do(func() { close(s.release) }) }

func (s *heldOldPages) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	if s.old(table, start) {
		if err := s.hold(ctx); err != nil {
			return nil, err
		}
	}
	return s.Store.Scan(ctx, table, start, end, limit)
}

func (s *heldOldPages) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	if s.old(table, keys...) {
		if err := s.hold(ctx); err != nil {
			return nil, err
		}
	}
	return s.Store.Seek(ctx, table, end, keys...)
}

// TestLazyPageBeforeCount: a task opened on demand shows its newest page
// without waiting for its unread messages to be counted again from the
// books (as many reads as there are unread: thousands in a catch-up).
// Here the reads of a member's older pages are held: the page comes, the
// count kept stands; a close cuts the count short and keeps nothing of
// it; opened again, the count is made to the end.
func TestLazyPageBeforeCount(t *testing.T) {
	bob, ana, task := allReadAtAna(t)
	texts := make([]string, 600)
	for i := range texts {
		texts[i] = fmt.Sprintf("line %d", i)
	}
	if _, err := bob.SendMany(testCtx(t), task, texts); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Bob's lines unread at Ana", func() bool { n, _ := ana.Unread(task); return n == len(texts) })
	ana.Messenger.mu.Lock()
	book := ana.Messenger.tasks[task].members[bob.ID()].inKey
	ana.Messenger.mu.Unlock()
	bob.stop() // nothing of his (digests on a new port) opens the task at Ana but her page

	ana.stop()
	held := &heldOldPages{Store: ana.st, book: book, below: uint64(len(texts) - 2*receiptScan), holding: make(chan struct{}), release: make(chan struct{})}
	ana.st = held
	defer held.let()
	ana.start()
	if !ana.lazy(task) {
		t.Fatal("the task was opened at open")
	}
	ana.showsNewest(task, texts[len(texts)-1], "the unread count")
	select {
	case <-held.holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the unread count never read the older pages")
	}
	if n, _ := ana.Unread(task); n != len(texts) {
		t.Fatalf("%d unread while counting, want the count kept (%d)", n, len(texts))
	}

	// Closed while counting: the count kept is not replaced by a part.
	ana.stop()
	ana.st = held.Store
	ana.start()
	if n, _ := ana.Unread(task); n != len(texts) || !ana.lazy(task) {
		t.Fatalf("after a close while counting: %d unread (lazy %v), want %d", n, ana.lazy(task), len(texts))
	}
	// Opened again, and counted to the end.
	ana.spoilUnread(task)
	if _, err := ana.Timeline(testCtx(t), task, nil, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the count", func() bool { n, _ := ana.Unread(task); return n == len(texts) })
}

// showsNewest checks that n's first page of task comes, its newest
// message the text last, while the reads of older pages are held (that
// waiting for what it names would never end).
func (n *node) showsNewest(task TaskID, last, waitsFor string) {
	n.t.Helper()
	page := make(chan error, 1)
	go func() {
		msgs, err := n.Timeline(testCtx(n.t), task, nil, DefaultPage)
		if err == nil && (len(msgs) != DefaultPage || !strings.Contains(string(msgs[len(msgs)-1].Data), last)) {
			err = fmt.Errorf("%d messages, want the newest %d", len(msgs), DefaultPage)
		}
		page <- err
	}()
	select {
	case err := <-page:
		if err != nil {
			n.t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // a failure's bound, not a wait for success
		n.t.Fatalf("no first page while the older pages are held: it waits for %s", waitsFor)
	}
}

// TestInBackgroundInTurn: what opening tasks leaves to the background is
// done in order, one piece at a time (a port opening thousands of lazy
// tasks reads the store for one at a time), and nothing after Close.
func TestInBackgroundInTurn(t *testing.T) {
	m := openOn(t, store.NewMemory(), identity.Seed{0x45})
	started := make(chan int, 10)
	release := make(chan struct{})
	for i := range 3 {
		m.inBackground(func(ctx context.Context) {
			started <- i
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
	}
	for want := range 3 {
		if got := <-started; got != want {
			t.Fatalf("piece %d started, want %d", got, want)
		}
		select {
		case got := <-started:
			t.Fatalf("piece %d started while %d runs", got, want)
		default:
		}
		release <- struct{}{}
	}
	m.Close()
	m.inBackground(func(context.Context) { started <- 99 })
	select {
	case got := <-started:
		t.Fatalf("piece %d ran after Close", got)
	default:
	}
}
