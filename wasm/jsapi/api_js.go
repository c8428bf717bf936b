//go:build js && wasm

package jsapi

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// Storage opens and deletes the persistent store of a profile.
type Storage struct {
	Open   vault.Opener
	Delete func(ctx context.Context, name string) error
}

// API is the object behind window.taskmessenger.
type API struct {
	storage Storage
	funcs   jsutil.Funcs

	mu    sync.Mutex
	taken map[identity.ID]bool // seeds with an open DB, as the seed's taken[seed]

	idled sync.Once // idle's first collection
}

// New returns the API over the given persistent storage.
func New(storage Storage) *API {
	return &API{storage: storage, taken: make(map[identity.ID]bool)}
}

// Value returns the JS object: { DB, vault, IO, open, idle, stacks, version }.
func (a *API) Value() js.Value {
	o := js.Global().Get("Object").New()
	o.Set("DB", a.funcs.Async(a.openDB))
	o.Set("vault", a.funcs.Async(a.openVault))
	o.Set("IO", a.funcs.Async(a.openIO))
	o.Set("open", a.funcs.Async(a.openApp))
	o.Set("idle", a.funcs.Add(func(js.Value, []js.Value) any { return a.idle() }))
	o.Set("stacks", a.funcs.Add(func(js.Value, []js.Value) any { return stacks() }))
	o.Set("version", 1)
	return o
}

// idle is the page saying it has nothing to do (its first page shown):
// the module does now, once, what would otherwise stall it at a worse
// time. That is its first garbage collection. Go's collector has not run
// in a new tab before the heap reaches 4 MB, a few dozen messages into a
// conversation, and that first run takes 12–40 ms in a browser (V8
// compiles the collector's code when it first runs; later ones take ~2):
// here it costs the same, while the user reads the page. It returns the
// number of collections made so far.
func (a *API) idle() int {
	a.idled.Do(runtime.GC)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.NumGC)
}

// stacks is every goroutine's stack (at most 4 MiB), answered at once:
// what a call that never answers waits for (the soak prints it).
func stacks() string {
	buf := make([]byte, 4<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func (a *API) take(id identity.ID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.taken[id] {
		return fmt.Errorf("seed of %s already taken: close the other DB first", id.Short())
	}
	a.taken[id] = true
	return nil
}

func (a *API) release(id identity.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.taken, id)
}

// openDB is tm.DB(seed, { storage: 'memory' | 'indexeddb', profile }).
func (a *API) openDB(args []js.Value) (any, error) {
	ctx := context.Background()
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New("DB(seed, opts): seed must be a string (52 characters; tm.vault({ name }) makes one for you)")
	}
	seed, err := identity.ParseSeed(args[0].String())
	if err != nil {
		return nil, fmt.Errorf("DB: %w", err)
	}
	opts := option(args, 1)
	storage, err := stringOpt(opts, "storage", "memory")
	if err != nil {
		return nil, fmt.Errorf("DB: %w", err)
	}
	switch storage {
	case "memory":
	case "indexeddb":
		profile, err := stringOpt(opts, "profile", "")
		if err != nil || profile == "" {
			return nil, errors.New("DB: storage 'indexeddb' needs opts.profile, the name of its database")
		}
		if err := vault.CheckName(profile); err != nil {
			return nil, fmt.Errorf("DB: %w", err)
		}
		// Shared with the profile's other tabs (follow_js.go).
		return a.openSharedDB(ctx, seed, profile)
	default:
		return nil, fmt.Errorf("DB: unknown storage %q: use 'memory' or 'indexeddb'", storage)
	}
	st := store.NewMemory()
	fail := func(err error) (any, error) {
		st.Close()
		return nil, fmt.Errorf("DB: %w", err)
	}
	id := identity.New(seed).ID()
	if err := a.take(id); err != nil {
		return fail(err)
	}
	db, err := journal.Open(ctx, st, seed, nil)
	if err != nil {
		a.release(id)
		return fail(err)
	}
	return a.newDB(db, st, "").value(), nil
}

// openVault is tm.vault({ name, storage }): a named profile whose seed is
// made once and kept in its own IndexedDB database.
func (a *API) openVault(args []js.Value) (any, error) {
	ctx := context.Background()
	opts := option(args, 0)
	name, err := stringOpt(opts, "name", "")
	if err != nil || name == "" {
		return nil, errors.New("vault({ name }): name is required (a-z, 0-9, '-', '_')")
	}
	if s, _ := stringOpt(opts, "storage", "indexeddb"); s != "memory" {
		if err := vault.CheckName(name); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		// Shared with the profile's other tabs (follow_js.go).
		return a.openSharedVault(ctx, name, opts)
	}
	p, err := a.openProfile(ctx, name, opts, "vault")
	if err != nil {
		return nil, err
	}
	d := a.newDB(p.DB, p.Store, name)
	relayURL, err := stringOpt(opts, "relay", defaultRelay())
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	io := newJSIO(name, p.DB.Identity().Seed(), relayURL, opts.Get("webrtc").Truthy(), p.DB)
	o := js.Global().Get("Object").New()
	o.Set("id", p.ID.String())
	o.Set("name", name)
	o.Set("db", d.value())
	o.Set("io", io.value())
	return o, nil
}

// openProfile opens the named profile ({ storage: 'memory' } keeps it in
// memory) and takes its seed; what names the caller in errors.
func (a *API) openProfile(ctx context.Context, name string, opts js.Value, what string) (*vault.Profile, error) {
	open := a.storage.Open
	if s, _ := stringOpt(opts, "storage", "indexeddb"); s == "memory" {
		open = func(context.Context, string) (store.Store, error) { return store.NewMemory(), nil }
	}
	p, err := vault.Open(ctx, name, open, nil)
	if err != nil {
		return nil, err
	}
	if err := a.take(p.ID); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: profile %q: %w", what, name, err)
	}
	return p, nil
}

// option returns args[i] if it is an object, else an empty object.
func option(args []js.Value, i int) js.Value {
	if len(args) > i && args[i].Type() == js.TypeObject {
		return args[i]
	}
	return js.Global().Get("Object").New()
}

func stringOpt(o js.Value, key, def string) (string, error) {
	v := o.Get(key)
	switch v.Type() {
	case js.TypeUndefined, js.TypeNull:
		return def, nil
	case js.TypeString:
		return v.String(), nil
	}
	return "", fmt.Errorf("option %q must be a string", key)
}
