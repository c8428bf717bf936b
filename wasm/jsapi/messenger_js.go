//go:build js && wasm

package jsapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall/js"
	"time"

	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// jsApp is the messenger of one profile: tm.open({ profile, relay,
// devtools, webrtc }) → app. Every method returns a Promise; events go to
// the functions given to app.on(event, fn).
type jsApp struct {
	api      *API
	profile  *vault.Profile
	relay    string
	webrtc   bool
	devtools string // "" when reporting is off
	funcs    jsutil.Funcs
	obj      js.Value // the app object; its id is set again by a restore
	events   chan room.Event
	done     chan struct{} // closed by close: dispatch ends

	reporter   *report.Reporter // nil when reporting is off
	stopReport func()

	mu      sync.Mutex
	io      *peerio.IO
	m       *room.Messenger
	unsub   func()
	offline func() // stops going online and waits
	hooks   map[room.EventType]map[int]js.Value
	nextID  int
	closed  bool
}

// openApp is tm.open({ profile, relay, devtools, webrtc, storage }).
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
	devtools, err := devtoolsOpt(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	p, err := a.openProfile(ctx, name, opts, "open")
	if err != nil {
		return nil, err
	}
	app := &jsApp{api: a, profile: p, relay: relayURL, webrtc: opts.Get("webrtc").Truthy(), devtools: devtools,
		events: make(chan room.Event, 4096), done: make(chan struct{}), hooks: make(map[room.EventType]map[int]js.Value)}
	app.startReporter()
	if err := app.start(ctx); err != nil {
		app.stopReport()
		a.release(p.ID)
		p.Close()
		return nil, err
	}
	go app.dispatch()
	return app.value(), nil
}

// devtoolsOpt is the devtools address: opts.devtools if given (null or ""
// turns reporting off), else the serving origin's configuration
// (/config.json, written by the relay's -devtools flag), else none.
func devtoolsOpt(ctx context.Context, opts js.Value) (string, error) {
	if v := opts.Get("devtools"); !v.IsUndefined() {
		if v.IsNull() {
			return "", nil
		}
		return stringOpt(opts, "devtools", "")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := jsutil.Await(ctx, js.Global().Call("fetch", "/config.json"))
	if err != nil || !resp.Get("ok").Truthy() {
		return "", nil
	}
	cfg, err := jsutil.Await(ctx, resp.Call("json"))
	if err != nil || cfg.Get("devtools").Type() != js.TypeString {
		return "", nil
	}
	return cfg.Get("devtools").String(), nil
}

// start opens the messenger, then goes online in the background: the
// profile's tasks and timelines show at once, with or without the relay.
// Joins and dials wait until it is online. The page learns the relay
// connection's state as 'peer' events for its own id (online, offline).
func (app *jsApp) start(ctx context.Context) error {
	db := app.profile.DB
	iocfg := peerio.Config{Relay: app.relay, Logger: slog.Default(),
		// The relay connection ended (another tab of this profile may have
		// replaced it): stay offline if a tab opened the profile after this
		// one (it is the writer; watchStale then stops this tab), else
		// connect again.
		Reconnect: func(bool) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return !errors.Is(db.CheckWriter(ctx), journal.ErrStaleWriter)
		}}
	if app.webrtc {
		iocfg.WebRTC = &peerio.RTCConfig{}
	}
	io := peerio.New(app.profile.Name, app.profile.DB.Identity().Seed(), iocfg)
	online := make(chan struct{})
	dial := func(ctx context.Context, peer identity.ID) (port.Port, error) {
		select {
		case <-online:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return io.At(ctx, peer)
	}
	cfg := room.Config{DB: app.profile.DB, Dial: dial, Sync: replication.Config{DataBytes: 1 << 20}}
	if app.reporter != nil {
		cfg.Observe = app.reporter
	}
	m, err := room.Open(ctx, cfg)
	if err != nil {
		return err
	}
	unsub := m.Subscribe(app.queue)
	octx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.goOnline(octx, io, m, online)
	}()
	go app.watchStale(octx, app.profile.DB)
	app.mu.Lock()
	app.io, app.m, app.unsub = io, m, unsub
	app.offline = func() { cancel(); <-done }
	app.mu.Unlock()
	return nil
}

// ReplacedState is the state of the page's own 'peer' event when another
// tab or window opened this profile and wrote: this tab stops.
const ReplacedState = "replaced"

// watchStale stops the messenger, the relay connection and the reporter
// when another instance of the profile on the same storage (a tab opened
// later) has written its books: this tab's writes would fail from then on
// (journal.ErrStaleWriter), and going on would only make the two tabs evict
// each other at the relay and at devtools. The page is told, so it can say
// to reload.
func (app *jsApp) watchStale(ctx context.Context, db *journal.DB) {
	select {
	case <-db.Stale():
	case <-ctx.Done():
		return
	}
	app.queue(room.Event{Type: room.EventPeer, Peer: app.profile.ID, State: ReplacedState})
	app.queue(room.Event{Type: room.EventError, Err: errors.New("this profile was opened in another tab or window, which writes it now: this tab stopped (reload it to use the profile here)")})
	app.stop()
	app.stopReport()
}

// queue hands a messenger event to dispatch without blocking.
func (app *jsApp) queue(ev room.Event) {
	select {
	case app.events <- ev:
	default: // the page is not keeping up: it reads the timeline again on the next event
	}
}

// goOnline connects to the relay, trying again (up to every 5 s) until it
// succeeds or ctx ends; then closes online.
func (app *jsApp) goOnline(ctx context.Context, io *peerio.IO, m *room.Messenger, online chan struct{}) {
	self := app.profile.ID
	wait := 250 * time.Millisecond
	for {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := io.On(octx, m.Accept)
		cancel()
		if err == nil {
			close(online)
			app.queue(room.Event{Type: room.EventPeer, Peer: self, State: "online"})
			return
		}
		if ctx.Err() != nil {
			return
		}
		app.queue(room.Event{Type: room.EventPeer, Peer: self, State: "offline"})
		app.queue(room.Event{Type: room.EventError, Err: fmt.Errorf("relay %s: %w (trying again)", app.relay, err)})
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// startReporter streams the profile's books and protocol to the devtools
// server, if one is configured, until close. Its commands: export, import
// (the messenger restarts to show imported tasks) and reset (the page
// reloads on a new identity).
func (app *jsApp) startReporter() {
	app.stopReport = func() {}
	if app.devtools == "" {
		return
	}
	db := app.profile.DB
	app.reporter = report.New(report.Config{
		URL: app.devtools, DB: db, Alias: app.profile.Name, Logger: slog.Default(),
		Import: func(ctx context.Context, b []byte) error {
			ex, err := decodeExport(b)
			if err != nil {
				return err
			}
			_, err = app.reimport(ctx, ex)
			return err
		},
		Reset: func(context.Context) error {
			go func() { // after the answer is sent
				time.Sleep(100 * time.Millisecond)
				if err := app.resetNow(); err != nil {
					println("taskmessenger: reset from devtools:", err.Error())
				}
				js.Global().Get("location").Call("reload")
			}()
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.reporter.Run(ctx)
	}()
	app.stopReport = func() { cancel(); <-done }
}

// stop closes the messenger and goes offline; the profile stays open.
func (app *jsApp) stop() {
	app.mu.Lock()
	io, m, unsub, offline := app.io, app.m, app.unsub, app.offline
	app.io, app.m, app.unsub, app.offline = nil, nil, nil, nil
	app.mu.Unlock()
	if m == nil {
		return
	}
	offline()
	unsub()
	m.Close()
	io.Close()
}

func (app *jsApp) messenger() (*room.Messenger, error) {
	app.mu.Lock()
	defer app.mu.Unlock()
	if app.closed || app.m == nil {
		return nil, errors.New("this app is closed")
	}
	return app.m, nil
}

func (app *jsApp) value() js.Value {
	o := js.Global().Get("Object").New()
	o.Set("id", app.profile.ID.String())
	o.Set("profile", app.profile.Name)
	o.Set("devtools", app.devtools)
	o.Set("createTask", app.funcs.Async(app.createTask))
	o.Set("rename", app.funcs.Async(app.rename))
	o.Set("invite", app.funcs.Async(app.invite))
	o.Set("revokeInvite", app.funcs.Async(app.revokeInvite))
	o.Set("join", app.funcs.Async(app.join))
	o.Set("send", app.funcs.Async(app.send))
	o.Set("sendMany", app.funcs.Async(app.sendMany))
	o.Set("timeline", app.funcs.Async(app.timeline))
	o.Set("tasks", app.funcs.Async(app.tasks))
	o.Set("members", app.funcs.Async(app.members))
	o.Set("export", app.funcs.Async(app.export))
	o.Set("import", app.funcs.Async(app.importJSON))
	o.Set("reset", app.funcs.Async(app.reset))
	o.Set("close", app.funcs.Async(func([]js.Value) (any, error) { return nil, app.close() }))
	o.Set("on", app.funcs.Add(func(_ js.Value, args []js.Value) any { return app.on(args) }))
	app.obj = o
	return o
}

// jsValue turns a Go value into a JS one through JSON.
func jsValue(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Undefined(), err
	}
	return jsutil.Parse(b)
}

func taskArg(args []js.Value, i int, what string) (room.TaskID, error) {
	if len(args) <= i || args[i].Type() != js.TypeString {
		return room.TaskID{}, fmt.Errorf("%s: taskId must be a string", what)
	}
	return room.ParseTaskID(args[i].String())
}

// createTask is app.createTask({ title, parent }) → task.
func (app *jsApp) createTask(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	opts := option(args, 0)
	title, err := stringOpt(opts, "title", "")
	if err != nil {
		return nil, fmt.Errorf("createTask: %w", err)
	}
	var parent *room.TaskID
	if ps, err := stringOpt(opts, "parent", ""); err != nil {
		return nil, fmt.Errorf("createTask: %w", err)
	} else if ps != "" {
		p, err := room.ParseTaskID(ps)
		if err != nil {
			return nil, fmt.Errorf("createTask: parent: %w", err)
		}
		parent = &p
	}
	t, err := m.CreateTask(context.Background(), title, parent)
	if err != nil {
		return nil, err
	}
	return jsValue(t)
}

// rename is app.rename(taskId, title).
func (app *jsApp) rename(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	id, err := taskArg(args, 0, "rename(taskId, title)")
	if err != nil {
		return nil, err
	}
	if len(args) < 2 || args[1].Type() != js.TypeString {
		return nil, errors.New("rename(taskId, title): title must be a string")
	}
	return nil, m.Rename(context.Background(), id, args[1].String())
}

// invite is app.invite(taskId, { expires }) → code; expires (a Date or
// Unix ms) is when the code stops admitting anyone.
func (app *jsApp) invite(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	id, err := taskArg(args, 0, "invite(taskId)")
	if err != nil {
		return nil, err
	}
	var opts room.InviteOptions
	switch e := option(args, 1).Get("expires"); {
	case e.IsUndefined() || e.IsNull():
	case e.Type() == js.TypeNumber:
		opts.Expires = time.UnixMilli(int64(e.Float()))
	case e.Type() == js.TypeObject && e.Get("getTime").Type() == js.TypeFunction:
		opts.Expires = time.UnixMilli(int64(e.Call("getTime").Float()))
	default:
		return nil, errors.New("invite: expires must be a Date or a number of Unix ms")
	}
	return m.Invite(context.Background(), id, opts)
}

// revokeInvite is app.revokeInvite(code): the code, issued by this
// profile, admits no one from now on.
func (app *jsApp) revokeInvite(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New("revokeInvite(code): code must be a string")
	}
	return nil, m.RevokeInvite(context.Background(), args[0].String())
}

// join is app.join(code, { timeout, signal }) → task: waits while the host
// is offline, until the timeout (ms) or the AbortSignal.
func (app *jsApp) join(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New("join(code): code must be a string")
	}
	ctx, cancel := optContext(option(args, 1))
	defer cancel()
	t, err := m.Join(ctx, args[0].String())
	if err != nil {
		return nil, err
	}
	return jsValue(t)
}

// optContext is a context ended by opts.timeout (ms) or opts.signal.
func optContext(opts js.Value) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if t := opts.Get("timeout"); t.Type() == js.TypeNumber && t.Float() > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, time.Duration(t.Float()*float64(time.Millisecond)))
		prev := cancel
		cancel = func() { c2(); prev() }
	}
	if sig := opts.Get("signal"); sig.Type() == js.TypeObject && sig.Get("aborted").Type() == js.TypeBoolean {
		if sig.Get("aborted").Bool() {
			cancel()
			return ctx, cancel
		}
		onAbort := js.FuncOf(func(js.Value, []js.Value) any { cancel(); return nil })
		sig.Call("addEventListener", "abort", onAbort)
		prev := cancel
		cancel = func() {
			sig.Call("removeEventListener", "abort", onAbort)
			onAbort.Release()
			prev()
		}
	}
	return ctx, cancel
}

// send is app.send(taskId, text, { replyTo }) → message; replyTo is a
// message id ("by/mid") or a message.
func (app *jsApp) send(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	id, err := taskArg(args, 0, "send(taskId, text)")
	if err != nil {
		return nil, err
	}
	if len(args) < 2 || args[1].Type() != js.TypeString {
		return nil, errors.New("send(taskId, text): text must be a string")
	}
	var reply *room.Ref
	if r := option(args, 2).Get("replyTo"); !r.IsUndefined() && !r.IsNull() {
		if r.Type() == js.TypeObject {
			r = r.Get("id")
		}
		if r.Type() != js.TypeString {
			return nil, errors.New("send: replyTo must be a message or its id")
		}
		ref, err := room.ParseRef(r.String())
		if err != nil {
			return nil, fmt.Errorf("send: replyTo: %w", err)
		}
		reply = &ref
	}
	msg, err := m.Send(context.Background(), id, args[1].String(), reply)
	if err != nil {
		return nil, err
	}
	return messageValue(&msg)
}

// sendMany is app.sendMany(taskId, texts) → the number written: up to
// 4096 chat messages in one batch (one write per book).
func (app *jsApp) sendMany(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	id, err := taskArg(args, 0, "sendMany(taskId, texts)")
	if err != nil {
		return nil, err
	}
	if len(args) < 2 || !js.Global().Get("Array").Call("isArray", args[1]).Bool() {
		return nil, errors.New("sendMany(taskId, texts): texts must be an array of strings")
	}
	n := args[1].Length()
	if n > room.MaxBatch {
		return nil, fmt.Errorf("sendMany: %d texts, at most %d", n, room.MaxBatch)
	}
	texts := make([]string, n)
	for i := range texts {
		v := args[1].Index(i)
		if v.Type() != js.TypeString {
			return nil, fmt.Errorf("sendMany: texts[%d] is not a string", i)
		}
		texts[i] = v.String()
	}
	msgs, err := m.SendMany(context.Background(), id, texts)
	return len(msgs), err
}

// messageView is a message as the page sees it: the standard format plus
// its id (for replies) and key (for paging).
type messageView struct {
	*room.Message
	ID  string `json:"id"`
	Key string `json:"key"`
	Raw string `json:"raw,omitempty"` // an invalid page, as text
}

func view(m *room.Message) messageView {
	v := messageView{Message: m, ID: m.Ref().String(), Key: m.Key().String()}
	if m.Type == room.TypeInvalid {
		v.Raw = string(m.Raw)
	}
	return v
}

func messageValue(m *room.Message) (js.Value, error) { return jsValue(view(m)) }

// timeline is app.timeline(taskId, { before, limit }) → messages, oldest
// first; before is a message key (msg.key).
func (app *jsApp) timeline(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	id, err := taskArg(args, 0, "timeline(taskId)")
	if err != nil {
		return nil, err
	}
	opts := option(args, 1)
	var before *room.Key
	if b, err := stringOpt(opts, "before", ""); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	} else if b != "" {
		k, err := room.ParseKey(b)
		if err != nil {
			return nil, fmt.Errorf("timeline: before: %w", err)
		}
		before = &k
	}
	limit := 0
	if l := opts.Get("limit"); l.Type() == js.TypeNumber {
		limit = l.Int()
	}
	msgs, err := m.Timeline(context.Background(), id, before, limit)
	if err != nil {
		return nil, err
	}
	views := make([]messageView, len(msgs))
	for i := range msgs {
		views[i] = view(&msgs[i])
	}
	return jsValue(views)
}

// taskNode is a task in the tree app.tasks() returns.
type taskNode struct {
	room.TaskInfo
	Children []*taskNode `json:"children"`
}

// tasks is app.tasks() → the task tree: roots in the order made or
// joined, each with its children (a subtask whose parent this profile
// does not have is a root).
func (app *jsApp) tasks([]js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	infos := m.Tasks()
	nodes := make(map[room.TaskID]*taskNode, len(infos))
	for _, t := range infos {
		nodes[t.ID] = &taskNode{TaskInfo: t, Children: []*taskNode{}}
	}
	roots := []*taskNode{}
	for _, t := range infos {
		n := nodes[t.ID]
		if t.Parent != nil && nodes[*t.Parent] != nil {
			p := nodes[*t.Parent]
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return jsValue(roots)
}

// members is app.members(taskId) → [{ id, self, host, paired, online,
// transport, have, length }].
func (app *jsApp) members(args []js.Value) (any, error) {
	m, err := app.messenger()
	if err != nil {
		return nil, err
	}
	id, err := taskArg(args, 0, "members(taskId)")
	if err != nil {
		return nil, err
	}
	ms, err := m.Members(id)
	if err != nil {
		return nil, err
	}
	return jsValue(ms)
}

// export is app.export({ passphrase }): every book of the profile, as
// db.export(), and with a passphrase the profile's seed sealed under it
// (backup.Seal), so that an import restores the identity.
func (app *jsApp) export(args []js.Value) (any, error) {
	if _, err := app.messenger(); err != nil {
		return nil, err
	}
	return exportValue(app.profile.DB, option(args, 0))
}

// exportValue is the export of db, sealed if opts.passphrase is given.
func exportValue(db *journal.DB, opts js.Value) (any, error) {
	pass, err := stringOpt(opts, "passphrase", "")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ex, err := db.Export(context.Background())
	if err != nil {
		return nil, err
	}
	if pass == "" {
		return jsValue(ex)
	}
	b, err := backup.New(ex, db.Identity().Seed(), pass)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return jsValue(b)
}

// importJSON is app.import(json, { passphrase }): verifies and imports an
// export, then restarts the messenger so imported tasks show. With a
// passphrase, the backup's seal is opened and the profile becomes the
// backup's (vault.Restore: the same profile, or an empty one); without,
// only the books are imported. Nothing is written if any of it fails.
func (app *jsApp) importJSON(args []js.Value) (any, error) {
	if _, err := app.messenger(); err != nil {
		return nil, err
	}
	b, err := parseBackup(args)
	if err != nil {
		return nil, err
	}
	pass, err := stringOpt(option(args, 1), "passphrase", "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	var res []journal.ImportResult
	if pass == "" {
		res, err = app.reimport(context.Background(), &b.Export)
	} else {
		res, err = app.restore(context.Background(), b, pass)
	}
	if err != nil {
		return nil, err
	}
	return jsValue(res)
}

// restore opens b's seal and restores the identity and books with the
// messenger and the reporter stopped, then starts them again on the
// profile restored.
func (app *jsApp) restore(ctx context.Context, b *backup.Backup, pass string) ([]journal.ImportResult, error) {
	seed, err := b.Unseal(pass)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	old := app.profile
	id := identity.New(seed).ID()
	if id != old.ID {
		if empty, err := vault.Empty(ctx, old.DB); err != nil {
			return nil, err
		} else if !empty {
			return nil, fmt.Errorf("import: %w", vault.ErrNotEmpty)
		}
		if err := app.api.take(id); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	app.stop()
	app.stopReport()
	p, res, rerr := vault.Restore(ctx, old, seed, &b.Export)
	if rerr != nil {
		if id != old.ID {
			app.api.release(id)
		}
		app.startReporter()
		return nil, errors.Join(fmt.Errorf("import: %w", rerr), app.start(ctx))
	}
	if p != old {
		app.api.release(old.ID)
		app.mu.Lock()
		app.profile = p
		app.mu.Unlock()
		app.obj.Set("id", p.ID.String())
	}
	app.startReporter()
	return res, app.start(ctx)
}

// reimport imports an export (verified by the journal) with the messenger
// stopped, then starts it again so imported tasks show.
func (app *jsApp) reimport(ctx context.Context, ex *journal.Export) ([]journal.ImportResult, error) {
	app.stop()
	res, ierr := app.profile.DB.Import(ctx, ex)
	return res, errors.Join(ierr, app.start(ctx))
}

// parseBackup reads import's argument: a backup or an export (an object
// or its JSON text).
func parseBackup(args []js.Value) (*backup.Backup, error) {
	text, err := importText(args)
	if err != nil {
		return nil, err
	}
	b, err := backup.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("import(json): %w", err)
	}
	return b, nil
}

// importText is import's argument as JSON text.
func importText(args []js.Value) ([]byte, error) {
	if len(args) < 1 {
		return nil, errors.New("import(json): an export (object or JSON text) is required")
	}
	if args[0].Type() == js.TypeString {
		return []byte(args[0].String()), nil
	}
	text, err := jsutil.Stringify(args[0])
	if err != nil {
		return nil, fmt.Errorf("import(json): %w", err)
	}
	return text, nil
}

// parseExport reads import's argument: an export object or its JSON text.
func parseExport(args []js.Value) (*journal.Export, error) {
	if len(args) < 1 {
		return nil, errors.New("import(json): an export (object or JSON text) is required")
	}
	var text []byte
	if args[0].Type() == js.TypeString {
		text = []byte(args[0].String())
	} else {
		var err error
		if text, err = jsutil.Stringify(args[0]); err != nil {
			return nil, fmt.Errorf("import(json): %w", err)
		}
	}
	ex, err := decodeExport(text)
	if err != nil {
		return nil, fmt.Errorf("import(json): %w", err)
	}
	return ex, nil
}

// decodeExport reads an export's JSON.
func decodeExport(text []byte) (*journal.Export, error) {
	var ex journal.Export
	if err := json.Unmarshal(text, &ex); err != nil {
		return nil, fmt.Errorf("not an export: %w", err)
	}
	return &ex, nil
}

// reset is app.reset(): closes the app and deletes the profile's storage
// (its seed too: the next open is a new identity).
func (app *jsApp) reset([]js.Value) (any, error) { return nil, app.resetNow() }

func (app *jsApp) resetNow() error {
	if err := app.close(); err != nil {
		return err
	}
	return app.api.storage.Delete(context.Background(), app.profile.Name)
}

func (app *jsApp) close() error {
	app.mu.Lock()
	if app.closed {
		app.mu.Unlock()
		return nil
	}
	app.closed = true
	app.mu.Unlock()
	app.stop()
	app.stopReport()
	close(app.done)
	app.api.release(app.profile.ID)
	return app.profile.Close()
}

// on is app.on(event, fn) for 'message', 'task', 'member', 'peer',
// 'error', 'equivocation'; it returns a function that removes fn.
func (app *jsApp) on(args []js.Value) any {
	if len(args) < 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeFunction {
		return jsutil.NewError(errors.New("on(event, fn): event must be a string and fn a function"))
	}
	ev := room.EventType(args[0].String())
	switch ev {
	case room.EventMessage, room.EventTask, room.EventMember, room.EventPeer, room.EventError, room.EventEquivocation:
	default:
		return jsutil.NewError(fmt.Errorf("on: unknown event %q: use message, task, member, peer, error or equivocation", ev))
	}
	app.mu.Lock()
	id := app.nextID
	app.nextID++
	if app.hooks[ev] == nil {
		app.hooks[ev] = make(map[int]js.Value)
	}
	app.hooks[ev][id] = args[1]
	app.mu.Unlock()
	var off js.Func
	off = js.FuncOf(func(js.Value, []js.Value) any {
		app.mu.Lock()
		delete(app.hooks[ev], id)
		app.mu.Unlock()
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

// dispatch calls the page's functions with every event, in order, in
// batches of what is queued: message → { task, message }, task → { task },
// member → { task, peer, state }, peer → { peer, state }, error → { error },
// equivocation → { task, peer, evidence }.
func (app *jsApp) dispatch() {
	for {
		var ev room.Event
		select {
		case ev = <-app.events:
		case <-app.done:
			return
		}
		batch := []room.Event{ev}
	drain:
		for len(batch) < 1024 {
			select {
			case ev := <-app.events:
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		app.mu.Lock()
		hooks := js.Global().Get("Object").New()
		for t, fns := range app.hooks {
			if len(fns) == 0 {
				continue
			}
			arr := make([]any, 0, len(fns))
			for _, fn := range fns {
				arr = append(arr, fn)
			}
			hooks.Set(string(t), js.ValueOf(arr))
		}
		app.mu.Unlock()
		evs := make([]map[string]any, 0, len(batch))
		for _, ev := range batch {
			if hooks.Get(string(ev.Type)).IsUndefined() {
				continue
			}
			evs = append(evs, eventView(ev))
		}
		if len(evs) == 0 {
			continue
		}
		v, err := jsValue(evs)
		if err != nil {
			continue
		}
		callHook(deliverEvents, hooks, v)
	}
}

// eventView is an event as the page sees it.
func eventView(ev room.Event) map[string]any {
	o := map[string]any{"type": string(ev.Type)}
	if ev.Task != (room.TaskID{}) {
		o["task"] = ev.Task
	}
	if ev.Message != nil {
		o["message"] = view(ev.Message)
	}
	if !ev.Peer.IsZero() {
		o["peer"] = ev.Peer
	}
	if ev.State != "" {
		o["state"] = ev.State
	}
	if ev.Err != nil {
		o["error"] = ev.Err.Error()
	}
	if ev.Evidence != nil {
		o["evidence"] = ev.Evidence
	}
	return o
}
