package journal

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/yield"
	"github.com/task-messenger/task-messenger/wasm/journal/internal/rfc6962"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// Tree layout in the store. Each page i of a book is stored with the tree
// hashes that tlog.StoredHashes returns when i is appended: the leaf hash
// and one hash per subtree that page i completes. The page's record (kept
// in a chunk, below) is
//
//	k (1 byte) ‖ k hashes (32 bytes each, level 0 first) ‖ page
//
// So the hash with stored index s = tlog.StoredHashIndex(level, n) lives in
// the record of page (n+1)<<level - 1 at position level, and the hashes
// cost no store write of their own.

// maxRecordHashes bounds k: a page completes at most 63 subtrees.
const maxRecordHashes = 64

// recordSize is the size of the record of a page of n bytes with k hashes.
func recordSize(k, n int) int { return 1 + k*tlog.HashSize + n }

// appendRecord appends the record of page with its hashes to dst.
func appendRecord(dst []byte, hashes []Hash, page []byte) []byte {
	dst = append(dst, byte(len(hashes)))
	for _, h := range hashes {
		dst = append(dst, h[:]...)
	}
	return append(dst, page...)
}

// Pages are stored in chunks: the records of a run of consecutive pages
// in one value of the pages table, under the key of the run's last page,
//
//	0xFF ‖ uvarint n ‖ n uvarint record sizes ‖ the n records
//
// for n >= 2, or the record alone for one page (the only form of store
// schema version 1, whose values are read as chunks of one page: a
// record's first byte, its hash count, is at most maxRecordHashes). An
// IndexedDB put costs about as much as 16 KiB of value (docs/benchmarks.md,
// "Pages in chunks"), so a batch of 100 small pages is a few puts, not 100.
//
// The page i is in the first chunk whose key is at or after page key i,
// if that chunk starts at or before i. That holds because chunks of a book
// never overlap: a page is written once (a replica writes only the pages
// it does not hold), and a book's pages are deleted all at once.
const (
	chunkMark = 0xff
	// maxChunkPages bounds the pages of a chunk, so its decoder too.
	maxChunkPages = 64
	// chunkBytes is where a chunk is closed: a page that would take it past
	// this size starts the next one (a page larger than it is one chunk).
	chunkBytes = 16 << 10
)

// putPages adds to batch the chunks of pages from start on, with their
// hashes (copies: the store keeps what it is given), and returns each
// page's record, a slice of its chunk. Chunks and keys are built in one
// allocation each, whatever the number of pages.
func putPages(batch *store.Batch, book identity.ID, start uint64, pages [][]byte, hashes [][]Hash) [][]byte {
	type run struct{ i, j int } // pages [i, j)
	var runs []run
	size := 0
	for i := 0; i < len(pages); {
		j, body, head := i, 0, 0
		for ; j < len(pages) && j-i < maxChunkPages; j++ {
			r := recordSize(len(hashes[j]), len(pages[j]))
			if j > i && body+r > chunkBytes {
				break
			}
			body += r
			head += uvarintLen(uint64(r))
		}
		if j-i > 1 {
			size += 1 + uvarintLen(uint64(j-i)) + head
		}
		size += body
		runs = append(runs, run{i, j})
		i = j
	}
	arena := make([]byte, 0, size)
	keys := make([]byte, 0, len(runs)*pageKeySize)
	recs := make([][]byte, len(pages))
	for _, r := range runs {
		n := len(arena)
		if r.j-r.i > 1 {
			arena = append(arena, chunkMark)
			arena = binary.AppendUvarint(arena, uint64(r.j-r.i))
			for p := r.i; p < r.j; p++ {
				arena = binary.AppendUvarint(arena, uint64(recordSize(len(hashes[p]), len(pages[p]))))
			}
		}
		for p := r.i; p < r.j; p++ {
			m := len(arena)
			arena = appendRecord(arena, hashes[p], pages[p])
			recs[p] = arena[m:len(arena):len(arena)]
		}
		keys = appendPageKey(keys, book, start+uint64(r.j-1))
		batch.Put(store.TablePages, keys[len(keys)-pageKeySize:len(keys):len(keys)], arena[n:len(arena):len(arena)])
	}
	return recs
}

// putMissing is putPages for those of pages [start, start+len(pages))
// that have does not list, so that no page is written twice. It returns
// every page's record (those of the pages held built apart, for the
// recent pages).
func putMissing(batch *store.Batch, book identity.ID, have Ranges, start uint64, pages [][]byte, hashes [][]Hash) [][]byte {
	end := start + uint64(len(pages))
	miss := have.Missing(start, end)
	if len(miss) == 1 && miss[0].Start == start && miss[0].End == end {
		return putPages(batch, book, start, pages, hashes)
	}
	recs := make([][]byte, len(pages))
	for _, r := range miss {
		a, b := r.Start-start, r.End-start
		copy(recs[a:b], putPages(batch, book, r.Start, pages[a:b], hashes[a:b]))
	}
	for i, r := range recs {
		if r == nil {
			recs[i] = appendRecord(make([]byte, 0, recordSize(len(hashes[i]), len(pages[i]))), hashes[i], pages[i])
		}
	}
	return recs
}

// uvarintLen is the size of v as binary.AppendUvarint writes it.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// splitChunk returns the records of a stored chunk whose key is that of
// page last, and the index of its first page.
func splitChunk(last uint64, v []byte) (first uint64, recs [][]byte, err error) {
	if len(v) == 0 || v[0] != chunkMark {
		if _, _, err := splitRecord(v); err != nil {
			return 0, nil, err
		}
		return last, [][]byte{v}, nil
	}
	bad := func(what string) error {
		return fmt.Errorf("%w: chunk of %d bytes ending at page %d: %s", ErrMalformed, len(v), last, what)
	}
	b := v[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n < 2 || n > maxChunkPages || n-1 > last {
		return 0, nil, bad("page count")
	}
	b = b[k:]
	recs = make([][]byte, n)
	total := uint64(0)
	for i := range recs {
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(v)) {
			return 0, nil, bad("record size")
		}
		b = b[k:]
		recs[i] = v[:size] // a length only, cut below
		total += size
	}
	if total != uint64(len(b)) {
		return 0, nil, bad("record sizes do not add up")
	}
	for i, r := range recs {
		recs[i], b = b[:len(r):len(r)], b[len(r):]
	}
	return last - (n - 1), recs, nil
}

// chunkPages returns the first and last page of a chunk entry of book
// (Scan or Seek in its pages range) and its records.
func chunkPages(book identity.ID, e store.Entry) (first, last uint64, recs [][]byte, err error) {
	if len(e.Key) != pageKeySize || identity.ID(e.Key[:identity.IDSize]) != book {
		return 0, 0, nil, fmt.Errorf("%w: page key %x in book %s", ErrMalformed, e.Key, book.Short())
	}
	last = binary.BigEndian.Uint64(e.Key[identity.IDSize:])
	first, recs, err = splitChunk(last, e.Value)
	return first, last, recs, err
}

// readRecords returns the record of each of pages of book: from recent
// if it keeps it, from the store otherwise, in one call; nil for a page
// the store does not hold.
func readRecords(ctx context.Context, st store.Store, book identity.ID, recent *recentPages, pages []uint64) ([][]byte, error) {
	out := make([][]byte, len(pages))
	var keys [][]byte
	seek := make(map[uint64]int) // page -> its key in keys: a proof may want several hashes of one page
	for i, p := range pages {
		if recent != nil {
			if v, ok := recent.get(p); ok {
				out[i] = v
				continue
			}
		}
		if _, ok := seek[p]; !ok {
			seek[p] = len(keys)
			keys = append(keys, pageKey(book, p))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	_, end := pagesRange(book)
	es, err := st.Seek(ctx, store.TablePages, end, keys...)
	if err != nil {
		return nil, err
	}
	type chunk struct {
		first uint64
		recs  [][]byte // nil: no chunk at or after the key
	}
	chunks := make([]chunk, len(es))
	for j, e := range es {
		if e.Key == nil {
			continue
		}
		first, _, recs, err := chunkPages(book, e)
		if err != nil {
			return nil, err
		}
		chunks[j] = chunk{first, recs}
	}
	for i, p := range pages {
		j, ok := seek[p]
		if !ok || out[i] != nil {
			continue // kept in recent
		}
		if c := chunks[j]; c.recs != nil && p >= c.first {
			out[i] = c.recs[p-c.first]
		}
	}
	return out, nil
}

// readSpan returns the records of pages [start, end) of book from the
// store, which must hold them all: the chunks that end in the span, and
// the one after if the span ends inside it.
func readSpan(ctx context.Context, st store.Store, book identity.ID, start, end uint64) ([][]byte, error) {
	es, err := st.Scan(ctx, store.TablePages, pageKey(book, start), pageKey(book, end), 0)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, end-start)
	next := start
	add := func(e store.Entry) error {
		first, last, recs, err := chunkPages(book, e)
		if err != nil {
			return err
		}
		if first > next {
			return fmt.Errorf("%w: page %d not stored", ErrNotFound, next)
		}
		last = min(last, end-1)
		out = append(out, recs[next-first:last-first+1]...)
		next = last + 1
		return nil
	}
	for _, e := range es {
		if err := add(e); err != nil {
			return nil, err
		}
	}
	if next < end {
		_, bookEnd := pagesRange(book)
		tail, err := st.Seek(ctx, store.TablePages, bookEnd, pageKey(book, next))
		if err != nil {
			return nil, err
		}
		if tail[0].Key == nil {
			return nil, fmt.Errorf("%w: page %d not stored", ErrNotFound, next)
		}
		if err := add(tail[0]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// splitRecord returns the hashes and the page of a stored record.
func splitRecord(v []byte) (hashes, page []byte, err error) {
	if len(v) == 0 || int(v[0]) > maxRecordHashes || len(v) < recordSize(int(v[0]), 0) {
		return nil, nil, fmt.Errorf("%w: page record of %d bytes", ErrMalformed, len(v))
	}
	n := recordSize(int(v[0]), 0)
	return v[1:n], v[n:], nil
}

// pageKeySize is the size of a page key.
const pageKeySize = identity.IDSize + 8

// pageKey is the store key of page i of book: the book key, then i big-endian.
func pageKey(book identity.ID, i uint64) []byte {
	return appendPageKey(make([]byte, 0, pageKeySize), book, i)
}

// appendPageKey appends the page key to dst.
func appendPageKey(dst []byte, book identity.ID, i uint64) []byte {
	dst = append(dst, book[:]...)
	return binary.BigEndian.AppendUint64(dst, i)
}

// hashOwner returns the page whose hashes record holds stored index s, and
// the level (offset) of that hash in it.
func hashOwner(s int64) (page int64, level int) {
	level, n := tlog.SplitStoredHashIndex(s)
	return (n+1)<<level - 1, level
}

// storeHashes reads stored hashes of a book from the store.
type storeHashes struct {
	ctx    context.Context
	st     store.Store
	book   identity.ID
	recent *recentPages // may be nil
	keep   int          // the most hashes read from the store that recent keeps
}

// ReadHashes implements tlog.HashReader: from the book's recent records
// and the hashes it keeps, and for the others one store read (whose
// hashes are then kept).
func (r storeHashes) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	var (
		missing []int // positions in indexes of hashes not in memory
		pages   []uint64
		levels  []int
	)
	for i, s := range indexes {
		page, level := hashOwner(s)
		if r.recent != nil {
			if h, ok := r.recent.hash(s); ok {
				out[i] = h
				continue
			}
			if v, ok := r.recent.get(uint64(page)); ok {
				if err := hashOf(&out[i], v, level); err != nil {
					return nil, fmt.Errorf("%w: tree hash %d of book %s", err, s, r.book.Short())
				}
				continue
			}
		}
		missing = append(missing, i)
		pages, levels = append(pages, uint64(page)), append(levels, level)
	}
	if len(missing) == 0 {
		return out, nil
	}
	recs, err := readRecords(r.ctx, r.st, r.book, nil, pages)
	if err != nil {
		return nil, err
	}
	read, found := make([]int64, len(missing)), make([]Hash, len(missing))
	for j, v := range recs {
		s := indexes[missing[j]]
		if err := hashOf(&found[j], v, levels[j]); err != nil {
			return nil, fmt.Errorf("%w: tree hash %d of book %s", err, s, r.book.Short())
		}
		read[j], out[missing[j]] = s, found[j]
	}
	if r.recent != nil {
		r.recent.keepHashes(read, found, r.keep)
	}
	return out, nil
}

// hashOf sets h to the tree hash of the given level in a page's record.
func hashOf(h *Hash, rec []byte, level int) error {
	hs, _, err := splitRecord(rec)
	off := level * tlog.HashSize
	if err != nil || len(hs) < off+tlog.HashSize {
		return ErrNotFound
	}
	copy(h[:], hs[off:])
	return nil
}

// treeIndexes returns the stored indexes TreeHash(n) reads: the roots of the
// complete subtrees that tile [0, n) (the tree's right frontier), left to
// right: one for each bit set in n, from the highest.
func treeIndexes(n int64) []int64 {
	out := make([]int64, 0, bits.OnesCount64(uint64(n)))
	var done int64 // the pages the subtrees so far cover
	for level := 62; level >= 0; level-- {
		if size := int64(1) << level; n&size != 0 {
			out = append(out, tlog.StoredHashIndex(level, done>>level))
			done += size
		}
	}
	return out
}

// leftIndexes returns, in ascending order, the stored indexes of the hashes
// outside [start, end) that a verifier needs, beside pages [start, end), to
// compute the tree hash of size end: roots of subtrees entirely in [0,
// start), which are the frontier of the tree of size start whatever end is
// (TestLeftIsFrontier derives them from the range).
func leftIndexes(start, end int64) []int64 { return treeIndexes(start) }

// leafHashes returns the RFC 6962 leaf hash of each page (tlog's, about
// twice as fast in the browser: package rfc6962).
func leafHashes(pages [][]byte) []Hash {
	leaves := make([]Hash, len(pages))
	for i, p := range pages {
		if i > 0 && i%hashesPerYield == 0 {
			yield.Now()
		}
		leaves[i] = rfc6962.RecordHash(p)
	}
	return leaves
}

// hashesPerYield is how many pages leafHashes hashes between yields
// (yield.Now): 2-4 ms of SHA-256 in a browser, where the data message of
// a catch-up (thousands of pages) would otherwise hold back the page's
// tasks, the next message's frames among them, while it is verified.
const hashesPerYield = 512

// growReader answers the hashes a run of appends needs: those stored by the
// run itself (fresh, starting at stored index base) and older ones (old).
type growReader struct {
	base  int64
	fresh []Hash
	old   func(s int64) (Hash, bool)
}

func (r *growReader) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, s := range indexes {
		if s >= r.base {
			if s-r.base >= int64(len(r.fresh)) {
				return nil, fmt.Errorf("journal: tree hash %d not yet computed", s)
			}
			out[i] = r.fresh[s-r.base]
			continue
		}
		h, ok := r.old(s)
		if !ok {
			return nil, fmt.Errorf("%w: tree hash %d", ErrBadProof, s)
		}
		out[i] = h
	}
	return out, nil
}

// grow computes the stored hashes of pages [start, start+len(leaves)) from
// their leaf hashes, and the tree hash of size start+len(leaves). old answers
// hashes of subtrees before start. It returns the fresh hashes, in stored
// index order from StoredHashIndex(0, start), and per page their count.
func grow(start int64, leaves []Hash, old func(int64) (Hash, bool)) (fresh []Hash, counts []int, root Hash, err error) {
	r := &growReader{base: tlog.StoredHashIndex(0, start), old: old, fresh: make([]Hash, 0, 2*len(leaves)+1)}
	counts = make([]int, len(leaves))
	for i, h := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(start+int64(i), h, r)
		if err != nil {
			return nil, nil, Hash{}, err
		}
		r.fresh = append(r.fresh, hs...)
		counts[i] = len(hs)
	}
	root, err = tlog.TreeHash(start+int64(len(leaves)), r)
	return r.fresh, counts, root, err
}

// extend is grow for an author, who holds the frontier of its tree (the
// roots of the subtrees that tile [0, start), largest first, as
// treeIndexes(start) orders them): it combines the new leaves on a stack of
// subtree roots, as binary counting carries, with no lookups and no
// allocation per page. It also returns the frontier after the leaves,
// which must not be empty.
func extend(f frontier, start int64, leaves []Hash) (fresh []Hash, counts []int, root Hash, next frontier) {
	type subtree struct {
		level int
		hash  Hash
	}
	stack := make([]subtree, len(f), len(f)+bits.Len64(uint64(start)+uint64(len(leaves)))+1)
	for i, e := range f {
		level, _ := tlog.SplitStoredHashIndex(e.index)
		stack[i] = subtree{level, e.hash}
	}
	fresh = make([]Hash, 0, 2*len(leaves)+1)
	counts = make([]int, len(leaves))
	for i, h := range leaves {
		fresh = append(fresh, h)
		level := 0
		for len(stack) > 0 && stack[len(stack)-1].level == level {
			h = rfc6962.NodeHash(stack[len(stack)-1].hash, h)
			stack = stack[:len(stack)-1]
			level++
			fresh = append(fresh, h)
		}
		stack = append(stack, subtree{level, h})
		counts[i] = level + 1
	}
	root = stack[len(stack)-1].hash
	for i := len(stack) - 2; i >= 0; i-- {
		root = rfc6962.NodeHash(stack[i].hash, root)
	}
	next = make(frontier, len(stack))
	lo := int64(0)
	for i, t := range stack {
		next[i] = storedHash{tlog.StoredHashIndex(t.level, lo>>t.level), t.hash}
		lo += 1 << t.level
	}
	return fresh, counts, root, next
}

// A RangeProof proves pages [start, end) of a book against a head of length
// n >= end: Left are the hashes of leftIndexes(start, end), in that order,
// from which with the pages the verifier computes the tree hash of size end;
// Tree is the tlog consistency proof from size end to size n (empty when
// end == n).
type RangeProof struct {
	Left []Hash
	Tree tlog.TreeProof
}

type wireRangeProof struct {
	_    struct{} `cbor:",toarray"`
	Left [][]byte
	Tree [][]byte
}

// MarshalCBOR implements cbor.Marshaler (wireRangeProof's encoding,
// written by hand: AppendRangeProof).
func (p RangeProof) MarshalCBOR() ([]byte, error) {
	return AppendRangeProof(make([]byte, 0, 4+p.Size()*(tlog.HashSize+2)), &p), nil
}

// UnmarshalCBOR implements cbor.Unmarshaler, checking every hash's size.
func (p *RangeProof) UnmarshalCBOR(b []byte) error {
	return unmarshalWire(p, b, ReadRangeProof, decodeRangeProof)
}

// decodeRangeProof decodes a range proof with the general decoder.
func decodeRangeProof(b []byte) (RangeProof, error) {
	var w wireRangeProof
	if err := decMode.Unmarshal(b, &w); err != nil {
		return RangeProof{}, fmt.Errorf("range proof: %w: %v", ErrMalformed, err)
	}
	if len(w.Left)+len(w.Tree) > MaxProofHashes {
		return RangeProof{}, fmt.Errorf("range proof: %w: %d hashes", ErrTooLarge, len(w.Left)+len(w.Tree))
	}
	left, err := hashesFromWire(w.Left)
	if err != nil {
		return RangeProof{}, err
	}
	tree, err := hashesFromWire(w.Tree)
	if err != nil {
		return RangeProof{}, err
	}
	return RangeProof{Left: left, Tree: tree}, nil
}

func hashesToWire(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func hashesFromWire(bs [][]byte) ([]Hash, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%w: hash of %d bytes", ErrMalformed, len(b))
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// hashFromWire converts one hash, checking its size.
func hashFromWire(b []byte) (Hash, error) {
	var h Hash
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("%w: hash of %d bytes", ErrMalformed, len(b))
	}
	copy(h[:], b)
	return h, nil
}

// Size returns the number of hashes in the proof.
func (p *RangeProof) Size() int { return len(p.Left) + len(p.Tree) }

// VerifyRange checks pages, claimed to be pages [start, start+len(pages)) of
// the book of head, against head (whose signature the caller has checked).
// It returns the stored hashes to keep with each page.
func VerifyRange(head *Head, start uint64, pages [][]byte, proof *RangeProof) ([][]Hash, error) {
	end := start + uint64(len(pages))
	if len(pages) == 0 || end > head.Length || end < start {
		return nil, verifyErr(head.Key, start, ErrBadProof, "range of %d pages outside head length %d", len(pages), head.Length)
	}
	if proof.Size() > MaxProofHashes {
		return nil, verifyErr(head.Key, start, ErrTooLarge, "proof of %d hashes", proof.Size())
	}
	idx := leftIndexes(int64(start), int64(end))
	if len(idx) != len(proof.Left) {
		return nil, verifyErr(head.Key, start, ErrBadProof, "proof has %d left hashes, want %d", len(proof.Left), len(idx))
	}
	for i, p := range pages {
		if len(p) > MaxPageSize {
			return nil, verifyErr(head.Key, start+uint64(i), ErrTooLarge, "page of %d bytes", len(p))
		}
	}
	// The left hashes are the frontier of the tree of size start
	// (leftIndexes(start, end) is treeIndexes(start): extend_test.go).
	left := make(frontier, len(idx))
	for i, s := range idx {
		left[i] = storedHash{s, proof.Left[i]}
	}
	fresh, counts, root, _ := extend(left, int64(start), leafHashes(pages))
	if end == head.Length {
		if len(proof.Tree) != 0 || root != head.Root {
			return nil, verifyErr(head.Key, start, ErrBadProof, "pages [%d, %d) do not hash to the head's root", start, end)
		}
	} else if err := tlog.CheckTree(proof.Tree, int64(head.Length), head.Root, int64(end), root); err != nil {
		return nil, verifyErr(head.Key, start, ErrBadProof, "pages [%d, %d) not in head of length %d", start, end, head.Length)
	}
	return perPage(fresh, counts), nil
}

// perPage cuts the fresh hashes extend or grow returns into each page's,
// counts[i] of them for page i.
func perPage(fresh []Hash, counts []int) [][]Hash {
	out := make([][]Hash, len(counts))
	for i, c := range counts {
		out[i], fresh = fresh[:c:c], fresh[c:]
	}
	return out
}

// A Range is the half-open interval of page indexes [Start, End).
type Range struct {
	_     struct{} `cbor:",toarray"`
	Start uint64
	End   uint64
}

// Ranges is a sorted list of disjoint, non-adjacent ranges: the pages a
// replica holds.
type Ranges []Range

// Add returns rs with [start, end) added.
func (rs Ranges) Add(start, end uint64) Ranges {
	if start >= end {
		return rs
	}
	out := make(Ranges, 0, len(rs)+1)
	i := 0
	for ; i < len(rs) && rs[i].End < start; i++ {
		out = append(out, rs[i])
	}
	for ; i < len(rs) && rs[i].Start <= end; i++ {
		start, end = min(start, rs[i].Start), max(end, rs[i].End)
	}
	out = append(out, Range{Start: start, End: end})
	return append(out, rs[i:]...)
}

// Contains reports whether page i is in rs.
func (rs Ranges) Contains(i uint64) bool {
	j, _ := slices.BinarySearchFunc(rs, i, func(r Range, i uint64) int {
		switch {
		case r.End <= i:
			return -1
		case r.Start > i:
			return 1
		}
		return 0
	})
	return j < len(rs) && rs[j].Start <= i && i < rs[j].End
}

// Missing returns the parts of [start, end) not in rs.
func (rs Ranges) Missing(start, end uint64) Ranges {
	var out Ranges
	for _, r := range rs {
		if r.End <= start {
			continue
		}
		if r.Start >= end {
			break
		}
		if r.Start > start {
			out = append(out, Range{Start: start, End: r.Start})
		}
		start = max(start, r.End)
	}
	if start < end {
		out = append(out, Range{Start: start, End: end})
	}
	return out
}

// Count returns the number of pages in rs.
func (rs Ranges) Count() uint64 {
	var n uint64
	for _, r := range rs {
		n += r.End - r.Start
	}
	return n
}

// Remove returns rs without [start, end).
func (rs Ranges) Remove(start, end uint64) Ranges {
	if start >= end {
		return rs
	}
	var out Ranges
	for _, r := range rs {
		if r.End <= start || r.Start >= end {
			out = append(out, r)
			continue
		}
		if r.Start < start {
			out = append(out, Range{Start: r.Start, End: start})
		}
		if r.End > end {
			out = append(out, Range{Start: end, End: r.End})
		}
	}
	return out
}
