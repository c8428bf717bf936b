package journal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
)

// TestPreview: pages pushed with a signed head are told to the Verified
// hooks as they arrive when they verify against that head, and never when
// the head's signature, the pages or the proof are wrong; nothing is
// stored until they are (AcceptHeadPages), which still checks them all.
func TestPreview(t *testing.T) {
	_, bob, book, rep, push := pushedBook(t)
	up, ps, proof := push(0)
	if told, err := rep.Preview(up, 0, ps, proof); told || err != nil {
		t.Fatalf("no hook: previewed %v, %v", told, err)
	}
	var told []journal.Event
	cancel := bob.Verified(func(ev journal.Event) { told = append(told, ev) })
	defer cancel()
	if told, _ := rep.Preview(up, 0, ps, proof); told {
		t.Fatal("a genesis previewed")
	}
	if _, err := rep.AcceptHeadPages(ctx, up, 0, ps, proof); err != nil {
		t.Fatal(err)
	}
	told = nil
	if _, err := book.Append(ctx, pages(3, 64, "p")...); err != nil {
		t.Fatal(err)
	}
	up, ps, proof = push(1)

	forged := append([][]byte{[]byte("forged")}, ps[1:]...)
	badSig := *up
	badSig.Head.Sig = bytes.Clone(up.Head.Sig)
	badSig.Head.Sig[0] ^= 1
	otherRoot := *up
	otherRoot.Head.Root[0] ^= 1
	for name, c := range map[string]struct {
		up    *journal.Upgrade
		start uint64
		pages [][]byte
	}{
		"forged page":              {up, 1, forged},
		"bad signature":            {&badSig, 1, ps},
		"another root":             {&otherRoot, 1, ps},
		"pages at the wrong start": {up, 2, ps},
	} {
		if told, err := rep.Preview(c.up, c.start, c.pages, proof); told || err == nil {
			t.Errorf("%s: previewed %v, %v", name, told, err)
		}
	}
	if len(told) != 0 {
		t.Fatalf("hooks told of %d bad pushes", len(told))
	}

	if told, err := rep.Preview(up, 1, ps, proof); !told || err != nil {
		t.Fatalf("a good push was not previewed: %v", err)
	}
	if len(told) != 1 || told[0].Index != 1 || len(told[0].Pages) != 3 || told[0].Book != book.Key() || told[0].Type != journal.EventPut {
		t.Fatalf("told %+v", told)
	}
	if rep.Len() != 1 {
		t.Fatalf("a preview moved the replica to %d", rep.Len())
	}
	// The head verified for the preview is not taken on its word: the
	// same head with another signature still fails when stored.
	if _, err := rep.AcceptHeadPages(ctx, &badSig, 1, ps, proof); !errors.Is(err, journal.ErrBadSignature) {
		t.Fatalf("a bad signature after a preview of the good one: %v", err)
	}
	if _, err := rep.AcceptHeadPages(ctx, up, 1, ps, proof); err != nil {
		t.Fatal(err)
	}
	if rep.Len() != 4 || len(told) != 2 {
		t.Fatalf("stored: length %d, told %d times", rep.Len(), len(told))
	}
}
