//go:build js && wasm

package jsapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// book returns the JS object of b, the same object every time.
func (d *jsDB) book(b *journal.Book) js.Value {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.books[b.Key()]; ok {
		return o
	}
	o := js.Global().Get("Object").New()
	o.Set("key", b.Key().String())
	o.Set("name", b.Name())
	o.Set("writable", b.Writable())
	o.Set("add", d.funcs.Async(func(args []js.Value) (any, error) { return add(b, args) }))
	o.Set("get", d.funcs.Async(func(args []js.Value) (any, error) { return get(b, args) }))
	o.Set("len", d.funcs.Async(func([]js.Value) (any, error) { return b.Len(), nil }))
	o.Set("version", d.funcs.Async(func([]js.Value) (any, error) { return int64(b.Len()) - 1, nil }))
	o.Set("head", d.funcs.Async(func([]js.Value) (any, error) { return headValue(b.Head()), nil }))
	o.Set("info", d.funcs.Async(func([]js.Value) (any, error) { return infoValue(b.Info()), nil }))
	o.Set("on", d.funcs.Add(func(_ js.Value, args []js.Value) any { return d.on(args, b.Key()) }))
	d.books[b.Key()] = o
	return o
}

// add is book.add(x): x must be a JSON value; it returns the page's index.
func add(b *journal.Book, args []js.Value) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("add(x): a value is required")
	}
	page, err := jsutil.Stringify(args[0])
	if err != nil {
		return nil, fmt.Errorf("add(x): %w", err)
	}
	i, err := b.Append(context.Background(), page)
	if errors.Is(err, journal.ErrReadOnly) {
		return nil, fmt.Errorf("unauthorized: book %s is read-only here: only its author can add to it", b.Key().Short())
	}
	return i, err
}

// get is book.get(i).
func get(b *journal.Book, args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return nil, errors.New("get(i): i must be a number")
	}
	f := args[0].Float()
	if f < 0 || f != math.Trunc(f) || f > float64(journal.MaxLength) {
		return nil, fmt.Errorf("get(i): %v is not a page index", f)
	}
	i := uint64(f)
	p, err := b.Get(context.Background(), i)
	if errors.Is(err, journal.ErrNotFound) {
		if n := b.Len(); i >= n {
			return nil, fmt.Errorf("get(%d): no such page: the book has %d", i, n)
		}
		return nil, fmt.Errorf("get(%d): page not downloaded yet", i)
	}
	if err != nil {
		return nil, err
	}
	return pageValue(i, p), nil
}

func headValue(h journal.Head) map[string]any {
	if h.IsZero() {
		return map[string]any{"length": 0}
	}
	return map[string]any{"key": h.Key.String(), "length": h.Length, "root": fmt.Sprintf("%x", h.Root[:]), "signature": fmt.Sprintf("%x", h.Sig)}
}
