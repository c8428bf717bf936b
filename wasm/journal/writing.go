package journal

import (
	"runtime"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A Pending is an append of a book this DB authors whose write has begun
// and not ended: its pages (sealed, as they are stored), the head signed
// over them, and the proof of the pages under that head. It is not in the
// book: the write may yet fail (another writer, a full disk) or never end
// (the tab killed), and then the book's next append signs other pages at
// the same indexes. Only the EventAppend that follows a successful write
// makes it part of the book.
type Pending struct {
	Book  identity.ID
	Name  string
	Start uint64   // the book's length before the append: Pages[0]'s index
	Pages [][]byte // sealed, as stored
	Head  Head     // signed, of length Start+len(Pages)
	Proof RangeProof
}

// Writing calls fn with each append of a book this DB authors, as its
// write begins (Start > 0: the genesis is not told). An author's tab may
// show a reader the pages it is writing before they are stored, for the
// reader to check (Book.Preview) and show as pending, never to store: a
// reader stores what the author sends once its write is done, and a head
// that was only pending binds the author to nothing (it may sign another
// at the same length after a failed write). fn runs with the book's lock
// held: it must not block nor call into the DB.
func (db *DB) Writing(fn func(*Pending)) (cancel func()) { return addHook(db, &db.writing, fn) }

// emitWriting tells the Writing hooks of appends about to be written. The
// books' locks are held: the staged state and the frontiers before it are
// what the proofs are made of, without reading the store. If a hook was
// told, the goroutines ready to run go before the write is issued: in a
// browser they share one thread with it, and what a hook woke (a preview
// to send) is worth more than the write's head start.
func (db *DB) emitWriting(staged ...*stagedAppend) {
	if db.tellWriting(staged) {
		runtime.Gosched()
	}
}

func (db *DB) tellWriting(staged []*stagedAppend) (told bool) {
	db.hookMu.Lock()
	defer db.hookMu.Unlock()
	if len(db.writing) == 0 {
		return false
	}
	for _, st := range staged {
		p := st.pending()
		if p == nil {
			continue
		}
		for _, fn := range db.writing {
			fn(p)
			told = true
		}
	}
	return told
}

// pending returns the staged append as a Pending, or nil for the genesis
// (or, defensively, when the proof cannot be made from memory).
func (st *stagedAppend) pending() *Pending {
	if st.start == 0 {
		return nil
	}
	b := st.b
	r := &growReader{base: tlog.StoredHashIndex(0, int64(st.start)), fresh: st.fresh, old: b.frontier.get}
	left, err := r.ReadHashes(leftIndexes(int64(st.start), int64(st.head.Length)))
	if err != nil {
		return nil
	}
	return &Pending{Book: b.key, Name: st.rec.Name, Start: st.start, Pages: st.pages, Head: st.head, Proof: RangeProof{Left: left}}
}
