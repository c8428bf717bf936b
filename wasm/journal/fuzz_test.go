package journal_test

// Fuzz tests of the decoders that read bytes from peers: heads, genesis
// pages, range proofs and fork evidence.
//
// The oracles do not trust the code under test: signatures are checked with
// crypto/ed25519 over messages built here from the format's description, and
// every head, page and proof the fuzzer could not forge (those of the
// fixture's book key) is checked against the histories the fixture wrote.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// fzHistory is one sequence of pages written under the fixture's book key,
// with the head signed at each length (heads[n-1] has length n).
type fzHistory struct {
	label string
	pages [][]byte
	heads []journal.Head
}

// fzRange is a range proof the author served: pages [start, end) in the
// tree of size n of history A.
type fzRange struct {
	n, start, end uint64
	proof         journal.RangeProof
}

type fzFixture struct {
	author identity.ID // the profile that authors the book (and the audit book)
	key    identity.ID // the book key
	a, b   *fzHistory  // two conflicting histories of the book, sharing page 0
	// known maps (length, root) of each head signed by key to its history:
	// "A", "B", or "AB" for the head both share.
	known map[fzHeadID]string
	sigs  map[fzHeadID][]byte

	ranges []fzRange

	audit    journal.Head // a head of another book (the audit book)
	forks    []journal.Fork
	geneses  [][]byte // real genesis pages, all by author
	signedGs map[string]bool
}

type fzHeadID struct {
	length uint64
	root   journal.Hash
}

func fzGenesisID(key identity.ID, name string, meta []byte) string {
	return fmt.Sprintf("%x|%q|%x", key[:], name, meta)
}

var fzSetup = sync.OnceValues(fzBuild)

func fzFix(tb testing.TB) *fzFixture {
	tb.Helper()
	fx, err := fzSetup()
	if err != nil {
		tb.Fatalf("fuzz fixture: %v", err)
	}
	return fx
}

const (
	fzBookName = "fuzz book ✓"
	fzLenA     = 11 // pages in history A
	fzLenB     = 7  // pages in history B
	fzForkAt   = 3  // the replica holds A's head of this length when B's arrives
)

func fzPage(history string, i int) []byte {
	switch {
	case i == 4:
		return []byte{} // an empty page
	case i == 7:
		return bytes.Repeat([]byte(history+"7"), 150) // a longer one
	}
	return fmt.Appendf(nil, "%s page %d", history, i)
}

// fzBuild writes the fixture: a profile authoring a book in two stores
// (so the same book key signs two conflicting histories), a replica that
// records the fork, and a few more books for genesis pages. Everything is
// deterministic, so the seed corpus is the same on every run.
func fzBuild() (*fzFixture, error) {
	ctx := context.Background()
	// Deterministic heads: the two stores' histories share their first
	// head byte for byte, and the fixture is the same in every run.
	opts := &journal.Options{Now: func() time.Time { return time.Unix(1700000000, 0) }, DeterministicHeads: true}
	seed := identity.Seed{0xf0, 0x22}
	dbA, err := journal.Open(ctx, store.NewMemory(), seed, opts)
	if err != nil {
		return nil, err
	}
	dbB, err := journal.Open(ctx, store.NewMemory(), seed, opts)
	if err != nil {
		return nil, err
	}
	dbR, err := journal.Open(ctx, store.NewMemory(), identity.Seed{0x0e}, opts)
	if err != nil {
		return nil, err
	}
	meta := []byte("room protocol, first page")
	bookA, err := dbA.Author(ctx, fzBookName, meta)
	if err != nil {
		return nil, err
	}
	bookB, err := dbB.Author(ctx, fzBookName, meta)
	if err != nil {
		return nil, err
	}
	if bookA.Key() != bookB.Key() {
		return nil, errors.New("the two stores derive different book keys")
	}
	fx := &fzFixture{
		author:   dbA.ID(),
		key:      bookA.Key(),
		a:        &fzHistory{label: "A"},
		b:        &fzHistory{label: "B"},
		known:    make(map[fzHeadID]string),
		sigs:     make(map[fzHeadID][]byte),
		signedGs: make(map[string]bool),
		audit:    dbA.Audit().Head(),
	}
	grow := func(book *journal.Book, h *fzHistory, n int) error {
		if len(h.pages) == 0 {
			p, err := book.Get(ctx, 0)
			if err != nil {
				return err
			}
			h.pages = append(h.pages, p)
			h.heads = append(h.heads, book.Head())
		}
		for i := len(h.pages); i < n; i++ {
			p := fzPage(h.label, i)
			if _, err := book.Append(ctx, p); err != nil {
				return err
			}
			h.pages = append(h.pages, p)
			h.heads = append(h.heads, book.Head())
		}
		return nil
	}

	// A replica holds A at fzForkAt, then sees B's longer head: a fork with
	// a consistency proof, recorded by the real code.
	if err := grow(bookA, fx.a, fzForkAt); err != nil {
		return nil, err
	}
	if err := grow(bookB, fx.b, fzLenB); err != nil {
		return nil, err
	}
	rep, err := dbR.Reader(ctx, fx.key)
	if err != nil {
		return nil, err
	}
	up, err := bookA.MakeUpgrade(ctx, 0)
	if err != nil {
		return nil, err
	}
	if _, err := rep.AcceptHead(ctx, up); err != nil {
		return nil, err
	}
	if up, err = bookB.MakeUpgrade(ctx, fzForkAt); err != nil {
		return nil, err
	}
	if _, err := rep.AcceptHead(ctx, up); !errors.Is(err, journal.ErrForked) {
		return nil, fmt.Errorf("replica accepting B's head: %v, want ErrForked", err)
	}
	if rep.Fork() == nil {
		return nil, errors.New("replica kept no fork evidence")
	}
	fx.forks = append(fx.forks, *rep.Fork())
	if err := grow(bookA, fx.a, fzLenA); err != nil {
		return nil, err
	}

	for _, h := range []*fzHistory{fx.a, fx.b} {
		for _, hd := range h.heads {
			id := fzHeadID{hd.Length, hd.Root}
			if l, ok := fx.known[id]; ok && l != h.label {
				fx.known[id] = "AB"
			} else {
				fx.known[id] = h.label
			}
			fx.sigs[id] = hd.Sig
		}
	}
	if fx.known[fzHeadID{1, fx.a.heads[0].Root}] != "AB" || !reflect.DeepEqual(fx.a.heads[0], fx.b.heads[0]) {
		return nil, errors.New("the two histories do not share their first head")
	}

	// More fork evidence, built from the real heads and proofs: two heads
	// of one length, and A's longer head against B's shorter one.
	fx.forks = append(fx.forks, journal.Fork{Old: fx.a.heads[fzLenB-1], New: fx.b.heads[fzLenB-1], FromRoot: fx.b.heads[fzLenB-1].Root})
	fromRoot, err := bookA.TreeHash(ctx, 3)
	if err != nil {
		return nil, err
	}
	proof, err := bookA.TreeProof(ctx, 3, fzLenA)
	if err != nil {
		return nil, err
	}
	fx.forks = append(fx.forks, journal.Fork{Old: fx.b.heads[2], New: fx.a.heads[fzLenA-1], FromRoot: fromRoot, Proof: proof})
	for _, f := range fx.forks {
		if err := f.Verify(); err != nil {
			return nil, fmt.Errorf("real fork evidence does not verify: %v", err)
		}
	}

	// Every range proof of history A.
	for n := uint64(1); n <= fzLenA; n++ {
		for start := range n {
			for end := start + 1; end <= n; end++ {
				p, err := bookA.RangeProof(ctx, start, end, n)
				if err != nil {
					return nil, err
				}
				fx.ranges = append(fx.ranges, fzRange{n: n, start: start, end: end, proof: *p})
			}
		}
	}

	// Genesis pages: the book's, the audit book's (no meta), a book named by
	// the "${author}-${reader}-${task}" convention, and one with the
	// largest meta.
	other := identity.New(identity.Seed{0x0e}).ID()
	books := []*journal.Book{bookA, dbA.Audit()}
	for _, nm := range []struct {
		name string
		meta []byte
	}{
		{dbA.ID().String() + "-" + other.String() + "-task 1", []byte{0}},
		{"big", bytes.Repeat([]byte{0xa5}, journal.MaxGenesisMeta)},
	} {
		b, err := dbA.Author(ctx, nm.name, nm.meta)
		if err != nil {
			return nil, err
		}
		books = append(books, b)
	}
	for _, b := range books {
		p, err := b.Get(ctx, 0)
		if err != nil {
			return nil, err
		}
		g, err := journal.DecodeGenesis(p)
		if err != nil {
			return nil, err
		}
		// The oracle's encoding must be the real one.
		if want := fzGenesisPage(g.Author, g.Key, g.Name, g.Meta, g.Sig); !bytes.Equal(p, want) {
			return nil, fmt.Errorf("genesis of %q:\n got %x\nwant %x", g.Name, p, want)
		}
		if !fzGenesisSigned(g) {
			return nil, fmt.Errorf("genesis of %q: the oracle does not verify its signature", g.Name)
		}
		fx.geneses = append(fx.geneses, p)
		fx.signedGs[fzGenesisID(g.Key, g.Name, g.Meta)] = true
	}
	return fx, nil
}

// fzHeadSigned checks h's signature independently of the journal package:
// the context string, the key, the length (8 bytes big endian), the root.
func fzHeadSigned(h *journal.Head) bool {
	msg := []byte("taskmessenger/head/v1\n")
	msg = append(msg, h.Key[:]...)
	msg = binary.BigEndian.AppendUint64(msg, h.Length)
	msg = append(msg, h.Root[:]...)
	return len(h.Sig) == ed25519.SignatureSize && ed25519.Verify(h.Key[:], msg, h.Sig)
}

// fzCBORHead appends a CBOR item head (major type and argument) in its
// shortest form, as deterministic encoding requires.
func fzCBORHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

// fzCBORBytes appends a byte string, or null for a nil slice.
func fzCBORBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0xf6)
	}
	return append(fzCBORHead(b, 2, uint64(len(v))), v...)
}

// fzGenesisPage encodes a genesis page, written from the format's
// description: the array [1, author, key, name, meta, sig], with nil meta
// and sig as null. The signed message is the context string followed by the
// page with a null signature.
func fzGenesisPage(author, key identity.ID, name string, meta, sig []byte) []byte {
	b := fzCBORHead(nil, 4, 6)
	b = fzCBORHead(b, 0, 1)
	b = fzCBORBytes(b, author[:])
	b = fzCBORBytes(b, key[:])
	b = append(fzCBORHead(b, 3, uint64(len(name))), name...)
	b = fzCBORBytes(b, meta)
	return fzCBORBytes(b, sig)
}

func fzGenesisSigned(g *journal.Genesis) bool {
	msg := append([]byte("taskmessenger/genesis/v1\n"), fzGenesisPage(g.Author, g.Key, g.Name, g.Meta, nil)...)
	return len(g.Sig) == ed25519.SignatureSize && ed25519.Verify(g.Author[:], msg, g.Sig)
}

func fzMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := journal.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// fzCorrupt returns variants of a valid encoding: truncated, extended, and
// with single bytes flipped at a few positions.
func fzCorrupt(b []byte) [][]byte {
	out := [][]byte{b[:len(b)/2], b[:len(b)-1], append(slices.Clone(b), 0)}
	for _, i := range []int{0, 1, len(b) / 3, len(b) / 2, len(b) - 1} {
		c := slices.Clone(b)
		c[i] ^= 0x01
		out = append(out, c)
	}
	return out
}

// checkHead checks a head that was accepted as signed: its signature must
// verify, and a head of the fixture's key must be one its author signed.
func (fx *fzFixture) checkHead(t *testing.T, h *journal.Head) {
	t.Helper()
	if !fzHeadSigned(h) {
		t.Fatalf("head %d of %s accepted without a valid signature", h.Length, h.Key)
	}
	if h.Key != fx.key {
		return
	}
	id := fzHeadID{h.Length, h.Root}
	if _, ok := fx.known[id]; !ok {
		t.Fatalf("accepted head %d root %x of the fixture's book, which its author never signed", h.Length, h.Root[:])
	}
	if !bytes.Equal(h.Sig, fx.sigs[id]) {
		t.Fatalf("accepted head %d with a signature its author never made", h.Length)
	}
}

func FuzzDecodeHead(f *testing.F) {
	fx := fzFix(f)
	heads := []journal.Head{fx.audit}
	heads = append(heads, fx.a.heads...)
	heads = append(heads, fx.b.heads[1:]...)
	for _, h := range heads {
		f.Add(fzMarshal(f, h))
	}
	h := fx.a.heads[5]
	for _, c := range fzCorrupt(fzMarshal(f, h)) {
		f.Add(c)
	}
	for _, mut := range []func(h *journal.Head){
		func(h *journal.Head) { h.Length++ },
		func(h *journal.Head) { h.Length = journal.MaxLength + 1 },
		func(h *journal.Head) { h.Length = 0 },
		func(h *journal.Head) { h.Root[7] ^= 0x80 },
		func(h *journal.Head) { h.Key = fx.author },
		func(h *journal.Head) { h.Sig = fx.a.heads[6].Sig },
		func(h *journal.Head) { h.Sig = h.Sig[:63] },
		func(h *journal.Head) { h.Sig = nil },
	} {
		c := h
		c.Sig = slices.Clone(h.Sig)
		mut(&c)
		f.Add(fzMarshal(f, c))
	}
	for _, b := range []string{"", "\xf6", "\x80", "\x84\x40\x00\x40\x40", "\xa0", "\x9f\xff", "\xc1\x00"} {
		f.Add([]byte(b))
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		var h journal.Head
		uerr := journal.Unmarshal(b, &h)
		dh, derr := journal.DecodeHead(b)
		if uerr != nil {
			if derr == nil {
				t.Fatalf("DecodeHead accepts what Unmarshal rejects (%v)", uerr)
			}
			return
		}
		if h.Length > journal.MaxLength || len(h.Sig) != identity.SignatureSize {
			t.Fatalf("decoded head out of bounds: length %d, signature of %d bytes", h.Length, len(h.Sig))
		}

		// Re-encoding gives the same head, and is a fixed point.
		enc := fzMarshal(t, h)
		var h2 journal.Head
		if err := journal.Unmarshal(enc, &h2); err != nil {
			t.Fatalf("re-encoded head does not decode: %v\n%x", err, enc)
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("head changed through re-encoding:\n%+v\n%+v", h, h2)
		}
		if again := fzMarshal(t, h2); !bytes.Equal(enc, again) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, again)
		}

		signed := fzHeadSigned(&h)
		if verr := h.Verify(); (verr == nil) != (derr == nil) {
			t.Fatalf("DecodeHead: %v, but Verify of the same head: %v", derr, verr)
		}
		if derr != nil {
			// Completeness only for the fixture's honest keys: a future
			// check may rightly reject keys no one can own (small-order points).
			if signed && (h.Key == fx.key || h.Key == fx.audit.Key) {
				t.Fatalf("DecodeHead rejects a validly signed head: %v", derr)
			}
			var ve *journal.VerifyError
			if !errors.Is(derr, journal.ErrBadSignature) || !errors.As(derr, &ve) {
				t.Fatalf("DecodeHead of an unsigned head: %v, want a VerifyError of ErrBadSignature", derr)
			}
			return
		}
		if !reflect.DeepEqual(dh, h) {
			t.Fatalf("DecodeHead returned %+v, Unmarshal %+v", dh, h)
		}
		fx.checkHead(t, &dh)
	})
}

func FuzzDecodeGenesis(f *testing.F) {
	fx := fzFix(f)
	for _, p := range fx.geneses {
		f.Add(p)
	}
	p := fx.geneses[0]
	for _, c := range fzCorrupt(p) {
		f.Add(c)
	}
	g, err := journal.DecodeGenesis(p)
	if err != nil {
		f.Fatal(err)
	}
	other := identity.New(identity.Seed{0x0e}).ID()
	for _, c := range []*journal.Genesis{
		{Author: g.Author, Key: g.Key, Name: g.Name + "!", Meta: g.Meta, Sig: g.Sig},
		{Author: g.Author, Key: other, Name: g.Name, Meta: g.Meta, Sig: g.Sig},
		{Author: other, Key: g.Key, Name: g.Name, Meta: g.Meta, Sig: g.Sig},
		{Author: g.Author, Key: g.Key, Name: g.Name, Meta: nil, Sig: g.Sig},
		{Author: g.Author, Key: g.Key, Name: g.Name, Meta: []byte{}, Sig: g.Sig},
		{Author: g.Author, Key: g.Key, Name: "", Meta: g.Meta, Sig: g.Sig},
		{Author: g.Author, Key: g.Key, Name: "a\x00b", Meta: g.Meta, Sig: g.Sig},
		{Author: g.Author, Key: g.Key, Name: g.Name, Meta: g.Meta, Sig: nil},
		{Author: g.Author, Key: g.Key, Name: other.String() + "-" + g.Name, Meta: g.Meta, Sig: g.Sig},
	} {
		f.Add(fzGenesisPage(c.Author, c.Key, c.Name, c.Meta, c.Sig))
	}
	// Version 2, and version 1 in a longer (non-deterministic) form.
	v2 := slices.Clone(p)
	v2[1] = 0x02
	f.Add(v2)
	f.Add(append([]byte{p[0], 0x18, 0x01}, p[2:]...))
	// Meta one byte over the bound.
	f.Add(fzGenesisPage(g.Author, g.Key, g.Name, make([]byte, journal.MaxGenesisMeta+1), g.Sig))
	for _, b := range []string{"", "\xf6", "\x80", "\x85\x01\x40\x40\x60\x40", "\x86\x01\x40\x40\x60\xf6\xf6"} {
		f.Add([]byte(b))
	}

	f.Fuzz(func(t *testing.T, page []byte) {
		g, err := journal.DecodeGenesis(page)
		if err != nil {
			if g != nil {
				t.Fatalf("DecodeGenesis failed (%v) but returned a genesis", err)
			}
			if !errors.Is(err, journal.ErrBadGenesis) {
				t.Fatalf("DecodeGenesis: %v, want ErrBadGenesis", err)
			}
			return
		}
		if !fzGenesisSigned(g) {
			t.Fatalf("genesis %q accepted without a valid signature by author %s", g.Name, g.Author)
		}
		if err := journal.CheckName(g.Name); err != nil {
			t.Fatalf("genesis accepted with a bad name: %v", err)
		}
		if len(g.Meta) > journal.MaxGenesisMeta {
			t.Fatalf("genesis accepted with %d bytes of meta", len(g.Meta))
		}
		if a, ok := journal.NameAuthor(g.Name); ok && a != g.Author {
			t.Fatalf("genesis %q signed by %s, not the author its name names", g.Name, g.Author)
		}
		if g.Author == fx.author && !fx.signedGs[fzGenesisID(g.Key, g.Name, g.Meta)] {
			t.Fatalf("genesis %q of book %s accepted as the fixture author's, who never signed it", g.Name, g.Key)
		}

		// Encode gives the deterministic page, which decodes to the same genesis.
		enc := g.Encode()
		if want := fzGenesisPage(g.Author, g.Key, g.Name, g.Meta, g.Sig); !bytes.Equal(enc, want) {
			t.Fatalf("Encode:\n got %x\nwant %x", enc, want)
		}
		g2, err := journal.DecodeGenesis(enc)
		if err != nil {
			t.Fatalf("re-encoded genesis does not decode: %v", err)
		}
		if !reflect.DeepEqual(g, g2) {
			t.Fatalf("genesis changed through re-encoding:\n%+v\n%+v", g, g2)
		}
	})
}

// truth returns the history a head of the fixture's key belongs to, or nil.
func (fx *fzFixture) truth(h *journal.Head) *fzHistory {
	if h.Key != fx.key {
		return nil
	}
	switch fx.known[fzHeadID{h.Length, h.Root}] {
	case "A", "AB":
		return fx.a
	case "B":
		return fx.b
	}
	return nil
}

func fzProofsEqual(p, q *journal.RangeProof) bool {
	return slices.Equal(p.Left, q.Left) && slices.Equal(p.Tree, q.Tree)
}

func fzClonePages(ps [][]byte) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = slices.Clone(p)
	}
	return out
}

// FuzzRangeProof decodes arbitrary bytes as a range proof, and checks
// VerifyRange against real heads with the decoded proof and with real pages
// and proofs that the input mutates. Inputs: raw, the bytes to decode; sel,
// which real (head, range) to start from; mode, the mutation; which and pos,
// where to mutate; x, the byte to use.
func FuzzRangeProof(f *testing.F) {
	fx := fzFix(f)
	for i, r := range fx.ranges {
		if i%7 != 0 && r.n != fzLenA {
			continue // keep the seed corpus small
		}
		raw := fzMarshal(f, r.proof)
		f.Add(raw, uint16(i), byte(i), uint16(i*3), uint32(i*31), byte(1+i))
		if i%5 == 0 {
			for _, c := range fzCorrupt(raw) {
				f.Add(c, uint16(i), byte(0), uint16(0), uint32(0), byte(0))
			}
		}
	}
	// The unmutated original: must verify.
	f.Add([]byte{}, uint16(0), byte(0), uint16(0), uint32(0), byte(0))
	// Over the bound on hashes, and hashes of the wrong size.
	big := journal.RangeProof{Left: make([]journal.Hash, journal.MaxProofHashes/2+1), Tree: make(tlog.TreeProof, journal.MaxProofHashes/2)}
	f.Add(fzMarshal(f, big), uint16(3), byte(2), uint16(0), uint32(0), byte(0))
	for _, b := range []string{"\x82\x80\x80", "\x82\x81\x41\x00\x80", "\x82\xf6\xf6", "\x82\x80\x81\x58\x21" + string(make([]byte, 33)), "\x80", "\xf6"} {
		f.Add([]byte(b), uint16(1), byte(3), uint16(1), uint32(1), byte(1))
	}

	f.Fuzz(func(t *testing.T, raw []byte, sel uint16, mode byte, which uint16, pos uint32, x byte) {
		var decoded journal.RangeProof
		decodedOK := journal.Unmarshal(raw, &decoded) == nil
		if decodedOK {
			if decoded.Size() > journal.MaxProofHashes {
				t.Fatalf("decoded a proof of %d hashes, over the bound %d", decoded.Size(), journal.MaxProofHashes)
			}
			var again journal.RangeProof
			if err := journal.Unmarshal(fzMarshal(t, decoded), &again); err != nil || !fzProofsEqual(&decoded, &again) {
				t.Fatalf("proof changed through re-encoding (%v)", err)
			}
		}

		r := fx.ranges[int(sel)%len(fx.ranges)]
		head := fx.a.heads[r.n-1]
		orig := fx.a.pages[r.start:r.end]

		// verify runs VerifyRange and checks the result against the truth:
		// accepted pages must be the pages of the head's history at the
		// claimed positions; when they are the real range, only the real
		// proof may verify, and it must.
		verify := func(what string, h *journal.Head, start uint64, pages [][]byte, p *journal.RangeProof) {
			t.Helper()
			hashes, err := journal.VerifyRange(h, start, pages, p)
			original := h.Length == head.Length && h.Root == head.Root && start == r.start && len(pages) == len(orig)
			for i := 0; original && i < len(pages); i++ {
				original = bytes.Equal(pages[i], orig[i])
			}
			if err != nil {
				if original && fzProofsEqual(p, &r.proof) {
					t.Fatalf("%s: the real proof of [%d, %d) in %d fails: %v", what, r.start, r.end, r.n, err)
				}
				return
			}
			if original && !fzProofsEqual(p, &r.proof) {
				t.Fatalf("%s: a proof other than the real one verifies pages [%d, %d) in %d:\n got %x\nwant %x",
					what, r.start, r.end, r.n, fzMarshal(t, *p), fzMarshal(t, r.proof))
			}
			truth := fx.truth(h)
			if truth == nil {
				return // a head nobody signed: only the absence of panics is checked
			}
			end := start + uint64(len(pages))
			if end < start || end > h.Length || end > uint64(len(truth.pages)) {
				t.Fatalf("%s: pages [%d, %d) verify against a head of length %d", what, start, end, h.Length)
			}
			for i, pg := range pages {
				if !bytes.Equal(pg, truth.pages[start+uint64(i)]) {
					t.Fatalf("%s: page %d verifies against head %d of history %s, but is %q, not %q",
						what, start+uint64(i), h.Length, truth.label, pg, truth.pages[start+uint64(i)])
				}
			}
			if len(hashes) != len(pages) {
				t.Fatalf("%s: %d pages verified, %d hash lists returned", what, len(pages), len(hashes))
			}
			for i, hs := range hashes {
				if len(hs) == 0 || hs[0] != tlog.RecordHash(pages[i]) {
					t.Fatalf("%s: the hashes kept with page %d do not start with its leaf hash", what, start+uint64(i))
				}
			}
		}

		if decodedOK {
			verify("decoded proof", &head, r.start, orig, &decoded)
			// Against a head of arbitrary length (unsigned; VerifyRange
			// trusts its caller for the signature): no panic.
			fake := head
			fake.Length = 1 + (uint64(pos)<<16|uint64(which))%journal.MaxLength
			start := fake.Length - 1 - uint64(x)%fake.Length
			verify("decoded proof, head of any length", &fake, start, orig, &decoded)
		}

		pages := fzClonePages(orig)
		proof := journal.RangeProof{Left: slices.Clone(r.proof.Left), Tree: slices.Clone(r.proof.Tree)}
		h, start := head, r.start
		hashAt := func(k int) *journal.Hash {
			if k < len(proof.Left) {
				return &proof.Left[k]
			}
			return &proof.Tree[k-len(proof.Left)]
		}
		switch mode % 6 {
		case 0: // flip bits of one byte of a page or a proof hash
			k := int(which) % (len(pages) + proof.Size())
			if k < len(pages) {
				if len(pages[k]) == 0 {
					pages[k] = []byte{x}
				} else {
					pages[k][int(pos)%len(pages[k])] ^= x
				}
			} else {
				hashAt(k - len(pages))[pos%tlog.HashSize] ^= x
			}
		case 1: // shorten or lengthen a page
			k := int(which) % len(pages)
			if n := int(pos) % (len(pages[k]) + 2); n <= len(pages[k]) {
				pages[k] = pages[k][:n]
			} else {
				pages[k] = append(pages[k], x)
			}
		case 2: // drop, duplicate or move a proof hash
			if proof.Size() == 0 {
				proof.Tree = append(proof.Tree, journal.Hash{x})
				break
			}
			k := int(which) % proof.Size()
			all := append(slices.Clone(proof.Left), proof.Tree...)
			switch pos % 3 {
			case 0:
				all = slices.Delete(all, k, k+1)
			case 1:
				all = slices.Insert(all, k, all[k])
			}
			split := min(int(x)%(len(all)+1), len(all))
			proof.Left, proof.Tree = all[:split], all[split:]
		case 3: // claim the pages at another start
			start = uint64(int64(start) + int64(int8(x)))
		case 4: // drop or add a page, at either end
			switch pos % 4 {
			case 0:
				pages, start = pages[1:], start+1
			case 1:
				pages = pages[:len(pages)-1]
			case 2:
				pages, start = append([][]byte{fzPage("A", int(start)-1)}, pages...), start-1
			case 3:
				pages = append(pages, fzPage("A", int(r.end)))
			}
			if len(pages) == 0 {
				pages = [][]byte{{x}}
			}
		case 5: // another real head, of either history
			all := append(slices.Clone(fx.a.heads), fx.b.heads...)
			h = all[int(which)%len(all)]
		}
		verify(fmt.Sprintf("mutation %d", mode%6), &h, start, pages, &proof)
	})
}

func FuzzFork(f *testing.F) {
	fx := fzFix(f)
	for _, fk := range fx.forks {
		b := fzMarshal(f, fk)
		f.Add(b)
		for _, c := range fzCorrupt(b) {
			f.Add(c)
		}
	}
	a, b := fx.a.heads, fx.b.heads
	realFork := fx.forks[0]
	for _, fk := range []journal.Fork{
		// Consistent heads of one history, with the true root and proof.
		{Old: a[fzForkAt-1], New: a[fzLenA-1], FromRoot: a[fzForkAt-1].Root, Proof: mustFzTreeProof(f, fx, fzForkAt, fzLenA)},
		// The same, with a false FromRoot.
		{Old: a[fzForkAt-1], New: a[fzLenA-1], FromRoot: b[fzForkAt-1].Root, Proof: mustFzTreeProof(f, fx, fzForkAt, fzLenA)},
		// One head twice.
		{Old: a[4], New: a[4], FromRoot: a[4].Root},
		// The shared head against a later one.
		{Old: a[0], New: b[5], FromRoot: b[0].Root},
		// Heads of two books.
		{Old: fx.audit, New: a[fx.audit.Length-1], FromRoot: a[fx.audit.Length-1].Root},
		// The real fork, reversed.
		{Old: realFork.New, New: realFork.Old, FromRoot: realFork.FromRoot, Proof: realFork.Proof},
		// The real fork without its proof, or with a tampered one.
		{Old: realFork.Old, New: realFork.New, FromRoot: realFork.FromRoot},
		{Old: realFork.Old, New: realFork.New, FromRoot: realFork.FromRoot, Proof: append(slices.Clone(realFork.Proof), journal.Hash{})},
		// Same length, one head with a forged root.
		{Old: a[5], New: func() journal.Head { h := a[5]; h.Root[0] ^= 1; return h }(), FromRoot: a[5].Root},
	} {
		f.Add(fzMarshal(f, fk))
	}
	for _, s := range []string{"", "\xf6", "\x84\xf6\xf6\x40\x80", "\x84\x80\x80\x58\x20" + string(make([]byte, 32)) + "\x80"} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		var fk journal.Fork
		if err := journal.Unmarshal(raw, &fk); err != nil {
			return
		}
		for _, h := range []journal.Head{fk.Old, fk.New} {
			if h.Length > journal.MaxLength || len(h.Sig) != identity.SignatureSize {
				t.Fatalf("decoded fork holds a head out of bounds: length %d, signature of %d bytes", h.Length, len(h.Sig))
			}
		}
		enc := fzMarshal(t, fk)
		var fk2 journal.Fork
		if err := journal.Unmarshal(enc, &fk2); err != nil {
			t.Fatalf("re-encoded fork does not decode: %v", err)
		}
		if !reflect.DeepEqual(fk, fk2) {
			t.Fatalf("fork changed through re-encoding:\n%+v\n%+v", fk, fk2)
		}

		err := fk.Verify()
		bothSigned := fzHeadSigned(&fk.Old) && fzHeadSigned(&fk.New) && fk.Old.Key == fk.New.Key
		if err != nil {
			// Two signed heads of one length with different roots need no
			// proof: such evidence must be accepted (checked for the
			// fixture's key, whose signatures the fuzzer cannot make).
			if bothSigned && fk.Old.Key == fx.key && fk.Old.Length == fk.New.Length && fk.Old.Root != fk.New.Root {
				t.Fatalf("fork of two signed heads of length %d rejected: %v", fk.Old.Length, err)
			}
			return
		}
		if !bothSigned {
			t.Fatalf("fork evidence accepted without two heads signed by one key (%s, %s)", fk.Old.Key, fk.New.Key)
		}
		if fk.Old.Key == fx.key {
			fx.checkHead(t, &fk.Old)
			fx.checkHead(t, &fk.New)
			// Only heads past the shared first page, one of each history, conflict.
			oldL, newL := fx.known[fzHeadID{fk.Old.Length, fk.Old.Root}], fx.known[fzHeadID{fk.New.Length, fk.New.Root}]
			if oldL == "AB" || newL == "AB" || oldL == newL {
				t.Fatalf("fork evidence accepted for heads %d (%s) and %d (%s), which do not conflict", fk.Old.Length, oldL, fk.New.Length, newL)
			}
			newT := fx.truth(&fk.New)
			if fk.Old.Length != fk.New.Length && fk.FromRoot != newT.heads[fk.Old.Length-1].Root {
				t.Fatalf("fork evidence accepted with a FromRoot that is not the root of the new history at %d", fk.Old.Length)
			}
			return
		}
		// Heads of another key (e.g. the audit book's): none of them
		// conflict, unless the fuzzer found a key for which it can sign.
		switch {
		case fk.Old.Length == fk.New.Length:
			if fk.Old.Root == fk.New.Root {
				t.Fatalf("fork evidence accepted for two equal heads")
			}
		case fk.Old.Length == 0 || fk.Old.Length > fk.New.Length || fk.FromRoot == fk.Old.Root:
			t.Fatalf("fork evidence accepted for heads %d and %d not in conflict", fk.Old.Length, fk.New.Length)
		default:
			if tlog.CheckTree(fk.Proof, int64(fk.New.Length), fk.New.Root, int64(fk.Old.Length), fk.FromRoot) != nil {
				t.Fatalf("fork evidence accepted with a bad consistency proof")
			}
		}
	})
}

// mustFzTreeProof rebuilds, from history A's pages, the consistency proof
// from size m to size n, with tlog alone.
func mustFzTreeProof(tb testing.TB, fx *fzFixture, m, n int64) tlog.TreeProof {
	tb.Helper()
	var hashes []journal.Hash
	for i, p := range fx.a.pages[:n] {
		hs, err := tlog.StoredHashes(int64(i), p, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, s := range idx {
				out[j] = hashes[s]
			}
			return out, nil
		}))
		if err != nil {
			tb.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
	p, err := tlog.ProveTree(n, m, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, s := range idx {
			out[j] = hashes[s]
		}
		return out, nil
	}))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
