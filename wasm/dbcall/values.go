package dbcall

import (
	"encoding/json"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Info is a book as db.books lists it.
type Info struct {
	Key      identity.ID  `json:"key"`
	Name     string       `json:"name"`
	Writable bool         `json:"writable"`
	Verified bool         `json:"verified"`
	Forked   bool         `json:"forked"`
	Length   uint64       `json:"length"`
	Have     uint64       `json:"have"`
	Author   *identity.ID `json:"author,omitempty"`
}

// InfoOf is bi as db.books lists it.
func InfoOf(bi journal.BookInfo) Info {
	in := Info{Key: bi.Key, Name: bi.Name, Writable: bi.Writable, Verified: bi.Verified, Forked: bi.Forked,
		Length: bi.Head.Length, Have: bi.Have.Count()}
	if !bi.Author.IsZero() {
		a := bi.Author
		in.Author = &a
	}
	return in
}

// Book is what db.author and db.reader answer: the book object's fields.
type Book struct {
	Key      identity.ID `json:"key"`
	Name     string      `json:"name"`
	Writable bool        `json:"writable"`
}

// BookOf is b as db.author and db.reader answer it.
func BookOf(b *journal.Book) Book { return Book{Key: b.Key(), Name: b.Name(), Writable: b.Writable()} }

// HeadOf is a head as book.head() gives it.
func HeadOf(h journal.Head) map[string]any {
	if h.IsZero() {
		return map[string]any{"length": 0}
	}
	return map[string]any{"key": h.Key.String(), "length": h.Length, "root": fmt.Sprintf("%x", h.Root[:]), "signature": fmt.Sprintf("%x", h.Sig)}
}

// Page is a page as Do and Event give it: Page, a JSON value, or Bytes.
type Page struct {
	Page  json.RawMessage `json:"page,omitempty"`
	Bytes []byte          `json:"bytes,omitempty"`
}

// Genesis is page 0 as the page sees it.
type Genesis struct {
	Type   string          `json:"type"` // "genesis"
	Author identity.ID     `json:"author"`
	Key    identity.ID     `json:"key"`
	Name   string          `json:"name"`
	Meta   json.RawMessage `json:"meta,omitempty"`
}

// PageOf is page i: page 0 as its Genesis, a JSON page as it is, any
// other as bytes.
func PageOf(i uint64, p []byte) Page {
	if i == 0 {
		if g, err := journal.DecodeGenesis(p); err == nil {
			v := Genesis{Type: "genesis", Author: g.Author, Key: g.Key, Name: g.Name}
			if json.Valid(g.Meta) {
				v.Meta = g.Meta
			}
			b, _ := json.Marshal(v)
			return Page{Page: b}
		}
	}
	if len(p) > 0 && json.Valid(p) {
		return Page{Page: p}
	}
	return Page{Bytes: p}
}

// MaxEventPages bounds the bytes of pages an Event carries.
const MaxEventPages = 64 << 10

// EventType is the type of the events Event makes.
const EventType = "book"

// BookEvent is a journal event as a follower's hooks are made from it.
type BookEvent struct {
	Type   journal.EventType `json:"type"`
	Key    identity.ID       `json:"key"`
	Index  uint64            `json:"index"`
	Length uint64            `json:"length"`
	Count  int               `json:"count"`           // the pages appended or stored
	Pages  []Page            `json:"pages,omitempty"` // left out beyond MaxEventPages bytes
}

// BookEventOf is e as a follower gets it.
func BookEventOf(e journal.Event) BookEvent {
	be := BookEvent{Type: e.Type, Key: e.Book, Index: e.Index, Length: e.Head.Length, Count: len(e.Pages)}
	size := 0
	for _, p := range e.Pages {
		size += len(p)
	}
	if size <= MaxEventPages {
		for i, p := range e.Pages {
			be.Pages = append(be.Pages, PageOf(e.Index+uint64(i), p))
		}
	}
	return be
}

// Event is e as the JSON event {type: 'book', book} a tab forwards.
func Event(e journal.Event) json.RawMessage {
	b, _ := json.Marshal(struct {
		Type string    `json:"type"`
		Book BookEvent `json:"book"`
	}{EventType, BookEventOf(e)})
	return b
}
