package bookverify_test

import (
	"bytes"
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/tools/bookverify"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

var ctx = context.Background()

func seed(n byte) identity.Seed {
	var s identity.Seed
	for i := range s {
		s[i] = n
	}
	return s
}

func openDB(t testing.TB, n byte) *journal.DB {
	t.Helper()
	db, err := journal.Open(ctx, store.NewMemory(), seed(n), nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// grownBook authors a book of n pages, one append each, and returns it
// with its head after each length (heads[k] is the head of length k).
func grownBook(t testing.TB, db *journal.DB, name string, n int, meta []byte) (*journal.Book, [][]byte) {
	t.Helper()
	b, err := db.Author(ctx, name, meta)
	if err != nil {
		t.Fatal(err)
	}
	heads := [][]byte{nil, marshal(t, b.Head())}
	for i := 1; i < n; i++ {
		if _, err := b.Append(ctx, []byte(name+" page "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		heads = append(heads, marshal(t, b.Head()))
	}
	return b, heads
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := journal.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func head(t testing.TB, b []byte) *bookverify.Head {
	t.Helper()
	h, err := bookverify.ParseHead(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestVerifyJournalBooks: books written by the journal verify with the
// verifier written from docs/format.md: whole, by range, by page, and
// head to head; tampered pages and forged heads do not.
func TestVerifyJournalBooks(t *testing.T) {
	ana := openDB(t, 1)
	const n = 21
	book, heads := grownBook(t, ana, ana.ID().String()+"-notes", n, []byte(`{"app":"test"}`))
	pages, err := book.GetRange(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}

	vb, err := bookverify.VerifyBook(heads[n], pages)
	if err != nil {
		t.Fatalf("VerifyBook: %v", err)
	}
	if g := vb.Genesis; g.Author != ana.ID() || g.Key != book.Key() || g.Name != book.Name() || string(g.Meta) != `{"app":"test"}` {
		t.Fatalf("genesis: %+v", g)
	}

	for m := uint64(1); m <= n; m++ {
		hm := head(t, heads[m])
		for start := uint64(0); start < m; start++ {
			for end := start + 1; end <= m; end++ {
				p, err := book.RangeProof(ctx, start, end, m)
				if err != nil {
					t.Fatal(err)
				}
				proof, err := bookverify.ParseRangeProof(marshal(t, p))
				if err != nil {
					t.Fatalf("ParseRangeProof: %v", err)
				}
				if err := bookverify.VerifyRange(hm, start, pages[start:end], proof); err != nil {
					t.Fatalf("range [%d, %d) of %d: %v", start, end, m, err)
				}
				if len(proof.Left) > 0 {
					proof.Left[0][0] ^= 1
					if err := bookverify.VerifyRange(hm, start, pages[start:end], proof); !errors.Is(err, bookverify.ErrProof) {
						t.Fatalf("range [%d, %d) of %d with a bad left hash: %v", start, end, m, err)
					}
				}
			}
			ip, err := book.Proof(ctx, start, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := bookverify.VerifyInclusion(hm, start, pages[start], ip); err != nil {
				t.Fatalf("page %d of %d: %v", start, m, err)
			}
		}
		for k := uint64(1); k <= m; k++ {
			tp, err := book.TreeProof(ctx, k, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := bookverify.VerifyConsistency(head(t, heads[k]), hm, tp); err != nil {
				t.Fatalf("consistency %d → %d: %v", k, m, err)
			}
		}
	}

	// A tampered page, anywhere.
	for i := range pages {
		bad := bytes.Clone(pages[i])
		bad[len(bad)-1] ^= 1
		tampered := append(append(append([][]byte{}, pages[:i]...), bad), pages[i+1:]...)
		if _, err := bookverify.VerifyBook(heads[n], tampered); err == nil {
			t.Fatalf("page %d tampered: verified", i)
		}
	}
	// Forged heads: another length or root under the same signature, the
	// signature of another key, a key that cannot sign.
	h := head(t, heads[n])
	for name, forge := range map[string]func(h *bookverify.Head){
		"length": func(h *bookverify.Head) { h.Length-- },
		"root":   func(h *bookverify.Head) { h.Root[0] ^= 1 },
		"sig":    func(h *bookverify.Head) { h.Sig[5] ^= 1 },
		"key":    func(h *bookverify.Head) { h.Key = ana.BookKey("other") },
		"zero":   func(h *bookverify.Head) { h.Key, h.Sig = [32]byte{1}, [64]byte{1} },
	} {
		f := *h
		forge(&f)
		if err := f.Verify(); !errors.Is(err, bookverify.ErrSignature) {
			t.Errorf("forged head (%s): %v, want ErrSignature", name, err)
		}
	}
	cut := bytes.Clone(heads[n])
	cut[len(cut)-1] ^= 1
	if _, err := bookverify.VerifyBook(cut, pages); !errors.Is(err, bookverify.ErrSignature) {
		t.Fatalf("head with a flipped signature bit: %v", err)
	}

	// A fork: the same book written twice from one seed.
	other := openDB(t, 1)
	forked, fheads := grownBook(t, other, ana.ID().String()+"-notes", n+3, []byte(`{"app":"test"}`))
	forked.Append(ctx, []byte("elsewhere"))
	if err := bookverify.VerifyConsistency(head(t, heads[5]), head(t, fheads[5]), nil); err != nil {
		t.Fatalf("identical prefixes: %v", err)
	}
	fp, _ := forked.TreeProof(ctx, uint64(n), uint64(n+3))
	if err := bookverify.VerifyConsistency(head(t, heads[n]), head(t, fheads[n+3]), fp); err != nil {
		t.Fatalf("an honest later head of the same pages: %v", err)
	}
	fresh, fheads2 := grownBook(t, openDB(t, 1), ana.ID().String()+"-notes", 3, []byte(`{"app":"test"}`))
	fresh.Append(ctx, textPages(4, "diverged")...)
	fp2, _ := fresh.TreeProof(ctx, 3, fresh.Len())
	if err := bookverify.VerifyConsistency(head(t, heads[5]), head(t, marshal(t, fresh.Head())), fp2); !errors.Is(err, bookverify.ErrProof) {
		t.Fatalf("forked heads: %v, want ErrProof", err)
	}
	_ = fheads2
}

func textPages(n int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(tag + strconv.Itoa(i))
	}
	return out
}

// TestGenesisRules: the genesis checks of the verifier agree with the
// journal's on the cases docs/format.md names.
func TestGenesisRules(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	for _, tc := range []struct {
		db   *journal.DB
		name string
		meta []byte
	}{
		{ana, "notes", nil},
		{ana, "notes", []byte{}},
		{ana, ana.ID().String() + "-" + bob.ID().String() + "-task", []byte(`{"task":"x"}`)},
	} {
		b, err := tc.db.Author(ctx, tc.name, tc.meta)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := b.Get(ctx, 0)
		g, err := bookverify.ParseGenesis(p)
		if err != nil {
			t.Fatalf("genesis of %q: %v", tc.name, err)
		}
		if len(tc.meta) == 0 && g.Meta != nil {
			t.Fatalf("empty meta decoded as %x", g.Meta)
		}
		if a, ok := bookverify.NameAuthor(tc.name); ok && a != ana.ID() {
			t.Fatalf("name author %x", a)
		}
	}
	// A name naming Bob, signed by Ana: the journal never writes it; the
	// verifier refuses it.
	ak := ana.Identity()
	book := identity.New(seed(9))
	g := &bookverify.Genesis{Author: ak.ID(), Key: book.ID(), Name: bob.ID().String() + "-x"}
	page := signGenesis(ak, g)
	if _, err := bookverify.ParseGenesis(page); !errors.Is(err, bookverify.ErrGenesis) {
		t.Fatalf("genesis naming another author: %v", err)
	}
	if _, err := journal.DecodeGenesis(page); !errors.Is(err, journal.ErrBadGenesis) {
		t.Fatalf("journal: genesis naming another author: %v", err)
	}
	g.Name = "fine"
	if _, err := bookverify.ParseGenesis(signGenesis(ak, g)); err != nil {
		t.Fatal(err)
	}
	g.Meta = []byte{}
	if _, err := bookverify.ParseGenesis(signGenesis(ak, g)); !errors.Is(err, bookverify.ErrFormat) {
		t.Fatalf("genesis with empty meta bytes: %v", err)
	}
}

// signGenesis encodes g signed by k, written from docs/format.md.
func signGenesis(k *identity.Key, g *bookverify.Genesis) []byte {
	sig := k.Sign(g.SignedBytes())
	copy(g.Sig[:], sig)
	var meta []byte
	if g.Meta == nil {
		meta = []byte{0xf6}
	} else {
		meta = append([]byte{0x40 | byte(len(g.Meta))}, g.Meta...)
	}
	b := []byte{0x86, 0x01, 0x58, 0x20}
	b = append(b, g.Author[:]...)
	b = append(b, 0x58, 0x20)
	b = append(b, g.Key[:]...)
	b = append(b, 0x60|byte(len(g.Name)))
	b = append(b, g.Name...)
	b = append(b, meta...)
	b = append(b, 0x58, 0x40)
	return append(b, g.Sig[:]...)
}

// TestCheckKeyAgrees: the verifier's key check (math/big) agrees with the
// project's (edwards25519) on small-order points and random keys.
func TestCheckKeyAgrees(t *testing.T) {
	keys := [][32]byte{{}, {1}, {0xec, 0xff}, {0xed, 0xff}, {0xee, 0xff}}
	keys[2][31], keys[3][31], keys[4][31] = 0x7f, 0x7f, 0x7f
	for i := range keys[2][2:31] {
		keys[2][2+i], keys[3][2+i], keys[4][2+i] = 0xff, 0xff, 0xff
	}
	for i := range 300 {
		keys = append(keys, identity.New(seed(byte(i))).ID(), [32]byte(bytes.Repeat([]byte{byte(i), byte(i * 7)}, 16)))
	}
	for _, k := range keys {
		want := identity.ID(k).Check() == nil
		if got := bookverify.CheckKey(k) == nil; got != want {
			t.Fatalf("key %x: verifier says usable %v, project %v", k, got, want)
		}
	}
}

// FuzzCheckKey compares the two key checks on arbitrary keys.
func FuzzCheckKey(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(append([]byte{1}, make([]byte, 31)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 32 {
			return
		}
		want := identity.ID(b).Check() == nil
		if got := bookverify.CheckKey([32]byte(b)) == nil; got != want {
			t.Fatalf("key %x: verifier says usable %v, project %v", b, got, want)
		}
	})
}

// FuzzParseGenesis: the verifier and the journal accept the same genesis
// pages.
func FuzzParseGenesis(f *testing.F) {
	ana := openDB(f, 1)
	for _, meta := range [][]byte{nil, []byte("m"), bytes.Repeat([]byte("x"), 300)} {
		b, _ := ana.Author(ctx, "g"+strconv.Itoa(len(meta)), meta)
		p, _ := b.Get(ctx, 0)
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		_, got := bookverify.ParseGenesis(page)
		_, want := journal.DecodeGenesis(page)
		if (got == nil) != (want == nil) {
			t.Fatalf("verifier: %v; journal: %v", got, want)
		}
	})
}

// TestOnlyStandardImports: the verifier is written from the docs alone:
// the standard library and tlog, none of this project's packages.
func TestOnlyStandardImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != "golang.org/x/mod/sumdb/tlog" && strings.Contains(strings.Split(p, "/")[0], ".") {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
