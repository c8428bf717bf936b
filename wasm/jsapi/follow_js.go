//go:build js && wasm

package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/dbcall"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/tabs"
)

// startShared joins the tabs of a profile on IndexedDB for a db alone
// (tm.vault, tm.DB): a partial tab (tabs.Config.Partial), which writes the
// profile while no messenger tab does, with open, and otherwise works
// through the tab that writes it.
func startShared(ctx context.Context, profile, what string, open func(context.Context) (tabs.Service, error)) (*tabs.Tab, error) {
	tab, err := tabs.Start(ctx, tabs.Config{Lock: webLock{lockName(profile)}, Bus: newChannelBus(busName(profile)),
		Open: open, Awake: pageAwake(), Logger: logs.Default(), Partial: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return tab, nil
}

// openSharedDB is tm.DB(seed, { storage: 'indexeddb', profile }).
func (a *API) openSharedDB(ctx context.Context, seed identity.Seed, profile string) (any, error) {
	id := identity.New(seed).ID()
	open := func(ctx context.Context) (tabs.Service, error) {
		st, err := a.storage.Open(ctx, profile)
		if err != nil {
			return nil, err
		}
		if err := a.take(id); err != nil {
			st.Close()
			return nil, err
		}
		db, err := journal.Open(ctx, st, seed, nil)
		if err != nil {
			a.release(id)
			st.Close()
			return nil, err
		}
		return dbcall.NewService(db, func() error { a.release(id); return st.Close() }), nil
	}
	tab, err := startShared(ctx, profile, "DB", open)
	if err != nil {
		return nil, err
	}
	if got := tab.ID(); got != id {
		tab.Close()
		return nil, fmt.Errorf("DB: profile %q is open in another tab as %s, not as this seed's identity %s: close that tab, or open the profile with its own seed", profile, got.Short(), id.Short())
	}
	return newSharedDB(a, tab, profile).value(), nil
}

// openSharedVault is tm.vault({ name }) on IndexedDB: its db works through
// the profile's tabs; its io is its own while this tab writes the profile
// (it needs the profile's books here), and fails, saying why, in a tab
// that follows another.
func (a *API) openSharedVault(ctx context.Context, name string, opts js.Value) (any, error) {
	relayURL, err := stringOpt(opts, "relay", defaultRelay())
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	var mu sync.Mutex
	var first *dbcall.Service // the service this tab opened first
	open := func(ctx context.Context) (tabs.Service, error) {
		p, err := a.openProfile(ctx, name, opts, "vault")
		if err != nil {
			return nil, err
		}
		s := dbcall.NewService(p.DB, func() error { a.release(p.ID); return p.Close() })
		mu.Lock()
		if first == nil {
			first = s
		}
		mu.Unlock()
		return s, nil
	}
	tab, err := startShared(ctx, name, "vault", open)
	if err != nil {
		return nil, err
	}
	d := newSharedDB(a, tab, name)
	o := js.Global().Get("Object").New()
	o.Set("id", tab.ID().String())
	o.Set("name", name)
	o.Set("db", d.value())
	mu.Lock()
	s := first
	mu.Unlock()
	if tab.Writer() && s != nil {
		db := s.DB()
		io := newJSIO(name, db.Identity().Seed(), relayURL, opts.Get("webrtc").Truthy(), db)
		iov := io.value()
		// The io replicates this tab's books: it ends when the tab gives
		// the profile up (to a messenger tab).
		gave := make(chan struct{}, 1)
		unsub := tab.Subscribe(func(ev json.RawMessage) {
			if roleOf(ev) == tabs.RoleFollower {
				select {
				case gave <- struct{}{}:
				default:
				}
			}
		})
		if !tab.Writer() { // gave it up before the subscription
			select {
			case gave <- struct{}{}:
			default:
			}
		}
		go func() {
			why := "another tab (a messenger) took the profile over from this page, which follows it now"
			select {
			case <-gave:
			case <-d.done:
				why = "its db was closed"
			}
			unsub()
			io.io.Close()
			d.mu.Lock() // d.funcs is also added to by book, under d.mu
			noIO(iov, &d.funcs, name, why)
			d.mu.Unlock()
		}()
		o.Set("io", iov)
	} else {
		iov := js.Global().Get("Object").New()
		iov.Set("id", tab.ID().String())
		iov.Set("alias", name)
		noIO(iov, &d.funcs, name, "another tab writes it (a messenger or another page), which this page follows")
		o.Set("io", iov)
	}
	return o, nil
}

// noIO makes io's methods reject: this tab does not write the profile.
func noIO(io js.Value, funcs *jsutil.Funcs, profile, why string) {
	err := fmt.Errorf("io: profile %q has no connection in this page: %s; use the messenger's tab, or close the other tab and open the vault again", profile, why)
	fail := funcs.Async(func([]js.Value) (any, error) { return nil, err })
	io.Set("on", fail)
	io.Set("at", fail)
	io.Set("close", funcs.Async(func([]js.Value) (any, error) { return nil, nil }))
}

// roleOf is the role a tab event ({type: 'tab', state}) says, or "".
func roleOf(ev json.RawMessage) string {
	var e struct{ Type, State string }
	if json.Unmarshal(ev, &e) != nil || e.Type != "tab" {
		return ""
	}
	return e.State
}

// sharedDB is the db object of a profile on IndexedDB (tm.vault, tm.DB):
// every call is one of package dbcall's, carried out through the profile's
// tabs (here when this tab writes the profile, else by the tab that does),
// and its hooks get the writer's book events.
type sharedDB struct {
	api     *API
	tab     *tabs.Tab
	profile string
	funcs   jsutil.Funcs
	events  chan json.RawMessage
	done    chan struct{}
	unsub   func()

	mu     sync.Mutex
	books  map[string]js.Value // one JS object per book key
	hooks  hookSet
	closed bool
}

func newSharedDB(a *API, tab *tabs.Tab, profile string) *sharedDB {
	d := &sharedDB{api: a, tab: tab, profile: profile, events: make(chan json.RawMessage, 4096),
		done: make(chan struct{}), books: make(map[string]js.Value)}
	d.unsub = tab.Subscribe(func(ev json.RawMessage) {
		select {
		case d.events <- ev:
		default: // the page is not keeping up
		}
	})
	go d.dispatch()
	return d
}

func (d *sharedDB) value() js.Value {
	o := js.Global().Get("Object").New()
	o.Set("id", d.tab.ID().String())
	o.Set("author", d.funcs.Async(d.author))
	o.Set("reader", d.funcs.Async(d.reader))
	o.Set("books", d.funcs.Async(func([]js.Value) (any, error) { return d.callJS("db.books") }))
	o.Set("export", d.funcs.Async(func(args []js.Value) (any, error) {
		return d.callJS("db.export", d.arg(args, 0))
	}))
	o.Set("import", d.funcs.Async(d.importJSON))
	o.Set("reset", d.funcs.Async(d.reset))
	o.Set("close", d.funcs.Async(func([]js.Value) (any, error) { return nil, d.close() }))
	o.Set("role", d.funcs.Add(func(js.Value, []js.Value) any { return d.tab.Role() }))
	o.Set("on", d.funcs.Add(func(_ js.Value, args []js.Value) any { return d.on(args, "") }))
	return o
}

// arg is args[i] as JSON (null if absent or not JSON).
func (d *sharedDB) arg(args []js.Value, i int) json.RawMessage {
	if i >= len(args) || args[i].IsUndefined() {
		return json.RawMessage("null")
	}
	b, err := jsutil.Stringify(args[i])
	if err != nil || len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// call carries out method with args through the profile's tabs.
func (d *sharedDB) call(method string, args ...json.RawMessage) (json.RawMessage, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil, errors.New("this DB is closed")
	}
	if args == nil {
		args = []json.RawMessage{}
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	return d.tab.Do(context.Background(), method, raw)
}

// callJS is call with the result as a JS value.
func (d *sharedDB) callJS(method string, args ...json.RawMessage) (any, error) {
	out, err := d.call(method, args...)
	if err != nil || len(out) == 0 {
		return js.Undefined(), err
	}
	return jsutil.Parse(out)
}

func str(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// author is db.author(name, meta?).
func (d *sharedDB) author(args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeString || args[0].String() == "" {
		return nil, errors.New(`author(name): no journal book "name" provided`)
	}
	var meta json.RawMessage = json.RawMessage("null")
	if len(args) > 1 && !args[1].IsUndefined() {
		b, err := jsutil.Stringify(args[1])
		if err != nil {
			return nil, fmt.Errorf("author(name, meta): meta: %w", err)
		}
		meta = b
	}
	return d.bookCall("db.author", str(args[0].String()), meta)
}

// reader is db.reader(key).
func (d *sharedDB) reader(args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New(`reader(key): no journal book "key" provided`)
	}
	if _, err := identity.ParseID(args[0].String()); err != nil {
		return nil, fmt.Errorf("reader(key): %w", err)
	}
	return d.bookCall("db.reader", str(args[0].String()))
}

// bookCall is db.author or db.reader: the book's object.
func (d *sharedDB) bookCall(method string, args ...json.RawMessage) (any, error) {
	out, err := d.call(method, args...)
	if err != nil {
		return nil, err
	}
	var b dbcall.Book
	if err := json.Unmarshal(out, &b); err != nil {
		return nil, fmt.Errorf("%s: the writer tab's answer: %w", method, err)
	}
	return d.book(b), nil
}

// book returns the JS object of b, the same object every time.
func (d *sharedDB) book(b dbcall.Book) js.Value {
	key := b.Key.String()
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.books[key]; ok {
		return o
	}
	k := str(key)
	o := js.Global().Get("Object").New()
	o.Set("key", key)
	o.Set("name", b.Name)
	o.Set("writable", b.Writable)
	o.Set("add", d.funcs.Async(func(args []js.Value) (any, error) {
		if len(args) < 1 {
			return nil, errors.New("add(x): a value is required")
		}
		page, err := jsutil.Stringify(args[0])
		if err != nil {
			return nil, fmt.Errorf("add(x): %w", err)
		}
		return d.callJS("db.add", k, page)
	}))
	o.Set("get", d.funcs.Async(func(args []js.Value) (any, error) {
		if len(args) < 1 || args[0].Type() != js.TypeNumber {
			return nil, errors.New("get(i): i must be a number")
		}
		out, err := d.call("db.get", k, d.arg(args, 0))
		if err != nil {
			return nil, err
		}
		var p dbcall.Page
		if err := json.Unmarshal(out, &p); err != nil {
			return nil, fmt.Errorf("get: the writer tab's answer: %w", err)
		}
		return pageJS(p), nil
	}))
	o.Set("len", d.funcs.Async(func([]js.Value) (any, error) { return d.callJS("db.len", k) }))
	o.Set("version", d.funcs.Async(func([]js.Value) (any, error) {
		out, err := d.call("db.len", k)
		if err != nil {
			return nil, err
		}
		var n int64
		if err := json.Unmarshal(out, &n); err != nil {
			return nil, err
		}
		return n - 1, nil
	}))
	o.Set("head", d.funcs.Async(func([]js.Value) (any, error) { return d.callJS("db.head", k) }))
	o.Set("info", d.funcs.Async(func([]js.Value) (any, error) { return d.callJS("db.info", k) }))
	o.Set("on", d.funcs.Add(func(_ js.Value, args []js.Value) any { return d.on(args, key) }))
	d.books[key] = o
	return o
}

// pageJS is a page's JS value: its JSON parsed, or a Uint8Array.
func pageJS(p dbcall.Page) js.Value {
	if len(p.Page) > 0 {
		if v, err := jsutil.Parse(p.Page); err == nil {
			return v
		}
	}
	return jsutil.Uint8Array(p.Bytes)
}

// importJSON is db.import(json): an export object or its JSON text, added
// by the tab that writes the profile.
func (d *sharedDB) importJSON(args []js.Value) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("import(json): an export (object or JSON text) is required")
	}
	return d.callJS("db.import", d.arg(args, 0))
}

// reset is db.reset(): in the tab that writes the profile, it closes the
// DB and deletes the profile's storage; a follower cannot (the writer tab
// keeps the profile open).
func (d *sharedDB) reset([]js.Value) (any, error) {
	if !d.tab.Writer() {
		return nil, fmt.Errorf("reset: profile %q is written by another tab, which this page follows: it cannot be deleted under that tab; close the profile's other tabs first, or reset it in the messenger", d.profile)
	}
	if err := d.close(); err != nil {
		return nil, err
	}
	return nil, d.api.storage.Delete(context.Background(), d.profile)
}

// close is db.close(): this tab leaves the profile's tabs (a writer gives
// the profile to the next tab).
func (d *sharedDB) close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.unsub()
	close(d.done)
	return d.tab.Close()
}

// on registers a hook for every change (or one book's, key); it returns a
// function that removes it.
func (d *sharedDB) on(args []js.Value, key string) any {
	var book identity.ID
	if key != "" {
		book, _ = identity.ParseID(key)
	}
	return d.hooks.add(args, book)
}

// dispatch calls the hooks with every book event, as jsDB's: one call per
// page, hook({ type, key, index, length, data }) (data left out of pages
// too big to forward: get(index) reads them), or one call for a head or
// fork.
func (d *sharedDB) dispatch() {
	for {
		var raw json.RawMessage
		select {
		case raw = <-d.events:
		case <-d.done:
			return
		}
		var ev struct {
			Type string
			Book *dbcall.BookEvent
		}
		if json.Unmarshal(raw, &ev) != nil || ev.Type != dbcall.EventType || ev.Book == nil {
			continue
		}
		e := ev.Book
		hs := d.hooks.of(e.Key)
		for _, v := range bookEventValues(e) {
			for _, h := range hs {
				callHook(h.fn, v)
			}
		}
	}
}

// bookEventValues are the hook arguments of e.
func bookEventValues(e *dbcall.BookEvent) []js.Value {
	base := func(index uint64) js.Value {
		o := js.Global().Get("Object").New()
		o.Set("type", string(e.Type))
		o.Set("key", e.Key.String())
		o.Set("index", index)
		o.Set("length", e.Length)
		return o
	}
	if e.Count <= 0 {
		return []js.Value{base(e.Index)}
	}
	n := min(e.Count, 1<<16)
	out := make([]js.Value, n)
	for i := range n {
		o := base(e.Index + uint64(i))
		if i < len(e.Pages) {
			o.Set("data", pageJS(e.Pages[i]))
		}
		out[i] = o
	}
	return out
}
