package report

import (
	"bytes"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// TestFitOpens: the reporter asks Open about sealed pages only (never the
// genesis, never a plain page), sends nil where it cannot open, and cuts
// a frame where pages and plaintexts reach MaxPageBytes.
func TestFitOpens(t *testing.T) {
	book := testID(3)
	key, err := seal.BookKey(bytes.Repeat([]byte{7}, seal.KeySize), 0, book)
	if err != nil {
		t.Fatal(err)
	}
	sealAt := func(i uint64, plain []byte) []byte {
		p, err := key.Seal(i, plain)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var asked []uint64
	open := func(b identity.ID, i uint64, page []byte) []byte {
		asked = append(asked, i)
		if b != book {
			return nil
		}
		pt, err := key.Open(i, page)
		if err != nil {
			return nil
		}
		return pt
	}
	s := &session{r: &Reporter{cfg: Config{Open: open}}}
	genesis := append([]byte{seal.Version}, make([]byte, seal.Overhead)...) // looks sealed: never asked
	pages := [][]byte{genesis, sealAt(1, []byte("one")), []byte(`{"plain":true}`), sealAt(99, []byte("wrong index")), sealAt(4, []byte("four"))}
	n, plain := s.fit(book, 0, pages)
	if n != len(pages) || len(plain) != len(pages) {
		t.Fatalf("%d pages fit, %d plaintexts", n, len(plain))
	}
	want := []string{"", "one", "", "", "four"}
	for i, pt := range plain {
		if string(pt) != want[i] || (want[i] == "") != (pt == nil) {
			t.Errorf("plaintext of page %d: %q", i, pt)
		}
	}
	if !slices.Equal(asked, []uint64{1, 3, 4}) {
		t.Errorf("asked about pages %v, want the sealed ones past the genesis", asked)
	}
	if _, err := Encode(&Frame{Type: TypeBook, Body: &Book{Key: book, Event: "put", Head: []byte{1}, Pages: pages, Plain: plain}}); err != nil {
		t.Fatalf("the frame: %v", err)
	}

	// Four sealed pages of MaxPageSize: a page and its plaintext fill a
	// frame, so one page per frame.
	big := make([]byte, journal.MaxPageSize-seal.Overhead)
	var bigs [][]byte
	for i := range uint64(4) {
		bigs = append(bigs, sealAt(10+i, big))
	}
	if n, plain := s.fit(book, 10, bigs); n != 1 || len(plain) != 1 || len(plain[0]) != len(big) {
		t.Fatalf("%d pages of MaxPageSize fit with their plaintexts, %d plaintexts", n, len(plain))
	}
	s.r.cfg.Open = nil
	if n, plain := s.fit(book, 10, bigs); n != 2 || plain != nil {
		t.Fatalf("with no hook: %d pages fit, plaintexts %v", n, plain != nil)
	}
	if n, plain := s.fit(book, 0, nil); n != 0 || plain != nil {
		t.Fatalf("no pages: %d, %v", n, plain)
	}
}
