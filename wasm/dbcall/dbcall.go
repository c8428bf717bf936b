package dbcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Prefix starts the name of every method of Do.
const Prefix = "db."

// MaxArgs is the most bytes of arguments Do reads: an import of
// MaxImport bytes given as a JSON string.
const MaxArgs = 2*MaxImport + 1<<10

// MaxImport is the largest export db.import reads, in bytes of JSON.
const MaxImport = 64 << 20

// Errors.
var (
	// ErrBadArgs: the arguments of a call are not what its method takes.
	ErrBadArgs = errors.New("bad arguments")
	// ErrUnknownMethod: no such db method.
	ErrUnknownMethod = errors.New("unknown db method")
	// ErrNotForwarded: the method is not carried out for a follower tab.
	ErrNotForwarded = errors.New("not possible from a follower tab")
)

// Is reports whether method is one of Do's.
func Is(method string) bool { return strings.HasPrefix(method, Prefix) }

// Do carries out method (db.books, db.author, …) with args, the JSON array
// of the call's arguments, on db; it returns the JSON result.
func Do(ctx context.Context, db *journal.DB, method string, args json.RawMessage) (json.RawMessage, error) {
	as, err := parseArgs(args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	v, err := do(ctx, db, method, as)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func do(ctx context.Context, db *journal.DB, method string, as []json.RawMessage) (any, error) {
	switch method {
	case "db.books":
		infos, err := db.Books(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]Info, len(infos))
		for i, bi := range infos {
			out[i] = InfoOf(bi)
		}
		return out, nil
	case "db.author":
		return author(ctx, db, as)
	case "db.reader":
		key, err := keyArg(as, "reader(key)")
		if err != nil {
			return nil, err
		}
		b, err := db.Reader(ctx, key)
		if err != nil {
			return nil, err
		}
		return BookOf(b), nil
	case "db.add":
		return add(ctx, db, as)
	case "db.get":
		return get(ctx, db, as)
	case "db.len", "db.head", "db.info":
		b, err := book(ctx, db, as, strings.TrimPrefix(method, Prefix))
		if err != nil {
			return nil, err
		}
		switch method {
		case "db.len":
			return b.Len(), nil
		case "db.head":
			return HeadOf(b.Head()), nil
		}
		return InfoOf(b.Info()), nil
	case "db.export":
		pass, err := passphrase(as)
		if err != nil {
			return nil, err
		}
		return backup.Of(ctx, db, pass)
	case "db.import":
		ex, err := ParseExport(at(as, 0))
		if err != nil {
			return nil, err
		}
		return db.Import(ctx, ex)
	case "db.reset":
		return nil, fmt.Errorf("reset: %w: this tab works through the tab that writes the profile, and the profile cannot be deleted under it: close the profile's other tabs first, or reset it in the messenger", ErrNotForwarded)
	}
	return nil, fmt.Errorf("%w %q: use db.books, db.author, db.reader, db.add, db.get, db.len, db.head, db.info, db.export or db.import", ErrUnknownMethod, method)
}

// badArgs is an ErrBadArgs with the JS API's text.
func badArgs(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadArgs}, a...)...)
}

// parseArgs reads a JSON array of arguments; empty or null is none.
func parseArgs(raw json.RawMessage) ([]json.RawMessage, error) {
	if len(raw) > MaxArgs {
		return nil, badArgs("arguments of %d bytes, at most %d", len(raw), MaxArgs)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var as []json.RawMessage
	if err := json.Unmarshal(raw, &as); err != nil {
		return nil, badArgs("arguments must be a JSON array: %v", err)
	}
	return as, nil
}

// at is argument i, or nil.
func at(as []json.RawMessage, i int) json.RawMessage {
	if i < len(as) {
		return bytes.TrimSpace(as[i])
	}
	return nil
}

// str is argument i if it is a string.
func str(as []json.RawMessage, i int) (string, bool) {
	v := at(as, i)
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func keyArg(as []json.RawMessage, what string) (identity.ID, error) {
	s, ok := str(as, 0)
	if !ok {
		return identity.ID{}, badArgs(`%s: no journal book "key" provided`, what)
	}
	key, err := identity.ParseID(s)
	if err != nil {
		return identity.ID{}, fmt.Errorf("%s: %w", what, err)
	}
	return key, nil
}

// book is the open or stored book of argument 0.
func book(ctx context.Context, db *journal.DB, as []json.RawMessage, what string) (*journal.Book, error) {
	key, err := keyArg(as, what)
	if err != nil {
		return nil, err
	}
	b, err := db.Get(ctx, key)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, fmt.Errorf("%s: no book %s in this profile: open it with author(name) or reader(key) first", what, key.Short())
	}
	return b, err
}

func author(ctx context.Context, db *journal.DB, as []json.RawMessage) (any, error) {
	name, ok := str(as, 0)
	if !ok || name == "" {
		return nil, badArgs(`author(name): no journal book "name" provided`)
	}
	var meta []byte
	if m := at(as, 1); len(m) > 0 && string(m) != "null" {
		meta = m
	}
	b, err := db.Author(ctx, name, meta)
	if err != nil {
		return nil, err
	}
	return BookOf(b), nil
}

func add(ctx context.Context, db *journal.DB, as []json.RawMessage) (any, error) {
	b, err := book(ctx, db, as, "add(x)")
	if err != nil {
		return nil, err
	}
	page := at(as, 1)
	if len(page) == 0 {
		return nil, badArgs("add(x): a value is required")
	}
	if !json.Valid(page) {
		return nil, badArgs("add(x): x is not JSON")
	}
	i, err := b.Append(ctx, page)
	if errors.Is(err, journal.ErrReadOnly) {
		return nil, fmt.Errorf("unauthorized: book %s is read-only here: only its author can add to it", b.Key().Short())
	}
	return i, err
}

func get(ctx context.Context, db *journal.DB, as []json.RawMessage) (any, error) {
	b, err := book(ctx, db, as, "get(i)")
	if err != nil {
		return nil, err
	}
	var f float64
	if v := at(as, 1); len(v) == 0 || json.Unmarshal(v, &f) != nil {
		return nil, badArgs("get(i): i must be a number")
	}
	if f < 0 || f != math.Trunc(f) || f > float64(journal.MaxLength) {
		return nil, badArgs("get(i): %v is not a page index", f)
	}
	i := uint64(f)
	p, err := b.Get(ctx, i)
	if errors.Is(err, journal.ErrNotFound) {
		if n := b.Len(); i >= n {
			return nil, fmt.Errorf("get(%d): no such page: the book has %d", i, n)
		}
		return nil, fmt.Errorf("get(%d): page not downloaded yet", i)
	}
	if err != nil {
		return nil, err
	}
	return PageOf(i, p), nil
}

// passphrase is export's option, argument 0's passphrase.
func passphrase(as []json.RawMessage) (string, error) {
	v := at(as, 0)
	if len(v) == 0 || v[0] != '{' {
		return "", nil
	}
	var o struct {
		Passphrase *json.RawMessage `json:"passphrase"`
	}
	if json.Unmarshal(v, &o) != nil || o.Passphrase == nil || string(*o.Passphrase) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(*o.Passphrase, &s) != nil {
		return "", badArgs(`export: option "passphrase" must be a string`)
	}
	return s, nil
}

// ParseExport reads import's argument: an export object or its JSON text.
func ParseExport(v json.RawMessage) (*journal.Export, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, badArgs("import(json): %v", err)
		}
		v = []byte(s)
	} else if len(v) == 0 || v[0] != '{' {
		return nil, badArgs("import(json): an export (object or JSON text) is required")
	}
	if len(v) > MaxImport {
		return nil, badArgs("import(json): %d bytes, at most %d", len(v), MaxImport)
	}
	var ex journal.Export
	if err := json.Unmarshal(v, &ex); err != nil {
		return nil, fmt.Errorf("import(json): not an export: %w", err)
	}
	return &ex, nil
}
