package devtools

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/seal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// FuzzIngest feeds the server's frame decoder and ingestion lines of
// frames (one per line, as one connection would send them) and checks it
// never panics and every view of what it kept still builds.
func FuzzIngest(f *testing.F) {
	ctx := context.Background()
	var seed identity.Seed
	seed[0] = 1
	db, err := journal.Open(ctx, store.NewMemory(), seed, nil)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := db.Author(ctx, "notes", nil)
	b.Append(ctx, []byte(`{"head":["x","",1],"refs":{},"type":"chat","meta":{"date":1,"clock":1}}`), []byte("two"), []byte("three"))
	h := b.Head()
	head, _ := journal.Marshal(h)
	frame := func(t report.Type, body any) []byte {
		out, err := report.Encode(&report.Frame{Type: t, At: 1, Body: body})
		if err != nil {
			f.Fatal(err)
		}
		return out
	}
	pagesFrame := func(start, end uint64) []byte {
		pages, _ := b.GetRange(ctx, start, end)
		proof, _ := b.RangeProof(ctx, start, end, h.Length)
		pb, _ := journal.Marshal(proof)
		return frame(report.TypeBook, &report.Book{Key: b.Key(), Event: "append", Writable: true, Head: head, Start: start, Pages: pages, Proof: pb})
	}
	up, _ := b.MakeUpgrade(ctx, 2)
	upb, _ := journal.Marshal(up)
	genesis, _ := b.Get(ctx, 0)
	peer := db.ID()
	lines := [][]byte{
		frame(report.TypeBooks, &report.Books{Books: []report.BookInfo{{Key: b.Key(), Name: "notes", Author: peer, Writable: true, Head: head, Have: []report.Span{{0, 4}}, Genesis: genesis}}}),
		pagesFrame(0, 2),
		pagesFrame(2, 4),
		frame(report.TypeBook, &report.Book{Key: b.Key(), Event: "head", Head: head, Upgrade: upb}),
		frame(report.TypeBook, &report.Book{Key: b.Key(), Event: "put", Head: head, Start: 1, Pages: [][]byte{[]byte("x"), []byte("two")}}),
		frame(report.TypeSync, &report.Sync{Peer: peer, Send: true, Type: "have", Book: b.Key(), Start: 1, End: 4, Bytes: 300}),
		frame(report.TypePort, &report.Port{Peer: peer, Open: true, Transport: "webrtc"}),
		frame(report.TypeApp, &report.App{Peer: peer, Type: "join", Bytes: 10}),
		frame(report.TypeError, &report.Error{Text: "boom"}),
		frame(report.TypeDropped, &report.Dropped{Count: 1, Total: 2}),
		frame(report.TypeResult, &report.Result{ID: 7, Error: "no"}),
	}
	lines = append(lines, sealedFrames(f, db)...)
	f.Add(bytes.Join(lines, []byte("\n")))
	for _, l := range lines {
		f.Add(l)
	}
	f.Add([]byte(`{"v":2,"type":"book","body":{"key":"` + b.Key().String() + `","event":"put","head":"AA==","start":5,"pages":["AA=="]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetainPages: 3, RetainEvents: 3})
		done := make(chan struct{})
		c := &conn{s: s, id: peer, log: s.log, cancel: func(error) {}, done: done, pending: make(map[uint64]chan *report.Result)}
		if _, err := s.connected(c, &report.Hello{ID: peer}, 0); err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(in, []byte("\n")) {
			fr, err := report.Decode(line)
			if err != nil {
				continue
			}
			s.ingest(c, fr)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.peers {
			s.peerView(p)
		}
		for _, bk := range s.books {
			d := s.bookDetail(bk)
			if d.Length != bk.cur.Length || uint64(bk.tree.n) > journal.MaxLength {
				t.Fatalf("book %+v", d)
			}
			if bk.pages.Len() > 3 {
				t.Fatalf("%d pages kept, cap 3", bk.pages.Len())
			}
			bk.pages.Scan(func(i uint64, pg *page) bool {
				pageView(bk.author, pg)
				bk.proof(i)
				return true
			})
			if bk.tree.n > 0 {
				if _, err := bk.proof(uint64(bk.tree.n) - 1); err != nil {
					t.Fatalf("no proof of the last page of the verified tree: %v", err)
				}
			}
		}
		s.timeline(filter{}, 0)
	})
}

// sealedFrames are the frames of a book with a sealed page, reported with
// its plaintext (then by a reader, with another).
func sealedFrames(f *testing.F, db *journal.DB) [][]byte {
	ctx := context.Background()
	b, _ := db.Author(ctx, "sealed", nil)
	k, err := seal.BookKey(bytes.Repeat([]byte{1}, seal.KeySize), 0, b.Key())
	if err != nil {
		f.Fatal(err)
	}
	plain := []byte(`{"head":["x","",1],"refs":{},"type":"chat","data":{"text":"hi"},"meta":{"date":1,"clock":1}}`)
	sealed, _ := k.Seal(1, plain)
	b.Append(ctx, sealed, []byte("not sealed"))
	head, _ := journal.Marshal(b.Head())
	pages, _ := b.GetRange(ctx, 0, 3)
	proof, _ := b.RangeProof(ctx, 0, 3, 3)
	pb, _ := journal.Marshal(proof)
	var out [][]byte
	for _, body := range []*report.Book{
		{Key: b.Key(), Event: "append", Writable: true, Head: head, Pages: pages, Plain: [][]byte{nil, plain, nil}, Proof: pb},
		{Key: b.Key(), Event: "put", Head: head, Start: 1, Pages: pages[1:], Plain: [][]byte{[]byte("{}"), []byte("x")}},
	} {
		line, err := report.Encode(&report.Frame{Type: report.TypeBook, At: 1, Body: body})
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, line)
	}
	return out
}
