//go:build !js

package room

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/relay/mirror"
	mirrorheld "github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// startMirror starts a mirror on the relay at url until the test ends: on
// a memory store, seed 9, quiet, unless cfg says otherwise.
func startMirror(t testing.TB, url string, cfg mirror.Config) *mirror.Mirror {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = store.NewMemory()
	}
	if cfg.Seed == (identity.Seed{}) {
		cfg.Seed = identity.Seed{9}
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.Relay = url
	mir, err := mirror.Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mir.Close() })
	return mir
}

// mirrorPair starts Bob and Ana with mirrors (each node first given to
// tweak, if set); Bob creates a task of that title and Ana joins it.
func mirrorPair(t *testing.T, url string, mirrors []identity.ID, title string, tweak func(*node)) (bob, ana *node, task TaskInfo) {
	t.Helper()
	bob = &node{t: t, name: "bob", url: url, seed: identity.Seed{2}, st: store.NewMemory(), mirrors: mirrors}
	ana = &node{t: t, name: "ana", url: url, seed: identity.Seed{1}, st: store.NewMemory(), mirrors: mirrors}
	for _, n := range []*node{bob, ana} {
		if tweak != nil {
			tweak(n)
		}
		n.start()
		t.Cleanup(n.stop)
	}
	task, err := bob.CreateTask(testCtx(t), title, nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "the pair", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) })
	return bob, ana, task
}

// TestMirrorDelivers: Bob writes while Ana is offline and goes offline
// himself; Ana, back, has his messages from the mirror, in order, though
// the two were never online together. Ana's answer, written while Bob is
// still away, reaches him the same way.
func TestMirrorDelivers(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{})
	bob, ana, task := mirrorPair(t, url, []identity.ID{mir.ID()}, "Never together", nil)
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

// mirrorNode is a mirror that can be stopped and started again on the
// same store, like a server restarted.
type mirrorNode struct {
	t    testing.TB
	url  string
	seed identity.Seed
	id   identity.ID
	st   store.Store
	*mirror.Mirror
}

func newMirror(t testing.TB, url string, n byte) *mirrorNode {
	mn := &mirrorNode{t: t, url: url, seed: identity.Seed{n, n}, st: store.NewMemory()}
	mn.start()
	mn.id = mn.ID()
	t.Cleanup(mn.stop)
	return mn
}

func (mn *mirrorNode) start() {
	mn.t.Helper()
	m, err := mirror.Start(testCtx(mn.t), mirror.Config{Store: mn.st, Seed: mn.seed, Relay: mn.url, Logger: quiet})
	if err != nil {
		mn.t.Fatal(err)
	}
	mn.Mirror = m
}

func (mn *mirrorNode) stop() {
	if mn.Mirror != nil {
		mn.Mirror.Close()
		mn.Mirror = nil
	}
}

// holds reports whether the mirror holds every page node n wrote of book.
func (mn *mirrorNode) holds(n *node, book identity.ID) bool {
	b, err := n.db.Get(testCtx(n.t), book)
	return err == nil && mn.Mirror != nil && mn.Held(book) == b.Len()
}

// tamperPages flips the last byte of every page of book in st (a mirror's
// store, the mirror stopped): its records keep their hashes, so the mirror
// serves them with the proofs of the true pages.
func tamperPages(t testing.TB, st store.Store, book identity.ID) {
	t.Helper()
	ctx := testCtx(t)
	es, err := st.Scan(ctx, store.TablePages, book[:], nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for _, e := range es {
		if !bytes.HasPrefix(e.Key, book[:]) {
			break
		}
		v := bytes.Clone(e.Value)
		v[len(v)-1] ^= 1
		b.Put(store.TablePages, bytes.Clone(e.Key), v)
	}
	if b.Len() == 0 {
		t.Fatal("no page to tamper with")
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
}

// recorder keeps a node's events.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func recordEvents(n *node) *recorder {
	r := &recorder{}
	n.Subscribe(func(ev Event) {
		r.mu.Lock()
		r.evs = append(r.evs, ev)
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) count(match func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.evs {
		if match(ev) {
			n++
		}
	}
	return n
}

// mirrorInfo returns node n's status of mirror id.
func mirrorInfo(n *node, id identity.ID) MirrorInfo {
	for _, mi := range n.MirrorStatus() {
		if mi.ID == id {
			return mi
		}
	}
	n.t.Fatalf("no status of mirror %s", id.Short())
	return MirrorInfo{}
}

func mirrorsOf(n *node) func() string {
	return func() string { return fmt.Sprintf("%s's mirrors: %+v", n.name, n.MirrorStatus()) }
}

// pair starts Bob and Ana with mirrors, and pairs them in a new task.
func pairWithMirrors(t *testing.T, url string, mirrors []identity.ID) (bob, ana *node, task TaskID) {
	bob = &node{t: t, name: "bob", url: url, seed: identity.Seed{2}, st: store.NewMemory(), mirrors: mirrors}
	ana = &node{t: t, name: "ana", url: url, seed: identity.Seed{1}, st: store.NewMemory(), mirrors: mirrors}
	bob.start()
	t.Cleanup(bob.stop)
	ana.start()
	t.Cleanup(ana.stop)
	info, err := bob.CreateTask(testCtx(t), "Mirrors", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, info.ID)
	eventually(t, "the pair", func() bool { return bob.paired(info.ID, 1) && ana.paired(info.ID, 1) })
	return bob, ana, info.ID
}

// TestMirrorRefusedAndSkipped: Bob writes to Ana, offline, and leaves; his
// book is on two mirrors, one of which then serves it tampered. Ana comes
// back while both mirrors are gone (a status, no error), then the bad one
// comes back: she refuses its copy (EventMirror "refused", ErrBadProof),
// stores none of it, does not pin to it, and does not read that book
// through it again (one refusal, though its session comes back); once the
// good mirror restarts, with everything it held, she has Bob's messages
// from it.
func TestMirrorRefusedAndSkipped(t *testing.T) {
	url := startRelay(t)
	good, bad := newMirror(t, url, 8), newMirror(t, url, 9)
	bob, ana, task := pairWithMirrors(t, url, []identity.ID{good.id, bad.id})
	bobID := bob.ID()
	toAna := bob.db.BookKey(pairName(bobID, ana.ID(), task))

	ana.stop()
	var want []string
	for i := range 3 {
		want = append(want, fmt.Sprint("while you were away ", i))
		bob.send(task, want[i], nil)
	}
	eventually(t, "both mirrors hold Bob's messages to Ana", func() bool { return good.holds(bob, toAna) && bad.holds(bob, toAna) })
	held := good.Held(toAna)
	bob.stop()
	good.stop()
	bad.stop()
	tamperPages(t, bad.st, toAna)

	ana.start()
	evs := recordEvents(ana)
	eventually(t, "Ana sees both mirrors gone", func() bool {
		st := ana.MirrorStatus()
		return len(st) == 2 && st[0].Gone && st[1].Gone && !st[0].Pinning && !st[1].Pinning
	}, mirrorsOf(ana))

	bad.start()
	refused := func(ev Event) bool { return ev.Type == EventMirror && ev.State == "refused" && ev.Peer == bad.id }
	eventually(t, "Ana refuses the tampered mirror", func() bool { return evs.count(refused) > 0 }, mirrorsOf(ana))
	evs.mu.Lock()
	var ev Event
	for _, e := range evs.evs {
		if refused(e) {
			ev = e
		}
	}
	evs.mu.Unlock()
	if !errors.Is(ev.Err, journal.ErrBadProof) || ev.Task != task {
		t.Fatalf("refusal event %+v: want ErrBadProof in task %s", ev, task)
	}
	mi := mirrorInfo(ana, bad.id)
	if len(mi.Refused) != 1 || mi.Refused[0].Book != toAna || mi.Refused[0].Author != bobID || mi.Refused[0].Task != task ||
		!strings.Contains(mi.Refused[0].Reason, "failed verification") || mi.Pinning {
		t.Fatalf("status of the tampered mirror: %+v", mi)
	}
	if js, err := json.Marshal(mi); err != nil || !strings.Contains(string(js), `"reason":"it served a copy that failed verification`) {
		t.Fatalf("the status as JSON (app.mirrors()): %s, %v", js, err)
	}
	if got := ana.chats(task, bobID); len(got) != 0 {
		t.Fatalf("Ana shows %q from the tampered mirror", got)
	}
	eventually(t, "the tampered mirror's session is up again, without that book", func() bool {
		mi := mirrorInfo(ana, bad.id)
		return mi.Online && len(mi.Refused) == 1
	}, mirrorsOf(ana))

	good.start()
	if good.Held(toAna) != held {
		t.Fatal("the good mirror lost pages across its restart")
	}
	eventually(t, "Ana has Bob's messages from the good mirror", func() bool {
		return slices.Equal(ana.chats(task, bobID), want)
	}, state(task, ana), mirrorsOf(ana))
	eventually(t, "Ana pins to the good mirror", func() bool {
		mi := mirrorInfo(ana, good.id)
		return mi.Online && mi.Pinning && mi.Pinned == 1
	}, mirrorsOf(ana))
	if n := evs.count(refused); n != 1 {
		t.Fatalf("the tampered mirror was refused %d times: want once, then not read through for a while", n)
	}
	if n := evs.count(func(ev Event) bool { return ev.Type == EventError }); n != 0 {
		t.Fatalf("%d errors reached Ana: want the mirrors' status only", n)
	}
}

// TestMirrorRestarts: a mirror stopped and started again on its store
// keeps what it held, takes from Bob what he wrote while it was down once
// both are online, and serves it all to Ana though she and Bob are never
// online together. The mirror listed first was never online: it is gone,
// a status only, and skipped.
func TestMirrorRestarts(t *testing.T) {
	url := startRelay(t)
	mir := newMirror(t, url, 8)
	ghost := identity.New(identity.Seed{6, 6}).ID() // a mirror never online
	bob, ana, task := pairWithMirrors(t, url, []identity.ID{ghost, mir.id})
	bobID := bob.ID()
	toAna := bob.db.BookKey(pairName(bobID, ana.ID(), task))
	ana.stop()
	evs := recordEvents(bob)
	eventually(t, "Bob sees the mirror never online gone", func() bool {
		mi := mirrorInfo(bob, ghost)
		return mi.Gone && !mi.Online && !mi.Pinning
	}, mirrorsOf(bob))

	bob.send(task, "before the restart", nil)
	eventually(t, "the mirror holds Bob's first message", func() bool { return mir.holds(bob, toAna) })
	held := mir.Held(toAna)
	mir.stop()
	eventually(t, "Bob sees the mirror offline", func() bool { return !mirrorInfo(bob, mir.id).Online }, mirrorsOf(bob))
	bob.send(task, "while the mirror was down", nil)
	mir.start()
	if n := mir.Held(toAna); n < held {
		t.Fatalf("the mirror holds %d pages after its restart, %d before", n, held)
	}
	eventually(t, "the mirror holds what Bob wrote while it was down", func() bool { return mir.holds(bob, toAna) }, mirrorsOf(bob))
	if n := evs.count(func(ev Event) bool { return ev.Type == EventMirror && ev.State == "online" && ev.Peer == mir.id }); n == 0 {
		t.Fatal("no EventMirror online after the restart")
	}
	if n := evs.count(func(ev Event) bool { return ev.Type == EventError }); n != 0 {
		t.Fatalf("%d errors reached Bob: want the mirrors' status only", n)
	}
	bob.stop()

	ana.start()
	eventually(t, "Ana has both messages from the mirror", func() bool {
		return slices.Equal(ana.chats(task, bobID), []string{"before the restart", "while the mirror was down"})
	}, state(task, ana), mirrorsOf(ana))
}

// TestMirrorPinsToTwo: of three mirrors listed, Bob pins his book to the
// first two of their rank for him (mirrorheld.Rank), whatever the list's
// order; when one of them is gone, the third takes its place; when it is
// back, it is pinned to again.
func TestMirrorPinsToTwo(t *testing.T) {
	url := startRelay(t)
	ms := []*mirrorNode{newMirror(t, url, 7), newMirror(t, url, 8), newMirror(t, url, 9)}
	bob, ana, task := pairWithMirrors(t, url, []identity.ID{ms[0].id, ms[1].id, ms[2].id})
	rank := mirrorheld.Rank(bob.ID(), []identity.ID{ms[0].id, ms[1].id, ms[2].id})
	byID := func(id identity.ID) *mirrorNode {
		return ms[slices.IndexFunc(ms, func(m *mirrorNode) bool { return m.id == id })]
	}
	a, b, c := byID(rank[0]), byID(rank[1]), byID(rank[2])
	toAna := bob.db.BookKey(pairName(bob.ID(), ana.ID(), task))
	bob.send(task, "hello", nil)
	eventually(t, "the first two mirrors hold Bob's book", func() bool { return a.holds(bob, toAna) && b.holds(bob, toAna) }, mirrorsOf(bob))
	eventually(t, "Bob is online with the third", func() bool { return mirrorInfo(bob, c.id).Online }, mirrorsOf(bob))
	if n := c.Held(toAna); n != 0 || mirrorInfo(bob, c.id).Pinning {
		t.Fatalf("the third mirror holds %d pages of Bob's book: %+v", n, bob.MirrorStatus())
	}

	a.stop()
	eventually(t, "the third mirror takes the first's place", func() bool {
		return c.holds(bob, toAna) && mirrorInfo(bob, a.id).Gone && mirrorInfo(bob, c.id).Pinning
	}, mirrorsOf(bob))
	a.start()
	eventually(t, "the first mirror is pinned to again", func() bool {
		ma, mc := mirrorInfo(bob, a.id), mirrorInfo(bob, c.id)
		return ma.Online && ma.Pinning && !mc.Pinning
	}, mirrorsOf(bob))
	bob.send(task, "again", nil)
	eventually(t, "the first two mirrors hold the new message", func() bool { return a.holds(bob, toAna) && b.holds(bob, toAna) }, mirrorsOf(bob))
}

// linkedDevice is newDevice with mirrors: a device of person's, linked
// natively, using mirrors.
func linkedDevice(t testing.TB, url string, person *node, name string, n byte, mirrors []identity.ID) *node {
	t.Helper()
	var seed identity.Seed
	for i := range seed {
		seed[i] = n
	}
	d := &node{t: t, name: name, url: url, seed: seed, st: store.NewMemory(), mirrors: mirrors}
	cert, err := person.SignDevice(identity.New(seed).ID(), name)
	if err != nil {
		t.Fatal(err)
	}
	if d.link, err = person.Link(testCtx(t), cert); err != nil {
		t.Fatal(err)
	}
	d.device = &Self{Cert: cert}
	d.start()
	t.Cleanup(d.stop)
	return d
}

// onMirror reports whether mirror mir holds every page of every book n
// pins.
func onMirror(mir *mirror.Mirror, n *node) bool {
	for _, b := range n.pinned() {
		if mir.Held(b.Key()) != b.Len() {
			return false
		}
	}
	return true
}

// TestMirrorDevices: Bob's phone, linked and then offline, comes online
// while Bob's laptop and Ana are offline: it reads what both wrote
// meanwhile from the mirror, as a device of Bob. The laptop revokes the
// phone and tells the mirror: the phone, back without knowing it, has
// its new page refused by the mirror, saying why, and is served nothing.
func TestMirrorDevices(t *testing.T) {
	url := startRelay(t)
	mir := startMirror(t, url, mirror.Config{})
	mirrors := []identity.ID{mir.ID()}
	bob, ana, task := mirrorPair(t, url, mirrors, "Devices on a mirror", nil)
	phone := linkedDevice(t, url, bob, "phone", 7, mirrors)
	bobID, anaID, phoneID := bob.ID(), ana.ID(), phone.ID()
	bob.send(task.ID, "before", nil)
	eventually(t, "the phone has Bob's first message", func() bool { return phone.hasChat(task.ID, bobID, "before") }, state(task.ID, phone))
	phone.stop()

	bob.send(task.ID, "while the phone was off", nil)
	ana.send(task.ID, "ana too", nil)
	eventually(t, "the mirror holds Bob's and Ana's books", func() bool { return onMirror(mir, bob) && onMirror(mir, ana) }, mirrorsOf(bob))
	bob.stop()
	ana.stop()
	phone.start()
	eventually(t, "the phone has both messages from the mirror", func() bool {
		return phone.hasChat(task.ID, bobID, "while the phone was off") && phone.hasChat(task.ID, anaID, "ana too")
	}, state(task.ID, phone))
	phone.stop()

	bob.start()
	eventually(t, "Bob's laptop on the mirror", func() bool { return mirrorInfo(bob, mir.ID()).Online }, mirrorsOf(bob))
	if err := bob.RevokeDevice(testCtx(t), phoneID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mirror takes the revocation", func() bool { return mir.Revoked(phoneID) }, mirrorsOf(bob))
	bob.send(task.ID, "after the revocation", nil)
	eventually(t, "the mirror holds Bob's books", func() bool { return onMirror(mir, bob) }, mirrorsOf(bob))
	bob.stop()

	phone.start()
	evs := recordEvents(phone)
	phone.send(task.ID, "the phone after", nil) // it does not know it was revoked
	eventually(t, "the mirror refuses the phone's page", func() bool {
		return evs.count(func(ev Event) bool {
			return ev.Type == EventMirror && ev.Err != nil && strings.Contains(ev.Err.Error(), mirror.ErrRevoked.Error())
		}) > 0
	}, mirrorsOf(phone))
	if onMirror(mir, phone) {
		t.Fatal("the mirror took the revoked phone's page")
	}
	if phone.hasChat(task.ID, bobID, "after the revocation") {
		t.Fatal("the mirror served the revoked phone")
	}
	if s := mir.Stats(); s.Revocations != 1 || s.Refused == 0 {
		t.Fatalf("mirror stats %+v", s)
	}
}
