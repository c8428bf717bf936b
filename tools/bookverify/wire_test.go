package bookverify_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/tools/bookverify"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// recorder keeps every message a port receives.
type recorder struct {
	port.Port
	mu   sync.Mutex
	recv [][]byte
}

func (r *recorder) Recv(ctx context.Context) ([]byte, error) {
	m, err := r.Port.Recv(ctx)
	if err == nil {
		r.mu.Lock()
		r.recv = append(r.recv, bytes.Clone(m))
		r.mu.Unlock()
	}
	return m, err
}

func (r *recorder) messages() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.recv...)
}

// TestWireFromDocs: what a real author sends a real reader parses and
// verifies with the verifier written from docs/format.md, and follows its
// push rules: an announcement of a long book pushes only the genesis page
// (proven against the whole head), a short book and small appends are
// pushed whole, everything else is pulled with want and sent as data.
func TestWireFromDocs(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	long, _ := ana.Author(ctx, ana.ID().String()+"-"+bob.ID().String()+"-long", nil)
	for i := range 40 {
		long.Append(ctx, bytes.Repeat([]byte{byte(i)}, 100))
	}
	short, _ := ana.Author(ctx, ana.ID().String()+"-"+bob.ID().String()+"-short", []byte(`{"task":"t"}`))
	short.Append(ctx, textPages(5, "s")...)

	pa, pb := port.Pipe(ana.ID(), bob.ID(), 64)
	toBob := &recorder{Port: pb}
	toAna := &recorder{Port: pa}
	sa := replication.NewSession(ana, toAna, replication.Config{Previews: true})
	sb := replication.NewSession(bob, toBob, replication.Config{})
	c, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sa.Run(c); pa.Close() }()
	go func() { defer wg.Done(); sb.Run(c); pb.Close() }()
	defer func() { cancel(); wg.Wait() }()

	waitHolds(t, bob, long.Key(), long.Len())
	waitHolds(t, bob, short.Key(), short.Len())
	short.Append(ctx, textPages(3, "later")...)
	waitHolds(t, bob, short.Key(), short.Len())

	// The reader's view, rebuilt from the messages alone.
	heads := map[[32]byte]*bookverify.Head{}
	byLength := map[[32]byte]map[uint64]*bookverify.Head{}
	pushes := map[[32]byte][][2]uint64{}
	var datas, wants, previews int
	for i, msg := range toBob.messages() {
		m, err := bookverify.ParseMessage(msg)
		if err != nil {
			t.Fatalf("message %d to Bob (%x): %v", i, msg, err)
		}
		switch m.Type {
		case bookverify.TypeHello:
		case bookverify.TypeHave:
			u := m.Upgrade
			key := u.Head.Key
			prev := heads[key]
			if u.From == 0 && prev != nil {
				// The author may announce a book again from 0 (its first
				// have can cross the reader's hello, which it answers):
				// a head on its own, which must agree with the one held.
				prev = nil
				if old := heads[key]; u.Head.Length == old.Length && u.Head.Root != old.Root {
					t.Fatalf("have %d of book %x: two heads of length %d", i, key[:4], old.Length)
				}
			}
			if prev != nil && u.From != 0 && u.From < prev.Length {
				// An upgrade from a length the reader held before (it told
				// the author its length again: a source overtook another):
				// checked against the head it had then.
				if older := byLength[key][u.From]; older != nil {
					prev = older
				}
			}
			if err := bookverify.VerifyUpgrade(prev, u); err != nil {
				t.Fatalf("have %d of book %x: %v", i, key[:4], err)
			}
			if old := heads[key]; old == nil || u.Head.Length >= old.Length {
				heads[key] = u.Head
			}
			if byLength[key] == nil {
				byLength[key] = map[uint64]*bookverify.Head{}
			}
			byLength[key][u.Head.Length] = u.Head
			if p := m.Push; p != nil {
				if err := bookverify.VerifyRange(u.Head, p.Start, p.Pages, p.Proof); err != nil {
					t.Fatalf("push %d: %v", i, err)
				}
				if p.Start == 0 {
					if _, err := bookverify.VerifyGenesis(u.Head, p.Pages[0]); err != nil {
						t.Fatalf("pushed genesis: %v", err)
					}
				}
				if r := [2]uint64{p.Start, p.Start + uint64(len(p.Pages))}; !slices.Contains(pushes[key], r) {
					pushes[key] = append(pushes[key], r) // (an announcement sent again pushes the same pages)
				}
			}
		case bookverify.TypePreview:
			// Pages being written: checked, not held (the have follows).
			if err := bookverify.VerifyRange(m.Upgrade.Head, m.Push.Start, m.Push.Pages, m.Push.Proof); err != nil {
				t.Fatalf("preview %d: %v", i, err)
			}
			previews++
		case bookverify.TypeData:
			d := m.Data
			h := byLength[d.Key][d.Length]
			if h == nil {
				t.Fatalf("data %d against a head of length %d never sent", i, d.Length)
			}
			if err := bookverify.VerifyRange(h, d.Start, d.Pages, d.Proof); err != nil {
				t.Fatalf("data %d: %v", i, err)
			}
			datas++
		default:
			t.Fatalf("message %d to Bob of type %d", i, m.Type)
		}
	}
	for i, msg := range toAna.messages() {
		m, err := bookverify.ParseMessage(msg)
		if err != nil {
			t.Fatalf("message %d to Ana (%x): %v", i, msg, err)
		}
		if m.Type == bookverify.TypeWant {
			wants++
			if m.Key != long.Key() {
				t.Errorf("want of book %x: the short book is pushed whole", m.Key[:4])
			}
		}
	}
	if got := pushes[long.Key()]; len(got) != 1 || got[0] != [2]uint64{0, 1} {
		t.Errorf("pushes of the 41-page book: %v, want only its genesis [0, 1)", got)
	}
	if got := pushes[short.Key()]; len(got) != 2 || got[0] != [2]uint64{0, 6} || got[1] != [2]uint64{6, 9} {
		t.Errorf("pushes of the short book: %v, want [0, 6) then [6, 9)", got)
	}
	if previews == 0 {
		t.Errorf("no preview of the appends")
	}
	if datas == 0 || wants == 0 {
		t.Errorf("%d wants, %d data messages: the long book is pulled", wants, datas)
	}
}

// waitHolds waits until db holds pages [0, n) of book key.
func waitHolds(t *testing.T, db *journal.DB, key [32]byte, n uint64) {
	t.Helper()
	changed := make(chan struct{}, 1)
	defer db.Subscribe(func(journal.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for {
		if b, err := db.Get(ctx, key); err == nil {
			if h := b.Have(); b.Len() >= n && len(h) == 1 && h[0].Start == 0 && h[0].End >= n {
				return
			}
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %d pages of book %x", n, key[:4])
		}
	}
}

// FuzzParseMessage: the verifier never panics, and accepts no message the
// project's decoder refuses.
func FuzzParseMessage(f *testing.F) {
	ana, bob := openDB(f, 1), openDB(f, 2)
	b, _ := ana.Author(ctx, ana.ID().String()+"-"+bob.ID().String()+"-f", nil)
	b.Append(ctx, textPages(4, "f")...)
	up, _ := b.MakeUpgrade(ctx, 2)
	pages, _ := b.GetRange(ctx, 2, 5)
	proof, _ := b.RangeProof(ctx, 2, 5, 5)
	data := &replication.Data{Key: b.Key().Bytes(), Start: 2, Length: 5, Pages: pages, Proof: *proof}
	for _, m := range []struct {
		t    replication.Type
		body any
	}{
		{replication.TypeHello, &replication.Hello{Full: true}},
		{replication.TypeHello, &replication.Hello{Books: []replication.HelloBook{{Prefix: make([]byte, 8), Length: 3}}}},
		{replication.TypeHave, &replication.Have{Upgrade: *up}},
		{replication.TypeHave, &replication.Have{Upgrade: *up, Push: data}},
		{replication.TypeWant, &replication.Want{Key: b.Key().Bytes(), Ranges: []journal.Range{{Start: 1, End: 3}}}},
		{replication.TypeData, data},
		{replication.TypeBye, &replication.Bye{Reason: "done"}},
		{replication.TypePreview, &replication.Preview{Upgrade: journal.Upgrade{Head: up.Head, From: 2}, Push: data}},
	} {
		for _, v := range []uint{1, replication.Version} {
			msg, err := replication.EncodeVersion(v, m.t, m.body)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(msg)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if _, err := bookverify.ParseMessage(msg); err != nil {
			return
		}
		if _, err := replication.Decode(msg); err != nil {
			t.Fatalf("the verifier accepts %x, the project refuses it: %v", msg, err)
		}
	})
}
