package search

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Bounds of a search.
const (
	MaxQuery     = 256 // bytes of a query; a longer one is refused
	DefaultLimit = 20  // results when Options.Limit is 0
	MaxLimit     = 200 // the most results one search returns
)

// ErrQueryTooLong: a query of more than MaxQuery bytes.
var ErrQueryTooLong = errors.New("search: query too long")

// A Doc is one message as the index keeps it.
type Doc struct {
	Task string `json:"task"` // the task's id
	ID   string `json:"id"`   // the message's id in its task ("by/mid")
	Key  string `json:"key"`  // the message's key (its place in the task's timeline)
	By   string `json:"by"`   // the author
	Text string `json:"text"`
	Date int64  `json:"date"` // Unix ms
}

// A Result is a document that matches, with the part of its text around
// the first match (one line, control and bidi characters replaced).
type Result struct {
	Doc
	Snippet string `json:"snippet"`
}

// Options narrow a search.
type Options struct {
	Task  string // only this task's messages; "" for every task
	Limit int    // at most this many results (0: DefaultLimit; at most MaxLimit)
}

// An Index is a full-text index of documents; its methods are safe for
// concurrent use.
type Index struct {
	mu       sync.Mutex          // guards every field below
	docs     []entry             // by document number
	ids      map[docID]uint32    // the live documents by task and id
	postings map[string][]uint32 // the documents holding each term, ascending
	vocab    []string            // the terms, sorted; fresh ones not yet
	fresh    []string            // terms added since vocab was sorted
	order    []uint32            // document numbers, newest first up to sorted
	sorted   int                 // order[:sorted] is sorted; the rest is new
	set      bitset              // scratch space of match
	other    bitset              // scratch space of match
}

type entry struct {
	Doc
	dead bool // replaced or removed
}

type docID struct{ task, id string }

// New returns an empty index.
func New() *Index {
	return &Index{ids: make(map[docID]uint32), postings: make(map[string][]uint32)}
}

// Add indexes d; a document of the same task and id is replaced (an
// edit), unless it is the same (then Add does nothing).
func (ix *Index) Add(d Doc) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	k := docID{d.Task, d.ID}
	if n, ok := ix.ids[k]; ok {
		if ix.docs[n].Doc == d {
			return
		}
		ix.docs[n].dead = true
	}
	n := uint32(len(ix.docs))
	ix.docs = append(ix.docs, entry{Doc: d})
	ix.ids[k] = n
	ix.order = append(ix.order, n)
	for _, t := range tokens(d.Text) {
		p := ix.postings[t.term]
		if len(p) > 0 && p[len(p)-1] == n {
			continue // the term again in the same document
		}
		if p == nil {
			ix.fresh = append(ix.fresh, t.term)
		}
		ix.postings[t.term] = append(p, n)
	}
}

// Retext replaces the text of the document of task and id (an edit),
// keeping its other fields; it reports whether there was one.
func (ix *Index) Retext(task, id, text string) bool {
	ix.mu.Lock()
	n, ok := ix.ids[docID{task, id}]
	var d Doc
	if ok {
		d = ix.docs[n].Doc
	}
	ix.mu.Unlock()
	if ok {
		d.Text = text
		ix.Add(d)
	}
	return ok
}

// Remove drops the document of task and id (a deleted message); it
// reports whether there was one.
func (ix *Index) Remove(task, id string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n, ok := ix.ids[docID{task, id}]
	if ok {
		ix.docs[n].dead = true
		delete(ix.ids, docID{task, id})
	}
	return ok
}

// Len is the number of documents indexed (replaced and removed ones not
// counted).
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.ids)
}

// Has reports whether the document of task and id is indexed.
func (ix *Index) Has(task, id string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	_, ok := ix.ids[docID{task, id}]
	return ok
}

// Search returns the documents with, for every token of q, a word that
// starts with it, newest first. A query with no token finds nothing; one
// of more than MaxQuery bytes is refused.
func (ix *Index) Search(q string, o Options) ([]Result, error) {
	if len(q) > MaxQuery {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrQueryTooLong, len(q), MaxQuery)
	}
	terms := parseQuery(q)
	if len(terms) == 0 {
		return nil, nil
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.settle()
	found := ix.match(terms, o.Task, limit)
	out := make([]Result, len(found))
	for i, n := range found {
		d := ix.docs[n].Doc
		out[i] = Result{Doc: d, Snippet: snippet(d.Text, terms)}
	}
	return out, nil
}

// parseQuery returns q's distinct tokens.
func parseQuery(q string) []string {
	var out []string
	for _, t := range tokens(q) {
		if !slices.Contains(out, t.term) {
			out = append(out, t.term)
		}
	}
	return out
}

// match returns up to limit live documents of task ("": any) with a word
// starting with each of terms, newest first. Called with mu held, settled.
func (ix *Index) match(terms []string, task string, limit int) []uint32 {
	// Each term's words: a range of the vocabulary, and how many
	// postings they have.
	type words struct{ lo, hi, postings int }
	ws := make([]words, len(terms))
	for i, t := range terms {
		w := &ws[i]
		w.lo, _ = slices.BinarySearch(ix.vocab, t)
		for w.hi = w.lo; w.hi < len(ix.vocab) && strings.HasPrefix(ix.vocab[w.hi], t); w.hi++ {
			w.postings += len(ix.postings[ix.vocab[w.hi]])
		}
		if w.postings == 0 {
			return nil
		}
	}
	// Fewest postings first (sort.Slice: one sort in the module for every element type, docs/benchmarks.md "Module size").
	sort.Slice(ws, func(i, j int) bool { return ws[i].postings < ws[j].postings })
	// The sets are scratch space kept between searches: a search per
	// keystroke allocates next to nothing (in the browser, garbage
	// collection pauses are the slow keystrokes).
	set, other := ix.scratch(&ix.set), ix.scratch(&ix.other)
	union := func(into bitset, w words) {
		for _, t := range ix.vocab[w.lo:w.hi] {
			into.addAll(ix.postings[t])
		}
	}
	union(set, ws[0])
	for _, w := range ws[1:] {
		clear(other)
		union(other, w)
		set.and(other)
	}
	keep := func(n uint32) bool {
		e := &ix.docs[n]
		return !e.dead && (task == "" || e.Task == task)
	}
	// Few candidates: sort them; many: walk the documents by date.
	var out []uint32
	if ws[0].postings <= len(ix.docs)/32 {
		set.each(func(n uint32) {
			if keep(n) {
				out = append(out, n)
			}
		})
		slices.SortFunc(out, ix.newestFirst)
		return out[:min(len(out), limit)]
	}
	for _, n := range ix.order {
		if set.has(n) && keep(n) {
			if out = append(out, n); len(out) == limit {
				break
			}
		}
	}
	return out
}

// newestFirst orders documents by date, then key, then id, newest first.
func (ix *Index) newestFirst(a, b uint32) int {
	x, y := &ix.docs[a], &ix.docs[b]
	if c := cmp.Compare(y.Date, x.Date); c != 0 {
		return c
	}
	if c := strings.Compare(y.Key, x.Key); c != 0 {
		return c
	}
	if c := strings.Compare(y.Task, x.Task); c != 0 {
		return c
	}
	return strings.Compare(y.ID, x.ID)
}

// settle brings vocab and order up to date. Called with mu held.
func (ix *Index) settle() {
	if len(ix.fresh) > 0 {
		slices.Sort(ix.fresh)
		ix.vocab = mergeSorted(ix.vocab, ix.fresh, strings.Compare)
		ix.fresh = nil
	}
	if ix.sorted < len(ix.order) {
		tail := slices.Clone(ix.order[ix.sorted:])
		slices.SortFunc(tail, ix.newestFirst)
		ix.order = mergeSorted(ix.order[:ix.sorted], tail, ix.newestFirst)
		ix.sorted = len(ix.order)
	}
}

// mergeSorted merges b into a, both sorted: in place when b is short (the
// messages that came while the user typed), else into a new slice.
func mergeSorted[T any](a, b []T, less func(x, y T) int) []T {
	if len(b) <= 64 {
		for _, x := range b {
			i, _ := slices.BinarySearchFunc(a, x, less)
			a = slices.Insert(a, i, x)
		}
		return a
	}
	out := make([]T, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if less(b[0], a[0]) < 0 {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// bitset is a set of document numbers.
type bitset []uint64

// scratch returns *b emptied, grown to hold every document.
func (ix *Index) scratch(b *bitset) bitset {
	n := (len(ix.docs) + 63) / 64
	if cap(*b) < n {
		*b = make(bitset, n, n+n/4)
	}
	*b = (*b)[:n]
	clear(*b)
	return *b
}

func (b bitset) addAll(ns []uint32) {
	for _, n := range ns {
		b[n>>6] |= 1 << (n & 63)
	}
}

// each calls fn with every number in b, ascending.
func (b bitset) each(fn func(n uint32)) {
	for i, w := range b {
		for w != 0 {
			fn(uint32(i*64 + bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}

func (b bitset) has(n uint32) bool { return b[n>>6]&(1<<(n&63)) != 0 }

// and makes b b ∩ o.
func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}
