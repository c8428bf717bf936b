package journal

import (
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Errors. Each is wrapped with the book and what was wrong; test with errors.Is.
var (
	// ErrNotFound means a book or page is not in the store.
	ErrNotFound = errors.New("not found")
	// ErrReadOnly means an append to a book this profile does not author.
	ErrReadOnly = errors.New("read-only book: only its author can append")
	// ErrUnauthorized means the store or a book name belongs to another identity.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBadSignature means a head or genesis signature does not check.
	ErrBadSignature = errors.New("bad signature")
	// ErrBadProof means a Merkle proof does not match the head it claims.
	ErrBadProof = errors.New("bad proof")
	// ErrStaleHead means a head older than the one already accepted.
	ErrStaleHead = errors.New("stale head")
	// ErrForked means the author signed two heads that cannot both be true.
	// The book keeps both as evidence and accepts no more heads.
	ErrForked = errors.New("book forked")
	// ErrBadGenesis means page 0 does not bind the book to its author.
	ErrBadGenesis = errors.New("bad genesis page")
	// ErrMalformed means bytes that do not decode as the format they claim.
	ErrMalformed = errors.New("malformed")
	// ErrTooLarge means a page, name or message over its bound.
	ErrTooLarge = errors.New("too large")
	// ErrBadName means a book name that is empty, too long or not text.
	ErrBadName = errors.New("bad book name")
	// ErrSchema means the store was written by a newer, unknown schema.
	ErrSchema = errors.New("unsupported storage schema")
	// ErrStaleWriter means another writer (a tab, a device or an old
	// backup with the same seed, i.e. another DB on the same store)
	// wrote the book since this DB read it: nothing was written, and this
	// DB's book stays as it was and refuses every later write with this
	// error. Reopen the DB (Open again on the store) to continue from the
	// stored head.
	// ErrDeleted means a write to a book this DB deleted (DeleteBook).
	ErrDeleted     = errors.New("book deleted")
	ErrStaleWriter = errors.New("stale writer: another writer (tab or device) wrote this book; reopen")
)

// A VerifyError says which book and which page failed verification, and why.
type VerifyError struct {
	Book  identity.ID
	Index uint64 // first page concerned, or the head length
	What  string
	Err   error // one of the sentinels above
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("book %s: %s at %d: %v", e.Book.Short(), e.What, e.Index, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

func verifyErr(book identity.ID, index uint64, err error, format string, args ...any) error {
	return &VerifyError{Book: book, Index: index, What: fmt.Sprintf(format, args...), Err: err}
}
