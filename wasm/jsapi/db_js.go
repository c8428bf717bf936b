//go:build js && wasm

package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/tabs"
)

// jsDB is the JS face of one open DB.
type jsDB struct {
	api     *API
	db      *journal.DB
	st      store.Store
	profile string    // IndexedDB profile name, "" for memory
	held    tabs.Held // the profile's writer lock (IndexedDB), released by close
	funcs   jsutil.Funcs
	events  chan journal.Event
	cancel  func()
	obj     js.Value

	mu     sync.Mutex
	books  map[identity.ID]js.Value // one JS object per book
	hooks  hookSet
	closed bool
}

type hook struct {
	fn   js.Value
	book identity.ID // zero: every book
}

// hookSet is a db's JS hooks (db.on, book.on), for jsDB and sharedDB.
type hookSet struct {
	mu     sync.Mutex
	hooks  map[int]hook
	nextID int
}

// add registers fn (args[0]) for every change, or book's (non-zero); it
// returns a JS function that removes it.
func (s *hookSet) add(args []js.Value, book identity.ID) any {
	if len(args) < 1 || args[0].Type() != js.TypeFunction {
		return jsutil.NewError(errors.New("on(fn): fn must be a function"))
	}
	s.mu.Lock()
	if s.hooks == nil {
		s.hooks = make(map[int]hook)
	}
	id := s.nextID
	s.nextID++
	s.hooks[id] = hook{fn: args[0], book: book}
	s.mu.Unlock()
	var off js.Func
	off = js.FuncOf(func(js.Value, []js.Value) any {
		s.mu.Lock()
		delete(s.hooks, id)
		s.mu.Unlock()
		off.Release()
		return nil
	})
	return off
}

// of returns the hooks for a change of book.
func (s *hookSet) of(book identity.ID) []hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := make([]hook, 0, len(s.hooks))
	for _, h := range s.hooks {
		if h.book.IsZero() || h.book == book {
			hs = append(hs, h)
		}
	}
	return hs
}

func (a *API) newDB(db *journal.DB, st store.Store, profile string) *jsDB {
	d := &jsDB{api: a, db: db, st: st, profile: profile, books: make(map[identity.ID]js.Value),
		events: make(chan journal.Event, 1024)}
	// The journal's hook must not call JS or block long: it hands events to
	// a goroutine that calls the JS hooks.
	d.cancel = db.Subscribe(func(e journal.Event) { d.events <- e })
	go d.dispatch()
	return d
}

func (d *jsDB) value() js.Value {
	o := js.Global().Get("Object").New()
	o.Set("id", d.db.ID().String())
	o.Set("author", d.funcs.Async(d.author))
	o.Set("reader", d.funcs.Async(d.reader))
	o.Set("books", d.funcs.Async(d.list))
	o.Set("export", d.funcs.Async(d.export))
	o.Set("import", d.funcs.Async(d.importJSON))
	o.Set("reset", d.funcs.Async(d.reset))
	o.Set("close", d.funcs.Async(func([]js.Value) (any, error) { return nil, d.close() }))
	o.Set("on", d.funcs.Add(func(_ js.Value, args []js.Value) any { return d.on(args, identity.ID{}) }))
	d.obj = o
	return o
}

func (d *jsDB) check() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("this DB is closed")
	}
	return nil
}

// author is db.author(name, meta?).
func (d *jsDB) author(args []js.Value) (any, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if len(args) < 1 || args[0].Type() != js.TypeString || args[0].String() == "" {
		return nil, errors.New(`author(name): no journal book "name" provided`)
	}
	var meta []byte
	if len(args) > 1 && !args[1].IsUndefined() {
		var err error
		if meta, err = jsutil.Stringify(args[1]); err != nil {
			return nil, fmt.Errorf("author(name, meta): meta: %w", err)
		}
	}
	b, err := d.db.Author(context.Background(), args[0].String(), meta)
	if err != nil {
		return nil, err
	}
	return d.book(b), nil
}

// reader is db.reader(key).
func (d *jsDB) reader(args []js.Value) (any, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New(`reader(key): no journal book "key" provided`)
	}
	key, err := identity.ParseID(args[0].String())
	if err != nil {
		return nil, fmt.Errorf("reader(key): %w", err)
	}
	b, err := d.db.Reader(context.Background(), key)
	if err != nil {
		return nil, err
	}
	return d.book(b), nil
}

// list is db.books().
func (d *jsDB) list([]js.Value) (any, error) {
	infos, err := d.db.Books(context.Background())
	if err != nil {
		return nil, err
	}
	out := make([]any, len(infos))
	for i, bi := range infos {
		out[i] = infoValue(bi)
	}
	return out, nil
}

func infoValue(bi journal.BookInfo) map[string]any {
	m := map[string]any{
		"key":      bi.Key.String(),
		"name":     bi.Name,
		"writable": bi.Writable,
		"verified": bi.Verified,
		"forked":   bi.Forked,
		"length":   bi.Head.Length,
		"have":     bi.Have.Count(),
	}
	if !bi.Author.IsZero() {
		m["author"] = bi.Author.String()
	}
	return m
}

// export is db.export({ passphrase }): the books as a JSON-ready object,
// with the seed sealed under the passphrase if one is given (as app.export).
func (d *jsDB) export(args []js.Value) (any, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	return exportValue(d.db, option(args, 0))
}

// importJSON is db.import(json): an export object or its JSON text.
func (d *jsDB) importJSON(args []js.Value) (any, error) {
	ex, err := parseExport(args)
	if err != nil {
		return nil, err
	}
	res, err := d.db.Import(context.Background(), ex)
	if err != nil {
		return nil, err
	}
	return jsValue(res)
}

// reset is db.reset(): closes the DB and deletes its storage.
func (d *jsDB) reset([]js.Value) (any, error) {
	if err := d.close(); err != nil {
		return nil, err
	}
	if d.profile == "" {
		return nil, nil
	}
	return nil, d.api.storage.Delete(context.Background(), d.profile)
}

func (d *jsDB) close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	close(d.events)
	d.api.release(d.db.ID())
	err := d.st.Close()
	if d.held != nil {
		d.held.Release()
	}
	return err
}

// on registers a hook for every change (or one book's); it returns a
// function that removes it.
func (d *jsDB) on(args []js.Value, book identity.ID) any { return d.hooks.add(args, book) }

// dispatch calls the JS hooks with every change: one call per page,
// hook({ type, key, index, data }), or one call for a head or fork.
func (d *jsDB) dispatch() {
	for e := range d.events {
		hs := d.hooks.of(e.Book)
		if len(hs) == 0 {
			continue
		}
		for _, ev := range eventValues(e) {
			for _, h := range hs {
				callHook(h.fn, ev)
			}
		}
	}
}

// callHook calls a page's function, reporting (not propagating) a throw.
func callHook(fn js.Value, args ...any) {
	defer func() {
		if r := recover(); r != nil {
			println("taskmessenger: a hook threw:", fmt.Sprint(r))
		}
	}()
	fn.Invoke(args...)
}

func eventValues(e journal.Event) []js.Value {
	base := func(index uint64) js.Value {
		o := js.Global().Get("Object").New()
		o.Set("type", string(e.Type))
		o.Set("key", e.Book.String())
		o.Set("index", index)
		o.Set("length", e.Head.Length)
		return o
	}
	if len(e.Pages) == 0 {
		return []js.Value{base(e.Index)}
	}
	out := make([]js.Value, len(e.Pages))
	for i, p := range e.Pages {
		o := base(e.Index + uint64(i))
		o.Set("data", pageValue(e.Index+uint64(i), p))
		out[i] = o
	}
	return out
}

// pageValue turns a page into its JS value: page 0 as the genesis, JSON
// pages parsed, anything else as a Uint8Array.
func pageValue(i uint64, p []byte) js.Value {
	if i == 0 {
		if g, err := journal.DecodeGenesis(p); err == nil {
			o := js.Global().Get("Object").New()
			o.Set("type", "genesis")
			o.Set("author", g.Author.String())
			o.Set("key", g.Key.String())
			o.Set("name", g.Name)
			if len(g.Meta) > 0 {
				if v, err := jsutil.Parse(g.Meta); err == nil {
					o.Set("meta", v)
				}
			}
			return o
		}
	}
	if json.Valid(p) {
		if v, err := jsutil.Parse(p); err == nil {
			return v
		}
	}
	return jsutil.Uint8Array(p)
}
