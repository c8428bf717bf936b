package replication_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// FuzzDecode feeds the message decoder arbitrary bytes: it must never
// panic, must refuse anything over its bounds, and what it accepts must
// survive a re-encoding.
func FuzzDecode(f *testing.F) {
	ana, bob := openDB(f, 1), openDB(f, 2)
	book, rep := bookFor(f, ana, bob, "fz")
	book.Append(ctx, []byte("a"), []byte("b"), []byte("c"))
	// A fork of it, as a reader keeps it, for a forked message.
	ana2, err := journal.Open(ctx, newStore(f), ana.Identity().Seed(), nil)
	if err != nil {
		f.Fatal(err)
	}
	forked, _ := ana2.Author(ctx, book.Name(), nil)
	forked.Append(ctx, []byte("x"), []byte("y"), []byte("z"))
	if _, err := rep.AcceptHead(ctx, &have(f, book, 0, false).Upgrade); err != nil {
		f.Fatal(err)
	}
	if _, err := rep.AcceptHead(ctx, &have(f, forked, book.Len(), false).Upgrade); !errors.Is(err, journal.ErrForked) || rep.Fork() == nil {
		f.Fatalf("fork: %v", err)
	}
	seeds := []struct {
		t    replication.Type
		body any
	}{
		{replication.TypeHello, &replication.Hello{Full: true, Books: []replication.HelloBook{{Prefix: make([]byte, 8), Length: 3}}}},
		{replication.TypeHave, have(f, book, 1, true)},
		{replication.TypeHave, have(f, book, 0, false)},
		{replication.TypeWant, &replication.Want{Key: book.Key().Bytes(), Ranges: []journal.Range{{Start: 0, End: 4}}}},
		{replication.TypeData, data(f, book, 1, 3, 4)},
		{replication.TypeBye, &replication.Bye{Reason: "bye"}},
		{replication.TypeForked, &replication.Forked{Key: book.Key().Bytes(), Fork: *rep.Fork()}},
		{replication.TypePreview, &replication.Preview{Upgrade: journal.Upgrade{Head: book.Head(), From: 1}, Push: data(f, book, 1, 4, 4)}},
	}
	offered := &replication.Hello{Full: true, Books: []replication.HelloBook{{Prefix: make([]byte, 8), Length: 3}}}
	offered.AddOffer(replication.Offer{Versions: 3, Caps: replication.CapServe})
	seeds = append(seeds, struct {
		t    replication.Type
		body any
	}{replication.TypeHello, offered})
	for _, s := range seeds {
		for v := uint(1); v <= replication.Version; v++ {
			msg, err := replication.EncodeVersion(v, s.t, s.body)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(msg)
		}
	}
	// Offers refused: two, in a later hello, of no version; a version 3.
	twice := &replication.Hello{Full: true}
	twice.AddOffer(replication.Offer{Versions: 3})
	twice.AddOffer(replication.Offer{Versions: 3})
	later := &replication.Hello{}
	later.AddOffer(replication.Offer{Versions: 3})
	none := &replication.Hello{Full: true}
	none.AddOffer(replication.Offer{Caps: replication.CapServe})
	for _, h := range []*replication.Hello{twice, later, none} {
		msg, _ := replication.Encode(replication.TypeHello, h)
		if _, err := replication.Decode(msg); err == nil {
			f.Fatalf("accepted a hello with a bad offer: %x", msg)
		}
		f.Add(msg)
	}
	v3, _ := replication.EncodeVersion(3, replication.TypeBye, &replication.Bye{})
	f.Add(v3)
	// Nulls where allowed (a hello's books, a have's push) and where not.
	for _, h := range []string{"83010182f5f6", "83010182f680", "830105f6", "83010581f6", "83010182f5f7", "83010381f6"} {
		f.Add(cb(h))
	}
	f.Add([]byte{})
	f.Add([]byte{0x83, 0x01, 0x04, 0x40})
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, m, err := replication.DecodeVersion(msg)
		if err != nil {
			return
		}
		if v < 1 || v > replication.Version {
			t.Fatalf("accepted version %d", v)
		}
		var typ replication.Type
		switch m := m.(type) {
		case *replication.Hello:
			typ = replication.TypeHello
			for _, b := range m.Books {
				if len(b.Prefix) != replication.PrefixSize {
					t.Fatalf("accepted a prefix of %d bytes", len(b.Prefix))
				}
			}
		case *replication.Have:
			typ = replication.TypeHave
		case *replication.Want:
			typ = replication.TypeWant
			if len(m.Ranges) == 0 || len(m.Ranges) > replication.MaxWantRanges {
				t.Fatalf("accepted %d ranges", len(m.Ranges))
			}
		case *replication.Data:
			typ = replication.TypeData
			if len(m.Pages) == 0 || len(m.Pages) > replication.MaxDataPages || m.Proof.Size() > journal.MaxProofHashes {
				t.Fatalf("accepted %d pages, %d hashes", len(m.Pages), m.Proof.Size())
			}
		case *replication.Preview:
			typ = replication.TypePreview
			if v < 3 || m.Push == nil || len(m.Push.Pages) == 0 || m.Push.Start != m.Upgrade.From || m.Push.Start+uint64(len(m.Push.Pages)) != m.Upgrade.Head.Length {
				t.Fatalf("accepted a preview of version %d: %+v", v, m)
			}
		case *replication.Bye:
			typ = replication.TypeBye
		case *replication.Forked:
			typ = replication.TypeForked
			if m.Fork.Verify() != nil {
				t.Fatal("accepted evidence that does not verify")
			}
		default:
			t.Fatalf("Decode returned %T", m)
		}
		again, err := replication.EncodeVersion(v, typ, m)
		if err != nil {
			t.Fatalf("re-encoding an accepted %s: %v", typ, err)
		}
		m2, err := replication.Decode(again)
		if err != nil {
			t.Fatalf("decoding a re-encoded %s: %v", typ, err)
		}
		again2, _ := replication.EncodeVersion(v, typ, m2)
		if !bytes.Equal(again, again2) {
			t.Fatalf("%s does not round-trip", typ)
		}
	})
}
