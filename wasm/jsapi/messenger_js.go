//go:build js && wasm

package jsapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall/js"
	"time"

	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsonhead"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/internal/logs"
	"github.com/task-messenger/task-messenger/wasm/pairing"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/tabs"
)

// service is what the JS app object calls: the profile's tab (a
// tabs.Tab: the writer, or a follower whose calls the writer carries out),
// or an app.App alone for a profile kept in memory.
type service interface {
	Do(ctx context.Context, method string, args json.RawMessage) (json.RawMessage, error)
	// Subscribe gives every event as the JSON the page's hooks get.
	Subscribe(fn func(json.RawMessage)) (cancel func())
	ID() identity.ID
	State() string
	// Relay is the URL of the relay the profile is on, if this tab knows
	// it (the writer's, while online); else "".
	Relay() string
	Role() string // tabs.RoleWriter or tabs.RoleFollower
	Close() error
}

var (
	_ service      = (*tabs.Tab)(nil)
	_ service      = appService{}
	_ tabs.Service = appService{}
)

// appService is an app.App as a service and a tabs.Service: its events as
// JSON.
type appService struct{ *app.App }

func (s appService) Subscribe(fn func(json.RawMessage)) (cancel func()) {
	return s.App.Subscribe(func(ev app.Event) {
		// MarshalJSON itself: json.Marshal would check and compact its
		// output again (0.4 s of a catch-up of 10,000 messages).
		if b, err := ev.MarshalJSON(); err == nil {
			fn(b)
		}
	})
}

func (s appService) Role() string { return tabs.RoleWriter }

// jsApp is the messenger of one profile as JavaScript sees it: tm.open({
// profile, relay, devtools, webrtc }) → app. Every method returns a
// Promise and is one call of service.Do with the arguments as JSON; events
// go to the functions given to app.on(event, fn).
type jsApp struct {
	svc    service
	funcs  jsutil.Funcs
	obj    js.Value             // the app object; its id is set again by a restore (the JS event loop's)
	events chan json.RawMessage // from Subscribe to dispatch
	done   chan struct{}        // closed by close: dispatch ends
	unsub  func()

	mu     sync.Mutex
	hooks  map[room.EventType][]appHook // guarded by mu: each type's in the order on added them
	nextID int                          // guarded by mu
	closed bool                         // guarded by mu

	// The hooks as deliverEvents takes them ({ type: [fn, ...] }, each
	// type's in the order on added them), made again by dispatch only
	// after on or an off changed hooks (stale): a JS object and an array
	// per type for every batch of events cost each message's reader more
	// than delivering it. dispatch's alone.
	hooksJS   js.Value
	hookTypes map[room.EventType]struct{} // the types with hooks, made with hooksJS; dispatch's alone
	stale     bool                        // guarded by mu
}

// openApp is tm.open({ profile, relay, devtools, webrtc, storage, recover,
// link, label, timeout, signal }): recover, a recovery code, makes the
// (empty) profile that identity, restoring its books from its peers
// (app.App.Recover); link, a pairing code, makes the (empty) profile a new
// device named label of the person whose device shows the code, waiting
// for it up to timeout ms or until the AbortSignal signal (app.App.Link).
func (a *API) openApp(args []js.Value) (any, error) {
	ctx := context.Background()
	opts := option(args, 0)
	name, err := stringOpt(opts, "profile", "")
	if err != nil || name == "" {
		return nil, errors.New("open({ profile }): profile is required (a-z, 0-9, '-', '_')")
	}
	relayURL, err := stringOpt(opts, "relay", defaultRelay())
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	// The server's configuration is fetched while the profile opens.
	server := serverOptsAsync(ctx, opts)
	webrtc := opts.Get("webrtc").Truthy()
	recoverCode, err := stringOpt(opts, "recover", "")
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if recoverCode != "" {
		// Checked before anything opens: a typo is the user's to fix.
		if _, err := identity.ParseRecoveryCode(recoverCode); err != nil {
			return nil, fmt.Errorf("open({ recover }): %w", err)
		}
	}
	link, err := linkOpts(opts)
	if err != nil {
		return nil, err
	}
	if link != nil && recoverCode != "" {
		return nil, errors.New("open: give recover or link, not both")
	}
	// start opens the profile and its App: in this tab alone (a profile in
	// memory), or whenever this tab becomes the profile's writer.
	start := func(ctx context.Context) (appService, error) {
		p, err := a.openProfile(ctx, name, opts, "open")
		if err != nil {
			return appService{}, err
		}
		so, err := server()
		if err != nil {
			a.release(p.ID)
			p.Close()
			return appService{}, err
		}
		cfg := app.Config{Profile: p, Relay: relayURL, Relays: so.relays, Devtools: so.devtools, Mirrors: so.mirrors, Logger: logs.Default(),
			Delete:  a.storage.Delete,
			Reload:  func() { js.Global().Get("location").Call("reload") },
			Take:    a.take,
			Release: a.release}
		if webrtc {
			cfg.RTC = &peerio.RTCConfig{}
		}
		ap, err := app.Start(ctx, cfg)
		if err != nil {
			a.release(p.ID)
			p.Close()
			return appService{}, err
		}
		return appService{ap}, nil
	}
	var svc service
	if s, _ := stringOpt(opts, "storage", "indexeddb"); s == "memory" {
		if svc, err = start(ctx); err != nil {
			return nil, err
		}
	} else {
		// Every tab of the profile opens it through its tabs: the one that
		// holds the profile's Web Lock writes it, the others follow.
		svc, err = tabs.Start(ctx, tabs.Config{Lock: webLock{lockName(name)}, Bus: newChannelBus(busName(name)),
			Open:  func(ctx context.Context) (tabs.Service, error) { return start(ctx) },
			Awake: pageAwake(), Logger: logs.Default()})
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
	}
	so, err := server()
	if err != nil {
		svc.Close()
		return nil, err
	}
	if recoverCode != "" {
		// The profile becomes the code's identity (empty, or that
		// identity already), restoring from its peers: through Do, so a
		// follower tab's open asks the writer.
		args, _ := json.Marshal([]string{recoverCode})
		if _, err := svc.Do(ctx, "recover", args); err != nil {
			svc.Close()
			return nil, fmt.Errorf("open: %w", err)
		}
	}
	if link != nil {
		// The (empty) profile becomes a new device of the person whose
		// device shows the code: through Do, like recover.
		if err := linkOpen(svc, opts, link); err != nil {
			svc.Close()
			return nil, fmt.Errorf("open: %w", err)
		}
	}
	ja := newJSApp(svc)
	return ja.value(name, so.devtools), nil
}

// serverOpts are the options of tm.open that default to the serving
// origin's configuration (pageConfig).
type serverOpts struct {
	devtools string
	mirrors  []identity.ID
	relays   []string
}

// serverOptsAsync fetches the page's configuration in the background and
// returns a function that waits for it and gives opts's devtools,
// mirrors and relays over it (an invalid option is an error of open).
func serverOptsAsync(ctx context.Context, opts js.Value) func() (serverOpts, error) {
	page := make(chan js.Value, 1)
	go func() { page <- pageConfig(ctx) }()
	return sync.OnceValues(func() (serverOpts, error) {
		p := <-page
		devtools, err := devtoolsOpt(opts, p)
		if err != nil {
			return serverOpts{}, fmt.Errorf("open: %w", err)
		}
		mirrors, err := mirrorsOpt(opts, p)
		if err != nil {
			return serverOpts{}, fmt.Errorf("open: %w", err)
		}
		return serverOpts{devtools: devtools, mirrors: mirrors, relays: relaysOpt(opts, p)}, nil
	})
}

// linkOpts reads tm.open's { link, label, timeout }: the arguments of the
// app's link call, nil without link. The code is checked before anything
// opens.
func linkOpts(opts js.Value) ([]any, error) {
	code, err := stringOpt(opts, "link", "")
	if err != nil || code == "" {
		return nil, err
	}
	if _, err := pairing.ParseCode(code); err != nil {
		return nil, fmt.Errorf("open({ link }): %w", err)
	}
	label, err := stringOpt(opts, "label", "")
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	o := map[string]any{"label": label}
	if t := opts.Get("timeout"); t.Type() == js.TypeNumber {
		o["timeout"] = t.Float()
	}
	return []any{code, o}, nil
}

// linkOpen is open's link: the call's ctx ends with opts.signal.
func linkOpen(svc service, opts js.Value, args []any) error {
	ctx, cancel := signalContext(opts.Get("signal"))
	defer cancel()
	b, _ := json.Marshal(args)
	_, err := svc.Do(ctx, "link", b)
	return err
}

// newJSApp subscribes to svc's events and dispatches them to the page.
func newJSApp(svc service) *jsApp {
	ja := &jsApp{svc: svc, events: make(chan json.RawMessage, 4096), done: make(chan struct{}),
		hooks: make(map[room.EventType][]appHook)}
	ja.unsub = svc.Subscribe(ja.queue)
	go ja.dispatch()
	return ja
}

// queueState queues the connection state as it is now, as an own 'peer'
// event, unless still connecting: a follower's page learns it from no
// event of its own. on queues it for each 'peer' hook: queued when the
// app opened, dispatch would find no hook yet (the page registers them
// once open returned) and drop it, and a follower tab said "connecting"
// for good. It names the relay when the service knows it (the writer):
// the relay's first 'online' may come before the page's hooks.
func (ja *jsApp) queueState() {
	if st := ja.svc.State(); st != "" && st != app.StateConnecting {
		ev := map[string]string{"type": string(room.EventPeer), "peer": ja.svc.ID().String(), "state": st}
		if r := ja.svc.Relay(); r != "" {
			ev["relay"] = r
		}
		b, _ := json.Marshal(ev)
		ja.queue(b)
	}
}

// pageConfig is the serving origin's configuration (/config.json, written
// by the relay's -devtools and -mirror flags, and its cluster's relay
// nodes), or undefined.
func pageConfig(ctx context.Context) js.Value {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := jsutil.Await(ctx, js.Global().Call("fetch", "/config.json"))
	if err != nil || !resp.Get("ok").Truthy() {
		return js.Undefined()
	}
	cfg, err := jsutil.Await(ctx, resp.Call("json"))
	if err != nil || cfg.Type() != js.TypeObject {
		return js.Undefined()
	}
	return cfg
}

// devtoolsOpt is the devtools address: opts.devtools if given (null or ""
// turns reporting off), else page's (pageConfig), else none.
func devtoolsOpt(opts, page js.Value) (string, error) {
	if v := opts.Get("devtools"); !v.IsUndefined() {
		if v.IsNull() {
			return "", nil
		}
		return stringOpt(opts, "devtools", "")
	}
	if page.Type() != js.TypeObject || page.Get("devtools").Type() != js.TypeString {
		return "", nil
	}
	return page.Get("devtools").String(), nil
}

// maxRelays bounds the relay nodes taken from the page's configuration.
const maxRelays = 16

// relaysOpt is the other relay nodes to move to when the relay's node
// dies: none when opts.relay is given (that relay only), else the strings
// of page's relays (pageConfig), at most maxRelays; app.Start drops those
// that are not ws:// or wss:// URLs and the one used as relay.
func relaysOpt(opts, page js.Value) []string {
	if v := opts.Get("relay"); !v.IsUndefined() && !v.IsNull() {
		return nil
	}
	if page.Type() != js.TypeObject {
		return nil
	}
	v := page.Get("relays")
	if !js.Global().Get("Array").Call("isArray", v).Bool() {
		return nil
	}
	var urls []string
	for i := range min(v.Length(), maxRelays) {
		if s := v.Index(i); s.Type() == js.TypeString {
			urls = append(urls, s.String())
		}
	}
	return urls
}

// maxMirrors bounds the mirrors a profile pins to.
const maxMirrors = 8

// mirrorsOpt is the mirrors' peer ids: opts.mirrors if given (an array of
// ids; [] for none), else page's (pageConfig), else none. A bad id in
// opts is an error; in the page's configuration it is skipped.
func mirrorsOpt(opts, page js.Value) ([]identity.ID, error) {
	v, strict := opts.Get("mirrors"), true
	if v.IsUndefined() || v.IsNull() {
		if page.Type() != js.TypeObject {
			return nil, nil
		}
		v, strict = page.Get("mirrors"), false
	}
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if !js.Global().Get("Array").Call("isArray", v).Bool() || v.Length() > maxMirrors {
		if strict {
			return nil, fmt.Errorf("mirrors: an array of at most %d peer ids", maxMirrors)
		}
		return nil, nil
	}
	var ids []identity.ID
	for i := range v.Length() {
		var id identity.ID
		err := errors.New("not a string")
		if s := v.Index(i); s.Type() == js.TypeString {
			err = id.UnmarshalText([]byte(s.String()))
		}
		if err != nil {
			if strict {
				return nil, fmt.Errorf("mirrors[%d]: %w", i, err)
			}
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// queue hands an event to dispatch without blocking.
func (ja *jsApp) queue(ev json.RawMessage) {
	select {
	case ja.events <- ev:
	default: // the page is not keeping up: it reads the timeline again on the next event
	}
}

// value is the JS app object.
func (ja *jsApp) value(profile, devtools string) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("id", ja.svc.ID().String())
	o.Set("profile", profile)
	o.Set("devtools", devtools)
	for _, m := range []string{"createTask", "rename", "invite", "revokeInvite", "send", "sendMany",
		"timeline", "tasks", "members", "mirrors", "read", "removeMember", "allowRemoving", "export", "import", "reset",
		"recoveryCode", "recover", "restoreStatus", "finishRestore", "linkDevice", "devices", "revokeDevice", "person",
		"search", "setName", "name", "edit", "delete", "lookup", "limits", "uiState", "setUIState",
		"usage", "leave", "forget"} {
		o.Set(m, ja.funcs.AsyncJSON(func(in []byte, bad error) (any, error) {
			if bad != nil {
				return nil, fmt.Errorf("%s: %w", m, bad)
			}
			return ja.callJSON(context.Background(), m, in)
		}))
	}
	o.Set("send", ja.funcs.Async(ja.send)) // files: files_js.go
	o.Set("file", ja.funcs.Async(ja.file))
	o.Set("join", ja.funcs.Async(func(args []js.Value) (any, error) { return ja.callSignal("join", args) }))
	o.Set("link", ja.funcs.Async(func(args []js.Value) (any, error) { return ja.callSignal("link", args) }))
	o.Set("role", ja.funcs.Add(func(js.Value, []js.Value) any { return ja.svc.Role() }))
	o.Set("close", ja.funcs.Async(func([]js.Value) (any, error) { return nil, ja.close() }))
	o.Set("on", ja.funcs.Add(func(_ js.Value, args []js.Value) any { return ja.on(args) }))
	ja.obj = o
	return o
}

// call is app[method](...args): the arguments as JSON to service.Do, its
// JSON result back as a JS value (undefined for none).
func (ja *jsApp) call(ctx context.Context, method string, args []js.Value) (any, error) {
	vals := make([]any, len(args))
	for i, v := range args {
		vals[i] = v
	}
	in, err := jsutil.Stringify(js.ValueOf(vals))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return ja.callJSON(ctx, method, in)
}

// callJSON is call with the arguments as JSON already.
func (ja *jsApp) callJSON(ctx context.Context, method string, in []byte) (any, error) {
	out, err := ja.svc.Do(ctx, method, in)
	switch method {
	case "import": // a restore may have changed the identity
		ja.obj.Set("id", ja.svc.ID().String())
	case "reset":
		if err == nil {
			ja.stop()
		}
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return js.Undefined(), nil
	}
	return jsutil.Parse(out)
}

// callSignal is app.join(code, { timeout, signal }) or app.link(code, {
// label, timeout, signal }): the AbortSignal ends the call's ctx (it is
// left out of the JSON, which would make it {}).
func (ja *jsApp) callSignal(method string, args []js.Value) (any, error) {
	if len(args) > 1 && args[1].Type() == js.TypeObject {
		if sig := args[1].Get("signal"); !sig.IsUndefined() {
			opts := js.Global().Get("Object").Call("assign", js.Global().Get("Object").New(), args[1])
			opts.Delete("signal")
			args = append([]js.Value{args[0], opts}, args[2:]...)
			ctx, cancel := signalContext(sig)
			defer cancel()
			return ja.call(ctx, method, args)
		}
	}
	return ja.call(context.Background(), method, args)
}

// signalContext is a context ended by the AbortSignal sig.
func signalContext(sig js.Value) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if sig.Type() != js.TypeObject || sig.Get("aborted").Type() != js.TypeBoolean {
		return ctx, cancel
	}
	if sig.Get("aborted").Bool() {
		cancel()
		return ctx, cancel
	}
	onAbort := js.FuncOf(func(js.Value, []js.Value) any { cancel(); return nil })
	sig.Call("addEventListener", "abort", onAbort)
	return ctx, func() {
		sig.Call("removeEventListener", "abort", onAbort)
		onAbort.Release()
		cancel()
	}
}

// stop ends dispatch; it reports whether this call stopped it.
func (ja *jsApp) stop() bool {
	ja.mu.Lock()
	defer ja.mu.Unlock()
	if ja.closed {
		return false
	}
	ja.closed = true
	ja.unsub()
	close(ja.done)
	return true
}

// close is app.close(): closes the service (every call in flight fails).
func (ja *jsApp) close() error {
	ja.stop()
	return ja.svc.Close()
}

// on is app.on(event, fn) for 'message', 'task', 'member', 'peer',
// 'error', 'equivocation', 'fork', 'receipt', 'restore', 'mirror', 'device',
// 'link', 'tab', 'unread'; it
// returns a function that removes fn.
func (ja *jsApp) on(args []js.Value) any {
	if len(args) < 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeFunction {
		return jsutil.NewError(errors.New("on(event, fn): event must be a string and fn a function"))
	}
	ev := room.EventType(args[0].String())
	switch ev {
	case room.EventMessage, room.EventTask, room.EventMember, room.EventPeer, room.EventError, room.EventEquivocation, room.EventFork, room.EventReceipt, room.EventRestore, room.EventRemoved, room.EventMirror, room.EventDevice, app.EventLink, eventTab, room.EventName:
	case room.EventUnread: // a task's unread count changed: app.tasks() (room/unread.go)
	default:
		return jsutil.NewError(fmt.Errorf("on: unknown event %q: use message, task, member, peer, error, equivocation, fork, receipt, restore, removed, mirror, device, link, tab or name", ev))
	}
	ja.mu.Lock()
	id := ja.nextID
	ja.nextID++
	ja.hooks[ev] = append(ja.hooks[ev], appHook{id, args[1]})
	ja.stale = true
	ja.mu.Unlock()
	if ev == room.EventPeer {
		ja.queueState() // after the hook is in: dispatch gives it to the hook, and again to the others (a repeat)
	}
	var off js.Func
	off = js.FuncOf(func(js.Value, []js.Value) any {
		ja.mu.Lock()
		ja.hooks[ev] = slices.DeleteFunc(ja.hooks[ev], func(h appHook) bool { return h.id == id })
		ja.stale = true
		ja.mu.Unlock()
		off.Release()
		return nil
	})
	return off
}

// deliverEvents calls, in the page, hooks[ev.type] with each of evs; a
// hook that throws is reported and the others still run. One call from Go
// per batch of events, rather than one per event and hook.
var deliverEvents = jsutil.Helper("deliverEvents", deliverEventsSrc)

//go:embed js/deliverEvents.js
var deliverEventsSrc string

// eventTab is the event of a tab that became the profile's writer or a
// follower: { type: 'tab', state: 'writer' | 'follower' }.
const eventTab room.EventType = "tab"

// dispatch calls the page's functions with every event, in order, in
// batches of what is queued (each event is the JSON its hooks get).
func (ja *jsApp) dispatch() {
	for {
		var ev json.RawMessage
		select {
		case ev = <-ja.events:
		case <-ja.done:
			return
		}
		batch := []json.RawMessage{ev}
	drain:
		for len(batch) < 1024 {
			select {
			case ev := <-ja.events:
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		hooks := ja.hooksNow()
		var list bytes.Buffer
		list.WriteByte('[')
		for _, ev := range batch {
			typ, restored, ok := eventHead(ev)
			if !ok {
				continue
			}
			if restored != "" {
				// The profile is the identity restored (another tab of it
				// may have asked): app.id says so before the hooks run.
				ja.obj.Set("id", restored)
			}
			if _, ok := hooks[room.EventType(typ)]; !ok {
				continue
			}
			if list.Len() > 1 {
				list.WriteByte(',')
			}
			list.Write(ev)
		}
		if list.Len() == 1 {
			continue
		}
		list.WriteByte(']')
		v, err := jsutil.Parse(list.Bytes())
		if err != nil {
			continue
		}
		callHook(deliverEvents, ja.hooksJS, v)
	}
}

// An appHook is a function given to app.on, and the id its off removes.
type appHook struct {
	id int
	fn js.Value
}

// hooksNow returns the event types that have hooks, and makes them and
// hooksJS again if the hooks changed since they were made (the map is
// made anew, never changed: dispatch reads it without the lock).
func (ja *jsApp) hooksNow() map[room.EventType]struct{} {
	ja.mu.Lock()
	defer ja.mu.Unlock()
	if !ja.stale && ja.hookTypes != nil {
		return ja.hookTypes
	}
	ja.stale = false
	types := make(map[room.EventType]struct{}, len(ja.hooks))
	o := js.Global().Get("Object").New()
	for t, fns := range ja.hooks {
		if len(fns) == 0 {
			continue
		}
		types[t] = struct{}{}
		arr := make([]any, len(fns))
		for i, h := range fns {
			arr[i] = h.fn
		}
		o.Set(string(t), js.ValueOf(arr))
	}
	ja.hooksJS, ja.hookTypes = o, types
	return types
}

// eventHead returns an event's type and, for a restore event, the id of
// the identity restored. The type alone is read when it comes first
// (package app writes it so; the events here are the writer's own JSON or
// came whole in an envelope the tabs decoded, so they are valid JSON);
// else the event is decoded, and ok is false if it is not JSON.
func eventHead(ev json.RawMessage) (typ, restored string, ok bool) {
	if typ, ok := jsonhead.Type(ev); ok && typ != string(room.EventRestore) {
		return typ, "", true
	}
	var head struct {
		Type    string `json:"type"`
		Restore *struct {
			ID string `json:"id"`
		} `json:"restore"`
	}
	if json.Unmarshal(ev, &head) != nil {
		return "", "", false
	}
	if head.Type == string(room.EventRestore) && head.Restore != nil {
		restored = head.Restore.ID
	}
	return head.Type, restored, true
}
