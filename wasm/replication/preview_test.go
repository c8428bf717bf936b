package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// gatedStore holds every write while its gate is closed.
type gatedStore struct {
	store.Store
	mu   sync.Mutex
	gate chan struct{} // nil: writes go through
	fail bool          // the writes held fail when released
}

func (s *gatedStore) Write(c context.Context, b *store.Batch) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-c.Done():
			return c.Err()
		}
		s.mu.Lock()
		fail := s.fail
		s.mu.Unlock()
		if fail {
			return errors.New("disk gone")
		}
	}
	return s.Store.Write(c, b)
}

func (s *gatedStore) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

func (s *gatedStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.gate)
	s.gate, s.fail = nil, false
}

// releaseFailing lets the writes held go on, failing.
func (s *gatedStore) releaseFailing() {
	s.mu.Lock()
	s.fail = true
	s.mu.Unlock()
	close(s.gate)
}

// TestPreviewAhead: pages pushed while the reader is still storing the
// one before are told to the reader's Verified hooks as they arrive,
// before that write is done, dozens of them (a slow store), not only the
// first few; then all are stored, in order.
func TestPreviewAhead(t *testing.T) {
	for _, n := range []int{2, 48} {
		t.Run(fmt.Sprint(n, " pages"), func(t *testing.T) {
			author := openDB(t, 1)
			gated := &gatedStore{Store: newStore(t)}
			reader, err := journal.Open(ctx, gated, identity.Seed{2}, nil)
			if err != nil {
				t.Fatal(err)
			}
			book, replica := bookFor(t, author, reader, "ahead")
			fill(t, book, 1, 64, "first")
			connect(t, author, reader, replication.Config{}, replication.Config{}, nil)
			waitFor(t, reader, "the first page", holds(replica, 2))

			told, stored := make(chan uint64, 4*n), make(chan uint64, 4*n)
			cancel := reader.Verified(func(ev journal.Event) {
				if ev.Book == book.Key() {
					told <- ev.Index
				}
			})
			defer cancel()
			unsubscribe := reader.Subscribe(func(ev journal.Event) {
				if ev.Book == book.Key() && ev.Type == journal.EventPut {
					stored <- ev.Index
				}
			})
			defer unsubscribe()
			gated.hold()
			for i := range n { // page 2's write is held; the others arrive meanwhile
				fill(t, book, 1, 64, fmt.Sprint("page ", 2+i))
				toldOf(t, told, uint64(2+i))
			}
			select {
			case i := <-stored:
				t.Fatalf("page %d stored while the writes are held", i)
			default:
			}
			gated.release()
			waitFor(t, reader, "all pages", holds(replica, uint64(2+n)))
			sameBook(t, book, replica)
		})
	}
}

// toldOf waits until told says index (a minute at most).
func toldOf(t *testing.T, told <-chan uint64, index uint64) {
	t.Helper()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for {
		select {
		case got := <-told:
			if got == index {
				return
			}
		case <-timeout.C:
			t.Fatalf("never told of page %d", index)
		}
	}
}

// TestPreviewWhileWriting (version 3): with Config.Previews, the author's
// page is told to the reader's Verified hooks while the author's own write
// is still held, and stored by the reader only once that write is done. A
// previewed page whose write fails is never stored: the page written next
// at its index is, with no fork. Without Previews, or with a version-2
// reader, no preview is sent.
func TestPreviewWhileWriting(t *testing.T) {
	gated := &gatedStore{Store: newStore(t)}
	author, err := journal.Open(ctx, gated, identity.Seed{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reader := openDB(t, 2)
	book, replica := bookFor(t, author, reader, "writing")
	fill(t, book, 1, 64, "first")
	l := connect(t, author, reader, replication.Config{Previews: true}, replication.Config{}, nil)
	waitFor(t, reader, "the first page", holds(replica, 2))

	told := make(chan journal.Event, 16)
	defer reader.Verified(func(ev journal.Event) {
		if ev.Book == book.Key() {
			told <- ev
		}
	})()
	appended := make(chan error, 1)
	appendHeld := func(text string) {
		gated.hold()
		go func() {
			_, err := book.Append(ctx, []byte(text))
			appended <- err
		}()
	}
	toldPage := func(index uint64, text string) {
		t.Helper()
		for {
			var ev journal.Event
			select {
			case ev = <-told:
			case <-time.After(time.Minute):
				t.Fatalf("never told of page %d", index)
			}
			if ev.Index == index && len(ev.Pages) == 1 && bytes.Contains(ev.Pages[0], []byte(text)) {
				return
			}
		}
	}

	appendHeld("second")
	toldPage(2, "second")
	if n := replica.Have(); n[0].End != 2 {
		t.Fatalf("previewed: the reader holds %v", n)
	}
	gated.release()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	waitFor(t, reader, "the second page", holds(replica, 3))

	appendHeld("lost")
	toldPage(3, "lost")
	gated.releaseFailing()
	if err := <-appended; err == nil {
		t.Fatal("an append on a failing store succeeded")
	}
	gated.mu.Lock()
	gated.fail = false
	gated.mu.Unlock()
	fill(t, book, 1, 64, "kept")
	waitFor(t, reader, "the page written instead", holds(replica, 4))
	if got, err := replica.Get(ctx, 3); err != nil || !bytes.HasPrefix(got, []byte("kept")) || replica.Info().Forked {
		t.Fatalf("page 3 %q, %v; forked %v", got, err, replica.Info().Forked)
	}
	sameBook(t, book, replica)
	l.stop()
	if !stopped(l.errA) || !stopped(l.errB) {
		t.Fatalf("sessions ended with %v / %v", l.errA, l.errB)
	}
	if n := l.A.Stats().Sent.ByType[replication.TypePreview]; n < 2 {
		t.Fatalf("%d previews sent, want 2 or more", n)
	}

	for name, cfgs := range map[string][2]replication.Config{
		"previews off":       {{}, {}},
		"a version-2 reader": {{Previews: true}, {Version: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			author, reader := openDB(t, 1), openDB(t, 2)
			book, replica := bookFor(t, author, reader, "writing")
			l := connect(t, author, reader, cfgs[0], cfgs[1], nil)
			for i := range 5 {
				fill(t, book, 1, 64, "page")
				waitFor(t, reader, "the page", holds(replica, uint64(i+2)))
			}
			l.stop()
			if n := l.A.Stats().Sent.ByType[replication.TypePreview]; n != 0 || !stopped(l.errA) || !stopped(l.errB) {
				t.Fatalf("%d previews sent; sessions ended with %v / %v", n, l.errA, l.errB)
			}
		})
	}
}

// TestPreviewDecode: a preview is version 3, carries exactly the pages its
// head adds from its start, and no consistency proof.
func TestPreviewDecode(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, _ := bookFor(t, ana, bob, "decode")
	fill(t, book, 3, 64, "p")
	good := func() *replication.Preview {
		return &replication.Preview{Upgrade: journal.Upgrade{Head: book.Head(), From: 1}, Push: data(t, book, 1, 4, 4)}
	}
	msg, err := replication.EncodeVersion(3, replication.TypePreview, good())
	if err != nil {
		t.Fatal(err)
	}
	if _, m, err := replication.DecodeVersion(msg); err != nil || m.(*replication.Preview).Push.Start != 1 {
		t.Fatalf("a good preview: %v", err)
	}
	bad := map[string]func(p *replication.Preview){
		"no pages":         func(p *replication.Preview) { p.Push = nil },
		"from 0":           func(p *replication.Preview) { p.Upgrade.From, p.Push = 0, data(t, book, 0, 4, 4) },
		"not the head's":   func(p *replication.Preview) { p.Push.Pages = p.Push.Pages[:2] },
		"another start":    func(p *replication.Preview) { p.Upgrade.From = 2 },
		"a proof of trees": func(p *replication.Preview) { p.Upgrade.Proof = []journal.Hash{{1}} },
	}
	for name, change := range bad {
		p := good()
		change(p)
		msg, err := replication.EncodeVersion(3, replication.TypePreview, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := replication.DecodeVersion(msg); !errors.Is(err, replication.ErrProtocol) {
			t.Errorf("%s: %v", name, err)
		}
	}
	msg, _ = replication.EncodeVersion(2, replication.TypePreview, good())
	if _, _, err := replication.DecodeVersion(msg); !errors.Is(err, replication.ErrProtocol) {
		t.Errorf("a preview in version 2: %v", err)
	}
}

// TestHostilePreview: a preview whose head or pages do not verify ends the
// session with a protocol error (an author never sends one), and nothing
// of it is shown.
func TestHostilePreview(t *testing.T) {
	for name, spoil := range map[string]func(p *replication.Preview){
		"bad signature": func(p *replication.Preview) { p.Upgrade.Head.Sig[3] ^= 1 },
		"forged page":   func(p *replication.Preview) { p.Push.Pages[0][0] ^= 1 },
	} {
		t.Run(name, func(t *testing.T) {
			ana, bob := openDB(t, 1), openDB(t, 2)
			book, replica := bookFor(t, ana, bob, "hostile")
			fill(t, book, 2, 64, "p")
			l := connect(t, ana, bob, replication.Config{}, replication.Config{}, nil)
			waitFor(t, bob, "Bob's copy", holds(replica, 3))
			l.stop()
			told := 0
			defer bob.Verified(func(journal.Event) { told++ })()

			f, res := victim(t, bob, ana.ID(), replication.Config{})
			f.expect(replication.TypeHello)
			hello := &replication.Hello{Full: true, Books: []replication.HelloBook{}}
			hello.AddOffer(replication.Offer{Versions: 1<<replication.Version - 1})
			f.send(replication.TypeHello, hello)
			fill(t, book, 1, 64, "q")
			p := &replication.Preview{Upgrade: journal.Upgrade{Head: book.Head(), From: 3}, Push: data(t, book, 3, 4, 4)}
			p.Upgrade.Head.Sig = bytes.Clone(p.Upgrade.Head.Sig)
			spoil(p)
			msg, err := replication.EncodeVersion(replication.Version, replication.TypePreview, p)
			if err != nil {
				t.Fatal(err)
			}
			f.raw(msg)
			if err := wait(t, res); !errors.Is(err, replication.ErrProtocol) || !strings.Contains(err.Error(), "preview") {
				t.Fatalf("session ended with %v", err)
			}
			if told != 0 || replica.Len() != 3 {
				t.Fatalf("told %d times; the replica at %d", told, replica.Len())
			}
		})
	}
}
