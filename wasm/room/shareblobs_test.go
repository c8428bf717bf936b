package room

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

// TestShareBlobsReadsNothing: before a session with a peer starts, the
// room looks up its blob books of the tasks shared with that peer; for
// 200 tasks without files it makes no request (it opened each blob book
// by its key, a request per task in turn, before the session started).
func TestShareBlobsReadsNothing(t *testing.T) {
	seed := identity.Seed{0x43}
	st := &storetest.Gets{Store: manyTasksStore(t, seed, 200, 1), Table: store.TableBooks}
	m := openOn(t, st, seed)
	defer m.Close()
	if _, err := m.db.Catalog(testCtx(t)); err != nil { // read as the room opened
		t.Fatal(err)
	}
	peer := identity.New(identity.Seed{0xee, 0}).ID()
	a, _ := port.Pipe(m.self, peer, 1)
	defer a.Close()
	before := st.N()
	m.shareBlobs(testCtx(t), peer, replication.NewSession(m.db, a, replication.Config{}))
	if n := st.N() - before; n != 0 {
		t.Fatalf("sharing the blob books of 200 tasks without files made %d requests for book records", n)
	}
}

// TestShareBlobsOneRequest: the blob books of three tasks with files are
// opened with one request for their records, not one each.
func TestShareBlobsOneRequest(t *testing.T) {
	seed := identity.Seed{0x44}
	base := manyTasksStore(t, seed, 20, 1)
	m := openOn(t, base, seed)
	for _, info := range m.Tasks()[:3] {
		if _, err := m.db.Author(testCtx(t), blobName(m.self, info.ID), nil); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	st := &storetest.Gets{Store: base, Table: store.TableBooks}
	m = openOn(t, st, seed)
	defer m.Close()
	if _, err := m.db.Catalog(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	peer := identity.New(identity.Seed{0xee, 0}).ID()
	a, _ := port.Pipe(m.self, peer, 1)
	defer a.Close()
	before := st.N()
	m.shareBlobs(testCtx(t), peer, replication.NewSession(m.db, a, replication.Config{}))
	if n := st.N() - before; n != 1 {
		t.Fatalf("sharing the blob books of 3 tasks with files made %d requests for book records, want 1", n)
	}
}
