package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/internal/wsconn"
	"github.com/task-messenger/task-messenger/relay/wire"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// ErrEarlyUsed is the error of an Early's Dial after its first, or after
// Close.
var ErrEarlyUsed = errors.New("relay: early connection already used or closed")

// earlyWait bounds the opening of an Early's websocket. The relay, for
// its part, closes a connection that has not proved an id within its
// handshake timeout (10 s by default).
const earlyWait = 10 * time.Second

// An Early is a connection to the relay whose websocket opens before the
// key that will prove itself on it is at hand: the browser opens a
// websocket quickly while the page is idle, and slowly once it is busy,
// so a page that starts to open it as it begins to load a profile is
// online sooner. Nothing is sent on it before Dial; the relay sees a
// connection that has not said who it is, as with Dial until its
// handshake.
//
// Its methods may be called from any goroutine. An Early that is not
// dialled must be closed.
type Early struct {
	url    string
	host   wire.Host
	cancel context.CancelFunc
	opened chan struct{} // closed once ws or err is set

	ws  *wsconn.Conn // set before opened closes; nil if err
	err error        // set before opened closes

	mu    sync.Mutex
	taken bool // guarded by mu: Dial or Close came
}

// Predial starts opening a connection to the relay at url for Dial to
// finish. A URL Dial would refuse gives an Early whose Dial returns that
// error.
func Predial(url string) *Early {
	e := &Early{url: url, opened: make(chan struct{})}
	host, err := dialHost(url)
	if err != nil {
		e.err, e.cancel = err, func() {}
		close(e.opened)
		return e
	}
	e.host = host
	ctx, cancel := context.WithTimeout(context.Background(), earlyWait)
	e.cancel = cancel
	go func() {
		e.ws, e.err = openWS(ctx, url)
		close(e.opened)
	}()
	return e
}

// URL returns the relay's URL given to Predial.
func (e *Early) URL() string { return e.url }

// Opened is closed once the websocket's opening ended, opened or failed.
func (e *Early) Opened() <-chan struct{} { return e.opened }

// Dial waits for the websocket to open, then proves key's id on it as
// Dial does. Only the first call, before Close, dials; it returns the
// error of the websocket's opening if that failed.
func (e *Early) Dial(ctx context.Context, key *identity.Key) (*Client, error) {
	if !e.take() {
		return nil, ErrEarlyUsed
	}
	defer e.cancel()
	select {
	case <-e.opened:
	case <-ctx.Done():
		go e.closeWhenOpen()
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return finish(ctx, e.ws, key, e.host)
}

// Close gives the connection up unless Dial took it.
func (e *Early) Close() {
	if !e.take() {
		return
	}
	e.cancel()
	go e.closeWhenOpen()
}

func (e *Early) take() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.taken {
		return false
	}
	e.taken = true
	return true
}

// closeWhenOpen closes the websocket once its opening ended, if it opened.
func (e *Early) closeWhenOpen() {
	<-e.opened
	if e.ws != nil {
		e.ws.CloseNow()
	}
}
