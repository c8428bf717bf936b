//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/task-messenger/task-messenger/internal/chromium"
	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster/clustertest"
	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// soakPage is the page tabs open: the loader alone, beside static/'s
// files (make wasm builds the module there).
const (
	soakPage = "/soak.html"
	pageHTML = "<!doctype html>\n<meta charset=\"utf-8\">\n<title>soak</title>\n<script src=\"taskmessenger.js\"></script>\n"
)

// servePage is the handler of each relay node: its relay for websocket
// upgrades (natives dial the node's root, pages its /relay), else the
// page, static/'s files and /config.json naming every node (this one
// first) and the mirrors.
func servePage(static string, mirrors []identity.ID) clustertest.Wrap {
	return func(i int, urls []string, rh http.Handler) http.Handler {
		cfg := relay.PageConfig{}
		for k := range urls {
			cfg.Relays = append(cfg.Relays, pageRelay(urls[(i+k)%len(urls)]))
		}
		for _, m := range mirrors {
			cfg.Mirrors = append(cfg.Mirrors, m.String())
		}
		mux := http.NewServeMux()
		mux.Handle("GET /config.json", relay.ConfigHandler(cfg))
		mux.HandleFunc("GET "+soakPage, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(pageHTML))
		})
		mux.Handle("/", relay.StaticHandler(static))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				rh.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
}

// pageRelay is the relay URL a page of the node at url uses: its /relay,
// as the page's default.
func pageRelay(url string) string { return url + "/relay" }

// pageURL is the page of the node whose relay is at url.
func pageURL(url string) string { return "http" + strings.TrimPrefix(url, "ws") + soakPage }

// staticDir is the repository's static/ directory.
func staticDir() string { return filepath.Join("..", "..", "static") }

// A browser is one Chromium process with a fresh profile directory: one
// storage, shared by its tabs.
type browser struct {
	ctx    context.Context // the browser's first tab, kept blank; its cancel stops Chromium
	cancel func()
	rtc    bool // immutable: WebRTC on (getUserMedia in every tab)
}

// startBrowser starts Chromium with chromium.Flags, and the WebRTC flags
// if rtc.
func startBrowser(rtc bool) (*browser, error) {
	var extra []string
	if rtc {
		extra = chromium.RTCFlags
	}
	opts, err := chromium.Options(extra...)
	if err != nil {
		return nil, err
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx, cancel: func() { cancel(); acancel() }, rtc: rtc}
	if err := chromedp.Do(ctx); err != nil {
		b.cancel()
		return nil, fmt.Errorf("starting %s: %w", chromium.Path, err)
	}
	return b, nil
}

// stop stops Chromium and removes its profile directory.
func (b *browser) stop() { b.cancel() }

// A tab is a page of a browser with a profile open, reopened in a new
// page of the same browser after a close or a crash.
type tab struct {
	name    string                               // immutable: for errors
	b       *browser                             // immutable
	url     string                               // immutable: the page
	profile string                               // immutable
	seen    func(self identity.ID, ev app.Event) // immutable: gets the app's message and peer events; must not block
	opts    func() map[string]any                // immutable: more options of tm.open (link), or nil
	onOpen  func(self identity.ID, online bool)  // immutable, may be nil: called on every (re)open
	logf    func(format string, args ...any)     // immutable

	mu     sync.Mutex
	ctx    context.Context // guarded by mu: the page's; nil while closed
	cancel func()          // guarded by mu: closes the page
	self   identity.ID     // guarded by mu: this device's id once open
	up     bool            // guarded by mu: the app's state is online
}

// openTimeout bounds opening a page and its profile.
const openTimeout = 2 * time.Minute

// open opens a new page of the browser, opens the profile in it (tm.open
// with webrtc as the browser has it) and forwards the app's message and
// peer events to seen.
func (t *tab) open() error {
	ctx, cancel := chromedp.NewContext(t.b.ctx)
	t.mu.Lock()
	if t.ctx != nil {
		t.mu.Unlock()
		cancel()
		return fmt.Errorf("%s: open while open", t.name)
	}
	t.ctx, t.cancel, t.up = ctx, cancel, false
	t.mu.Unlock()
	err := t.load(ctx)
	if err != nil {
		t.close()
		return fmt.Errorf("%s: %w", t.name, err)
	}
	return nil
}

// load sets up the page in ctx and opens the profile.
func (t *tab) load(ctx context.Context) error {
	err := chromedp.Listen(ctx, func(ev any) {
		if b, ok := ev.(*runtime.EventBindingCalled); ok && b.Name == "soakEvent" {
			t.event(ctx, b.Payload)
		}
	})
	if err != nil {
		return fmt.Errorf("opening a page: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if _, err := chromedp.Call(tctx, runtime.AddBinding, runtime.AddBindingParams{Name: "soakEvent"}); err != nil {
		return fmt.Errorf("Runtime.addBinding: %w", err)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(t.url)); err != nil {
		return fmt.Errorf("navigate to %s: %w", t.url, err)
	}
	o := map[string]any{"profile": t.profile, "webrtc": t.b.rtc}
	if t.opts != nil {
		for k, v := range t.opts() {
			o[k] = v
		}
	}
	opts, _ := json.Marshal(o)
	script := `(async () => {
  const tm = await window.taskmessenger.ready
  if (` + strconv.FormatBool(t.b.rtc) + `) await navigator.mediaDevices.getUserMedia({ audio: true })
  const a = window.tmApp = await tm.open(` + string(opts) + `)
  for (const type of ['message', 'peer']) a.on(type, (ev) => soakEvent(JSON.stringify({ self: a.id, ev })))
  return a.id
})()`
	id, err := chromedp.Run(tctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("tm.open(%s): %w", opts, err)
	}
	self, err := identity.ParseID(id)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.self = self
	up := t.up
	t.mu.Unlock()
	if t.onOpen != nil {
		t.onOpen(self, up)
	}
	return nil
}

// event decodes an event the page forwarded ({self, ev}) and records
// it; ctx is the page's, whose events these are.
func (t *tab) event(ctx context.Context, payload string) {
	var p struct {
		Self identity.ID
		Ev   app.Event
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.logf("%s: an event %.200s: %v", t.name, payload, err)
		return
	}
	t.mu.Lock()
	if t.ctx != ctx {
		t.mu.Unlock()
		return
	}
	if p.Ev.Type == room.EventPeer && p.Ev.Peer == p.Self {
		t.up = p.Ev.State == app.StateOnline
	}
	t.mu.Unlock()
	t.seen(p.Self, p.Ev)
}

// do calls app[method](...args) in the page, args a JSON array, and
// returns its result as JSON ("null" for none); app.ErrClosed while the
// page is closed or if it closed during the call.
func (t *tab) do(ctx context.Context, method, args string) ([]byte, error) {
	t.mu.Lock()
	pctx := t.ctx
	t.mu.Unlock()
	if pctx == nil {
		return nil, app.ErrClosed
	}
	m, _ := json.Marshal(method)
	expr := `(async () => JSON.stringify((await window.tmApp[` + string(m) + `](...` + args + `)) ?? null))()`
	ctx, cancel := mergeCancel(pctx, ctx)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		if pctx.Err() != nil || t.current() != pctx {
			return nil, fmt.Errorf("%s: %s: %w (%v)", t.name, method, app.ErrClosed, err)
		}
		return nil, fmt.Errorf("%s: %s: %w", t.name, method, err)
	}
	return []byte(out), nil
}

// mergeCancel is a context of page (chromedp's target) that ends with
// call too.
func mergeCancel(page, call context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(page)
	if d, ok := call.Deadline(); ok {
		ctx, cancel2 := context.WithDeadline(ctx, d)
		stop := context.AfterFunc(call, cancel2)
		return ctx, func() { stop(); cancel2(); cancel() }
	}
	stop := context.AfterFunc(call, cancel)
	return ctx, func() { stop(); cancel() }
}

// current is the open page's context, nil while closed.
func (t *tab) current() context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctx
}

// online says whether the page is open and its app online.
func (t *tab) online() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctx != nil && t.up
}

// id is this device's id (zero before the first open).
func (t *tab) id() identity.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.self
}

// close closes the page cleanly, as a person closes a tab (chromedp closes
// its target); calls in flight fail.
func (t *tab) close() {
	t.mu.Lock()
	cancel := t.cancel
	t.ctx, t.cancel, t.up = nil, nil, false
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// crash crashes the page's renderer (Page.crash: the process dies with
// whatever the page was doing in flight), waits for the crash and closes
// what is left of the page.
func (t *tab) crash() error {
	pctx := t.current()
	if pctx == nil {
		return fmt.Errorf("%s: crash while closed", t.name)
	}
	crashed := make(chan struct{})
	var once sync.Once
	err := chromedp.Listen(pctx, func(ev any) {
		if _, ok := ev.(*inspector.EventTargetCrashed); ok {
			once.Do(func() { close(crashed) })
		}
	})
	if err != nil {
		t.close()
		return fmt.Errorf("%s: %w", t.name, err)
	}
	ctx, cancel := context.WithTimeout(pctx, 30*time.Second)
	defer cancel()
	go chromedp.Call(ctx, page.Crash, cdp.Empty{}) // it answers no more once the renderer died
	select {
	case <-crashed:
	case <-ctx.Done():
		err = fmt.Errorf("%s: no crash within 30 s of Page.crash", t.name)
	}
	t.close()
	return err
}
