package room

import (
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

// TestSessionSharesBlobBooks: a session with a member shares this
// profile's blob books (files) of the tasks they share, found in the
// session's one pass over the books as it starts and opened in its one
// request for the books' records: a profile of 20 tasks shared with the
// peer, three with files, makes one request before the hello (the room
// opened each task's blob book by its key before the session, a request
// per task in turn). The blob book of a task the peer is not in stays
// home.
func TestSessionSharesBlobBooks(t *testing.T) {
	ctx := testCtx(t)
	seed := identity.Seed{0x44}
	base := manyTasksStore(t, seed, 20, 1)
	m := openOn(t, base, seed)
	var blobs []identity.ID
	for _, info := range m.Tasks()[:3] {
		b, err := m.db.Author(ctx, blobName(m.self, info.ID), nil)
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b.Key())
	}
	alone, err := m.CreateTask(ctx, "not shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	private, err := m.db.Author(ctx, blobName(m.self, alone.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	st := &storetest.Gets{Store: base, Table: store.TableBooks}
	m = openOn(t, st, seed)
	defer m.Close()
	if _, err := m.db.Catalog(ctx); err != nil { // read as the room opened
		t.Fatal(err)
	}
	peerSeed := identity.Seed{0xee, 0} // the member of every task of manyTasksStore
	peer := identity.New(peerSeed).ID()
	a, b := port.Pipe(m.self, peer, 64)
	defer a.Close()
	defer b.Close()
	m.mu.Lock()
	cfg := m.syncConfigLocked(peer)
	m.mu.Unlock()
	var once sync.Once
	atHello := make(chan int64, 1)
	before := st.N()
	cfg.OnEvent = func(ev replication.Event) {
		if ev.Send && ev.Type == replication.TypeHello {
			once.Do(func() { atHello <- st.N() - before })
		}
	}
	go replication.NewSession(m.db, a, cfg).Run(ctx)
	peerDB, err := journal.Open(ctx, store.NewMemory(), peerSeed, nil)
	if err != nil {
		t.Fatal(err)
	}
	go replication.NewSession(peerDB, b, replication.Config{}).Run(ctx)
	if n := <-atHello; n != 1 {
		t.Fatalf("the session made %d requests for book records before its hello, want 1", n)
	}
	for _, key := range blobs {
		eventually(t, "a blob book at the member", func() bool { _, err := peerDB.Get(ctx, key); return err == nil })
	}
	if _, err := peerDB.Get(ctx, private.Key()); err == nil {
		t.Fatal("the blob book of a task the peer is not in was shared")
	}
}
