package room

import (
	"bytes"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// allPages returns every page n's store holds, of every book, by book.
func allPages(t *testing.T, n *node) map[identity.ID][][]byte {
	t.Helper()
	infos, err := n.db.Books(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[identity.ID][][]byte)
	for _, info := range infos {
		b, err := n.db.Get(testCtx(t), info.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Have() {
			pages, err := b.GetRange(testCtx(t), r.Start, r.End)
			if err != nil {
				t.Fatal(err)
			}
			if r.Start == 0 && len(out[info.Key]) == 0 {
				out[info.Key] = pages
				continue
			}
			out[info.Key] = append(out[info.Key], pages...)
		}
	}
	return out
}

// TestPagesSealed: no book of either member holds the task's title or a
// message's words in the clear (genesis pages included), while both read
// every message; a page sealed under another secret does not open, and a
// page that does not open is shown as such in the timeline.
func TestPagesSealed(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Quarterly plan", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bob.send(task.ID, "hello from bob", nil)
	ana.send(task.ID, "hello from ana", nil)
	converged(t, task.ID, 5, bob, ana)

	for _, n := range []*node{bob, ana} {
		for key, pages := range allPages(t, n) {
			for i, p := range pages {
				for _, secret := range []string{"Quarterly plan", "hello from", `"chat"`} {
					if bytes.Contains(p, []byte(secret)) {
						t.Fatalf("%s: page %d of book %s holds %q in the clear: %q", n.name, i, key.Short(), secret, p)
					}
				}
				if i > 0 && p[0] != seal.Version {
					t.Fatalf("%s: page %d of book %s is not sealed: %q", n.name, i, key.Short(), p)
				}
			}
		}
	}

	// Bob's book to Ana opens with the task's secret only.
	in := ana.inBooks(ana.task(task.ID), bob.ID())[0]
	page, err := in.book.Get(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := ana.sealOf(ana.task(task.ID), in.key).decode(page, bob.ID(), 1, 1); err != nil || msg.Type == TypeInvalid {
		t.Fatalf("Ana opens Bob's page: %+v, %v", msg, err)
	}
	// Devtools' plaintext view: Ana opens her member's page and her own
	// log's; not a page of a book she does not have.
	if plain := ana.Plaintext(in.key, 1, page); !bytes.HasPrefix(plain, []byte(`{`)) {
		t.Fatalf("Plaintext of Bob's page: %q", plain)
	}
	log := ana.task(task.ID).log
	logPage, err := log.Get(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if plain := ana.Plaintext(log.Key(), 1, logPage); !bytes.Contains(plain, []byte(`"join"`)) {
		t.Fatalf("Plaintext of Ana's log: %q", plain)
	}
	if plain := bob.Plaintext(ana.db.Audit().Key(), 1, logPage); plain != nil {
		t.Fatalf("Plaintext of a book Bob does not have: %q", plain)
	}
	other, _ := seal.NewSecret()
	stranger := pageSeal{book: in.key, secrets: secrets{0: other}, cache: &keyCache{}}
	msg, err := stranger.decode(page, bob.ID(), 1, 1)
	if err == nil || msg.Type != TypeInvalid || !strings.Contains(msg.Reason, "does not open") {
		t.Fatalf("another secret opens Bob's page: %+v, %v", msg, err)
	}
	if msg, err := (pageSeal{book: in.key}).decode(page, bob.ID(), 1, 1); err == nil || !strings.Contains(msg.Reason, "lacks") {
		t.Fatalf("no secret: %+v, %v", msg, err)
	}

	// Bob writes a page sealed under a secret Ana does not have: she shows
	// it as unreadable, and goes on.
	out := bob.task(task.ID).members[ana.ID()].out
	bad, err := (pageSeal{book: out.Key(), secrets: secrets{7: other}, epoch: 7, cache: &keyCache{}}).seal(out.Len(), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	bob.db.SetSealer(func(_ identity.ID, _ string, _ uint64, p []byte) ([]byte, error) { return p, nil })
	if _, err := out.Append(testCtx(t), bad); err != nil {
		t.Fatal(err)
	}
	bob.db.SetSealer(bob.sealPage)
	eventually(t, "Ana shows the page she cannot open", func() bool {
		for _, m := range ana.timeline(task.ID) {
			if m.Type == TypeInvalid && m.Head.By == bob.ID() && strings.Contains(m.Reason, "epoch 7") {
				return true
			}
		}
		return false
	})
}

// TestKeyCacheLast: the key last asked for is answered first, and a
// change of book or epoch never gets another's key.
func TestKeyCacheLast(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	a, b := identity.ID{1}, identity.ID{2}
	var c keyCache
	want := func(book identity.ID, epoch uint32) *seal.Key {
		k, err := seal.BookKey(secret, epoch, book)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sealed, err := want(a, 0).Seal(3, []byte("page"))
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range []struct {
		book  identity.ID
		epoch uint32
		opens bool // opens a's page of epoch 0
	}{{a, 0, true}, {a, 0, true}, {b, 0, false}, {a, 0, true}, {a, 1, false}, {a, 1, false}, {a, 0, true}} {
		k, err := c.get(secret, q.epoch, q.book)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open(3, sealed); (err == nil) != q.opens {
			t.Fatalf("ask %d (book %x, epoch %d): opens a's page: %v, want %v", i, q.book[:1], q.epoch, err == nil, q.opens)
		}
	}
}
