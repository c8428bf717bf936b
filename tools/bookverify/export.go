package bookverify

import (
	"encoding/json"
	"fmt"
)

// An Export is the JSON export of a profile's books (docs/format.md,
// "Export").
type Export struct {
	Format  string       `json:"format"`
	Version int          `json:"version"`
	Profile string       `json:"profile"`
	Date    int64        `json:"date"`
	Books   []ExportBook `json:"books"`
}

// ExportBook is one book of an Export: its CBOR head and pages [0, length),
// or no pages.
type ExportBook struct {
	Key    string   `json:"key"`
	Name   string   `json:"name,omitempty"`
	Author string   `json:"author"`
	Head   []byte   `json:"head"`
	Pages  [][]byte `json:"pages"`
}

// VerifiedBook is what VerifyExport checked of one book: always the head;
// the genesis and pages when the export has them.
type VerifiedBook struct {
	Head    *Head
	Genesis *Genesis // nil for a head-only book
	Pages   [][]byte
}

// VerifyExport decodes an export and verifies every book in it: the head's
// signature, and when pages are given, every page against the head and
// page 0 as the genesis of the book, naming the author and name the export
// claims.
func VerifyExport(data []byte) ([]VerifiedBook, error) {
	var ex Export
	if err := json.Unmarshal(data, &ex); err != nil {
		return nil, fmt.Errorf("%w: export: %v", ErrFormat, err)
	}
	if ex.Format != "taskmessenger-export" || ex.Version != 1 {
		return nil, fmt.Errorf("%w: not a taskmessenger-export version 1", ErrFormat)
	}
	out := make([]VerifiedBook, 0, len(ex.Books))
	for i, eb := range ex.Books {
		vb, err := verifyExportBook(&eb)
		if err != nil {
			return nil, fmt.Errorf("book %d (%s): %w", i, eb.Key, err)
		}
		out = append(out, vb)
	}
	return out, nil
}

func verifyExportBook(eb *ExportBook) (VerifiedBook, error) {
	h, err := ParseHead(eb.Head)
	if err != nil {
		return VerifiedBook{}, err
	}
	if IDText(h.Key) != eb.Key {
		return VerifiedBook{}, fmt.Errorf("%w: head of another book", ErrFormat)
	}
	if len(eb.Pages) == 0 {
		return VerifiedBook{Head: h}, nil
	}
	b, err := VerifyBook(eb.Head, eb.Pages)
	if err != nil {
		return VerifiedBook{}, err
	}
	if IDText(b.Genesis.Author) != eb.Author || b.Genesis.Name != eb.Name {
		return VerifiedBook{}, fmt.Errorf("%w: the export names author %s and name %q, the genesis %s and %q", ErrGenesis, eb.Author, eb.Name, IDText(b.Genesis.Author), b.Genesis.Name)
	}
	return VerifiedBook{Head: h, Genesis: b.Genesis, Pages: eb.Pages}, nil
}
