//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
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
// first), the mirrors and devtools' /peer URL ("" for none).
func servePage(static string, mirrors []identity.ID, devtools string) clustertest.Wrap {
	return func(i int, urls []string, rh http.Handler) http.Handler {
		cfg := relay.PageConfig{Devtools: devtools}
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

// A tabConfig is how a peer's tabs open: which browser, which page,
// which profile.
type tabConfig struct {
	name    string                // for errors
	b       *browser              // its storage
	url     string                // the page, served by the peer's home relay node: its origin, its storage
	profile string                // the profile tm.open opens
	opts    func() map[string]any // more options of tm.open (link), or nil
	logf    func(string, ...any)  // for what goes wrong in an event
}

// A tab is a page of a browser with a profile open: a client.
type tab struct {
	cfg  tabConfig                            // immutable
	ctx  context.Context                      // immutable: the page's (chromedp's target); done once closed
	stop func()                               // immutable: closes the page
	seen func(self identity.ID, ev app.Event) // immutable: gets the app's message and peer events; must not block

	mu sync.Mutex
	up bool // guarded by mu: the app's own state is online
}

// openTimeout bounds opening a page and its profile.
const openTimeout = 2 * time.Minute

// tabStart is a peer's start: it opens a new page of cfg's browser.
func tabStart(cfg tabConfig) func(func(identity.ID, app.Event)) (client, error) {
	return func(events func(identity.ID, app.Event)) (client, error) {
		t, err := openTab(cfg, events)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}

// openTab opens a new page of the browser, opens the profile in it
// (tm.open, with webrtc as the browser has it) and forwards the app's
// message and peer events to seen.
func openTab(cfg tabConfig, seen func(identity.ID, app.Event)) (*tab, error) {
	ctx, cancel := chromedp.NewContext(cfg.b.ctx)
	t := &tab{cfg: cfg, ctx: ctx, stop: cancel, seen: seen}
	if err := t.load(); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", cfg.name, err)
	}
	return t, nil
}

// load sets up the page, loads it (polling while its relay node is
// down) and opens the profile.
func (t *tab) load() error {
	err := chromedp.Listen(t.ctx, func(ev any) {
		if b, ok := ev.(*runtime.EventBindingCalled); ok && b.Name == "soakEvent" {
			t.event(b.Payload)
		}
	})
	if err != nil {
		return fmt.Errorf("opening a page: %w", err)
	}
	ctx, cancel := context.WithTimeout(t.ctx, openTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: "soakEvent"}); err != nil {
		return fmt.Errorf("Runtime.addBinding: %w", err)
	}
	o := map[string]any{"profile": t.cfg.profile, "webrtc": t.cfg.b.rtc}
	if t.cfg.opts != nil {
		for k, v := range t.cfg.opts() {
			o[k] = v
		}
	}
	opts, _ := json.Marshal(o)
	script := `(async () => {
  if (!window.taskmessenger) throw new Error('taskmessenger: cannot load taskmessenger.js')
  const tm = await window.taskmessenger.ready
  if (` + strconv.FormatBool(t.cfg.b.rtc) + `) await navigator.mediaDevices.getUserMedia({ audio: true })
  const a = window.tmApp = await tm.open(` + string(opts) + `)
  for (const type of ['message', 'peer']) a.on(type, (ev) => soakEvent(JSON.stringify({ self: a.id, ev })))
  return a.id
})()`
	for {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(t.cfg.url))
		if err == nil && resp != nil && resp.Status == http.StatusOK {
			_, err = chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
			if err == nil {
				return nil
			}
			if !strings.Contains(err.Error(), "taskmessenger: cannot load") || ctx.Err() != nil {
				return fmt.Errorf("tm.open(%s): %w", opts, err)
			}
			// The node died while the page loaded its files (the
			// loader's, or the loader itself): load it again, as a
			// user would.
		}
		if ctx.Err() != nil {
			return fmt.Errorf("navigate to %s: %v", t.cfg.url, err)
		}
		time.Sleep(250 * time.Millisecond) // polling the home node, killed by the schedule
	}
}

// event decodes an event the page forwarded ({self, ev}) and records it.
func (t *tab) event(payload string) {
	var p struct {
		Self identity.ID
		Ev   app.Event
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.cfg.logf("%s: an event %.200s: %v", t.cfg.name, payload, err)
		return
	}
	if p.Ev.Type == room.EventPeer && p.Ev.Peer == p.Self {
		t.mu.Lock()
		t.up = p.Ev.State == app.StateOnline
		t.mu.Unlock()
	}
	t.seen(p.Self, p.Ev)
}

// do calls app[method](...args) in the page, args a JSON array, and
// returns its result as JSON ("null" for none); an error wrapping
// app.ErrClosed if the page closed.
func (t *tab) do(call context.Context, method, args string) ([]byte, error) {
	m, _ := json.Marshal(method)
	expr := `(async () => JSON.stringify((await window.tmApp[` + string(m) + `](...` + args + `)) ?? null))()`
	ctx, cancel := pageContext(t.ctx, call)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		if t.ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %s: %w (%v)", t.cfg.name, method, app.ErrClosed, err)
		}
		if errors.Is(call.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s: %s: %w; %s", t.cfg.name, method, errNoAnswer, t.stuck())
		}
		return nil, fmt.Errorf("%s: %s: %w", t.cfg.name, method, err)
	}
	return []byte(out), nil
}

// stuck says what a page that did not answer a call is doing: whether it
// answers at all, and where its goroutines wait (tm.stacks; the whole
// dump in artifacts/).
func (t *tab) stuck() string {
	ctx, cancel := context.WithTimeout(t.ctx, 15*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => (await window.taskmessenger.ready).stacks())()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Sprintf("the page does not answer at all (%v)", err)
	}
	file := filepath.Join("..", "..", "artifacts", "soak-stacks-"+t.cfg.name+".txt")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err == nil {
		os.WriteFile(file, []byte(out), 0o644)
	}
	return "its goroutines (all in " + file + "):\n" + summarizeStacks(out, 15)
}

// pageContext is a context of page (chromedp's target) that ends with
// call too.
func pageContext(page, call context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(page)
	stop := context.AfterFunc(call, cancel)
	return ctx, func() { stop(); cancel() }
}

// online says whether the page's app is online.
func (t *tab) online() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.up && t.ctx.Err() == nil
}

// close closes the page cleanly, as a person closes a tab (chromedp closes
// its target); calls in flight fail.
func (t *tab) close() { t.stop() }

// crash crashes the page's renderer (Page.crash: the process dies with
// whatever the page was doing in flight), waits for the crash and closes
// what is left of the page.
func (t *tab) crash() error {
	defer t.stop()
	crashed := make(chan struct{})
	var once sync.Once
	err := chromedp.Listen(t.ctx, func(ev any) {
		if _, ok := ev.(*inspector.EventTargetCrashed); ok {
			once.Do(func() { close(crashed) })
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", t.cfg.name, err)
	}
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	go chromedp.Call(ctx, page.Crash, cdp.Empty{}) // it answers no more once the renderer died
	select {
	case <-crashed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: no crash within 30 s of Page.crash", t.cfg.name)
	}
}
