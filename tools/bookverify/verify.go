package bookverify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Limits from docs/format.md.
const (
	MaxPageSize    = 256 << 10
	MaxNameSize    = 512
	MaxGenesisMeta = 4 << 10
	MaxLength      = 1 << 48
	MaxProofHashes = 128
)

// Errors. Every failure wraps one of them.
var (
	// ErrFormat means bytes that are not the format they claim.
	ErrFormat = errors.New("bookverify: malformed")
	// ErrSignature means a signature that does not verify, or a key that
	// cannot sign (not a curve point, or of small order).
	ErrSignature = errors.New("bookverify: bad signature")
	// ErrProof means pages or a head that a proof does not bind.
	ErrProof = errors.New("bookverify: bad proof")
	// ErrGenesis means a page 0 that does not bind the book to its author
	// and name.
	ErrGenesis = errors.New("bookverify: bad genesis")
)

// A Hash is a SHA-256 tree hash of RFC 6962.
type Hash = tlog.Hash

// A Head is a book's signed state.
type Head struct {
	Key    [32]byte
	Length uint64
	Root   Hash
	Sig    [64]byte
}

const (
	headContext    = "taskmessenger/head/v1\n"
	genesisContext = "taskmessenger/genesis/v1\n"
)

// SignedBytes returns what the book key signs.
func (h *Head) SignedBytes() []byte {
	b := append([]byte(headContext), h.Key[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Length)
	return append(b, h.Root[:]...)
}

// ParseHead decodes a head, [key, length, root, signature], and checks its
// key and signature.
func ParseHead(b []byte) (*Head, error) {
	r := &reader{b: b}
	h := new(Head)
	err := func() error {
		if n, err := r.array("head"); err != nil || n != 4 {
			return fmt.Errorf("head: not an array of 4: %v", err)
		}
		key, err := r.bytes("head key", 32)
		if err != nil {
			return err
		}
		if h.Length, err = r.uint("head length"); err != nil {
			return err
		}
		root, err := r.bytes("head root", 32)
		if err != nil {
			return err
		}
		sig, err := r.bytes("head signature", 64)
		if err != nil {
			return err
		}
		h.Key, h.Root, h.Sig = [32]byte(key), Hash(root), [64]byte(sig)
		return r.end("head")
	}()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return h, h.Verify()
}

// Verify checks the head's key and signature, and its length bound.
func (h *Head) Verify() error {
	if h.Length > MaxLength {
		return fmt.Errorf("%w: head length %d", ErrFormat, h.Length)
	}
	if err := CheckKey(h.Key); err != nil {
		return fmt.Errorf("%w: book key: %v", ErrSignature, err)
	}
	if !ed25519.Verify(h.Key[:], h.SignedBytes(), h.Sig[:]) {
		return fmt.Errorf("%w: head of length %d", ErrSignature, h.Length)
	}
	return nil
}

// A Genesis is page 0 of a book.
type Genesis struct {
	Author [32]byte
	Key    [32]byte
	Name   string
	Meta   []byte // nil: none (CBOR null)
	Sig    [64]byte
}

// encode writes the page, with the signature slot as null if sig is false.
func (g *Genesis) encode(sig bool) []byte {
	b := appendHead(nil, majorArray, 6)
	b = appendHead(b, majorUint, 1)
	b = append(appendHead(b, majorBytes, 32), g.Author[:]...)
	b = append(appendHead(b, majorBytes, 32), g.Key[:]...)
	b = append(appendHead(b, majorText, uint64(len(g.Name))), g.Name...)
	if g.Meta == nil {
		b = append(b, cborNull)
	} else {
		b = append(appendHead(b, majorBytes, uint64(len(g.Meta))), g.Meta...)
	}
	if !sig {
		return append(b, cborNull)
	}
	return append(appendHead(b, majorBytes, 64), g.Sig[:]...)
}

// SignedBytes returns what the author signs: the context string, then the
// page with null in the signature's place.
func (g *Genesis) SignedBytes() []byte {
	return append([]byte(genesisContext), g.encode(false)...)
}

// ParseGenesis decodes page 0 of a book and checks it: canonical form,
// keys, name, the author's signature, and the author a name names.
func ParseGenesis(page []byte) (*Genesis, error) {
	g := new(Genesis)
	r := &reader{b: page}
	err := func() error {
		if n, err := r.array("genesis"); err != nil || n != 6 {
			return fmt.Errorf("genesis: not an array of 6: %v", err)
		}
		if v, err := r.uint("genesis version"); err != nil || v != 1 {
			return fmt.Errorf("genesis version %d: %v", v, err)
		}
		author, err := r.bytes("genesis author", 32)
		if err != nil {
			return err
		}
		key, err := r.bytes("genesis key", 32)
		if err != nil {
			return err
		}
		if g.Name, err = r.text("genesis name"); err != nil {
			return err
		}
		if !r.null() {
			if g.Meta, err = r.bytes("genesis meta", -1); err != nil {
				return err
			}
			if len(g.Meta) == 0 || len(g.Meta) > MaxGenesisMeta {
				return fmt.Errorf("genesis meta of %d bytes (none is null; at most %d)", len(g.Meta), MaxGenesisMeta)
			}
		}
		sig, err := r.bytes("genesis signature", 64)
		if err != nil {
			return err
		}
		g.Author, g.Key, g.Sig = [32]byte(author), [32]byte(key), [64]byte(sig)
		return r.end("genesis")
	}()
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %v", ErrGenesis, ErrFormat, err)
	}
	if !bytes.Equal(page, g.encode(true)) {
		return nil, fmt.Errorf("%w: %w: not in canonical form", ErrGenesis, ErrFormat)
	}
	if err := checkName(g.Name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGenesis, err)
	}
	if err := CheckKey(g.Author); err != nil {
		return nil, fmt.Errorf("%w: author: %v", ErrGenesis, err)
	}
	if err := CheckKey(g.Key); err != nil {
		return nil, fmt.Errorf("%w: book key: %v", ErrGenesis, err)
	}
	if !ed25519.Verify(g.Author[:], g.SignedBytes(), g.Sig[:]) {
		return nil, fmt.Errorf("%w: %w: by its author", ErrGenesis, ErrSignature)
	}
	if a, ok := NameAuthor(g.Name); ok && a != g.Author {
		return nil, fmt.Errorf("%w: name %q names another author", ErrGenesis, g.Name)
	}
	return g, nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameSize || !utf8.ValidString(name) {
		return fmt.Errorf("name of %d bytes: want 1 to %d bytes of UTF-8", len(name), MaxNameSize)
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("name with control character %U", c)
		}
	}
	return nil
}

// zbase32 is the text form of peer ids: 52 characters for 32 bytes.
var zbase32 = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// IDText returns a key's text form.
func IDText(key [32]byte) string { return zbase32.EncodeToString(key[:]) }

// NameAuthor returns the author a name binds: a name that starts with a
// peer id in text form (52 characters, canonical, a usable key) and '-'
// must be written by that peer.
func NameAuthor(name string) ([32]byte, bool) {
	if len(name) <= 52 || name[52] != '-' {
		return [32]byte{}, false
	}
	b, err := zbase32.DecodeString(name[:52])
	if err != nil || len(b) != 32 || zbase32.EncodeToString(b) != name[:52] {
		return [32]byte{}, false
	}
	if CheckKey([32]byte(b)) != nil {
		return [32]byte{}, false
	}
	return [32]byte(b), true
}

// A RangeProof proves pages [start, end) against a head of length n:
// Left are the roots of the complete subtrees that tile [0, start), left
// to right; Tree is the consistency proof from size end to n.
type RangeProof struct {
	Left, Tree []Hash
}

// ParseRangeProof decodes [left, tree].
func ParseRangeProof(b []byte) (*RangeProof, error) {
	r := &reader{b: b}
	p, err := readRangeProof(r)
	if err == nil {
		err = r.end("range proof")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return p, nil
}

func readRangeProof(r *reader) (*RangeProof, error) {
	if n, err := r.array("range proof"); err != nil || n != 2 {
		return nil, fmt.Errorf("range proof: not an array of 2: %v", err)
	}
	left, err := r.hashes("left hashes", MaxProofHashes)
	if err != nil {
		return nil, err
	}
	tree, err := r.hashes("tree proof", MaxProofHashes)
	if err != nil {
		return nil, err
	}
	p := &RangeProof{}
	for _, h := range left {
		p.Left = append(p.Left, Hash(h))
	}
	for _, h := range tree {
		p.Tree = append(p.Tree, Hash(h))
	}
	return p, nil
}

// subtrees returns the complete subtrees that tile [0, n), left to right,
// as [lo, hi) pairs: one per bit of n, the largest first.
func subtrees(n uint64) [][2]uint64 {
	var out [][2]uint64
	var lo uint64
	for bit := uint64(1) << 63; bit > 0; bit >>= 1 {
		if n&bit != 0 {
			out = append(out, [2]uint64{lo, lo + bit})
			lo += bit
		}
	}
	return out
}

// VerifyRange checks pages, claimed to be pages [start, start+len(pages))
// of head's book, with proof. The head must be verified.
func VerifyRange(head *Head, start uint64, pages [][]byte, proof *RangeProof) error {
	end := start + uint64(len(pages))
	if len(pages) == 0 || end < start || end > head.Length {
		return fmt.Errorf("%w: %d pages at %d, head of length %d", ErrProof, len(pages), start, head.Length)
	}
	left := subtrees(start)
	if len(proof.Left) != len(left) || len(proof.Left)+len(proof.Tree) > MaxProofHashes {
		return fmt.Errorf("%w: %d left hashes, want %d", ErrProof, len(proof.Left), len(left))
	}
	known := make(map[[2]uint64]Hash, len(left))
	for i, t := range left {
		known[t] = proof.Left[i]
	}
	for i, p := range pages {
		if len(p) > MaxPageSize {
			return fmt.Errorf("%w: page %d of %d bytes", ErrFormat, start+uint64(i), len(p))
		}
	}
	root, err := treeHash(0, end, start, pages, known)
	if err != nil {
		return err
	}
	if end == head.Length {
		if len(proof.Tree) != 0 || root != head.Root {
			return fmt.Errorf("%w: pages [%d, %d) do not hash to the head's root", ErrProof, start, end)
		}
		return nil
	}
	if err := tlog.CheckTree(proof.Tree, int64(head.Length), head.Root, int64(end), root); err != nil {
		return fmt.Errorf("%w: pages [%d, %d) not in the head of length %d", ErrProof, start, end, head.Length)
	}
	return nil
}

// treeHash is RFC 6962's MTH over leaves [lo, hi): leaves from start on
// are pages[i-start], subtrees before start come from known.
func treeHash(lo, hi, start uint64, pages [][]byte, known map[[2]uint64]Hash) (Hash, error) {
	if h, ok := known[[2]uint64{lo, hi}]; ok {
		return h, nil
	}
	if hi-lo == 1 {
		if lo < start {
			return Hash{}, fmt.Errorf("%w: no hash for page %d", ErrProof, lo)
		}
		return tlog.RecordHash(pages[lo-start]), nil
	}
	k := uint64(1)
	for k<<1 < hi-lo {
		k <<= 1
	}
	l, err := treeHash(lo, lo+k, start, pages, known)
	if err != nil {
		return Hash{}, err
	}
	r, err := treeHash(lo+k, hi, start, pages, known)
	if err != nil {
		return Hash{}, err
	}
	return tlog.NodeHash(l, r), nil
}

// VerifyInclusion checks that page is page i of the head's tree with an
// RFC 6962 inclusion proof.
func VerifyInclusion(head *Head, i uint64, page []byte, proof tlog.RecordProof) error {
	if i >= head.Length || len(proof) > MaxProofHashes {
		return fmt.Errorf("%w: page %d of %d", ErrProof, i, head.Length)
	}
	if err := tlog.CheckRecord(proof, int64(head.Length), head.Root, int64(i), tlog.RecordHash(page)); err != nil {
		return fmt.Errorf("%w: page %d not in the head of length %d", ErrProof, i, head.Length)
	}
	return nil
}

// VerifyConsistency checks that newer extends older: two verified heads of
// one book and an RFC 6962 consistency proof from older's length.
func VerifyConsistency(older, newer *Head, proof tlog.TreeProof) error {
	switch {
	case older.Key != newer.Key:
		return fmt.Errorf("%w: heads of two books", ErrProof)
	case older.Length > newer.Length:
		return fmt.Errorf("%w: head of length %d is not older than %d", ErrProof, older.Length, newer.Length)
	case older.Length == newer.Length:
		if older.Root != newer.Root || len(proof) != 0 {
			return fmt.Errorf("%w: two roots at length %d: a fork", ErrProof, older.Length)
		}
		return nil
	case older.Length == 0:
		return nil
	}
	if err := tlog.CheckTree(proof, int64(newer.Length), newer.Root, int64(older.Length), older.Root); err != nil {
		return fmt.Errorf("%w: head of length %d does not extend %d", ErrProof, newer.Length, older.Length)
	}
	return nil
}

// A Book is a verified book: its head, genesis and pages from 0.
type Book struct {
	Head    *Head
	Genesis *Genesis
	Pages   [][]byte
}

// VerifyBook checks a whole book: the signed head (CBOR), and pages
// [0, head length), page 0 a genesis of the head's key.
func VerifyBook(head []byte, pages [][]byte) (*Book, error) {
	h, err := ParseHead(head)
	if err != nil {
		return nil, err
	}
	if uint64(len(pages)) != h.Length {
		return nil, fmt.Errorf("%w: %d pages, head of length %d", ErrProof, len(pages), h.Length)
	}
	if err := VerifyRange(h, 0, pages, &RangeProof{}); err != nil {
		return nil, err
	}
	g, err := VerifyGenesis(h, pages[0])
	if err != nil {
		return nil, err
	}
	return &Book{Head: h, Genesis: g, Pages: pages}, nil
}

// VerifyGenesis parses page 0 and checks that it is the genesis of the
// head's book. The page must be proven against the head too (VerifyRange
// or VerifyInclusion).
func VerifyGenesis(head *Head, page []byte) (*Genesis, error) {
	g, err := ParseGenesis(page)
	if err != nil {
		return nil, err
	}
	if g.Key != head.Key {
		return nil, fmt.Errorf("%w: genesis of another book", ErrGenesis)
	}
	return g, nil
}
