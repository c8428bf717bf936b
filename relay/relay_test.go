package relay

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// encMode encodes frames by hand, as the protocol's codec does.
var encMode, _ = journal.Codec(MaxWatch + 8)

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		os.Exit(benchChild())
	}
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for an event in the tests: reaching it is a
// failure, never a way to synchronise.
const wait = 10 * time.Second

// A testRelay is a Server behind httptest on 127.0.0.1.
type testRelay struct {
	*Server
	url    string          // ws://127.0.0.1:port/
	host   Host            // 127.0.0.1:port, what clients sign
	closed chan closedConn // every connection's end, in order
}

type closedConn struct {
	id    identity.ID // zero if it ended in the handshake
	cause error
}

// newRelay runs a server with lim and opts on 127.0.0.1 until the test
// ends; setup (hooks) runs before it serves.
func newRelay(t *testing.T, lim Limits, setup ...func(*Server)) *testRelay {
	return newRelayOpts(t, lim, nil, setup...)
}

func newRelayOpts(t *testing.T, lim Limits, opts []Option, setup ...func(*Server)) *testRelay {
	t.Helper()
	s := NewServer(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})), lim, opts...)
	r := &testRelay{Server: s, closed: make(chan closedConn, 1024)}
	s.onClose = func(c *conn, cause error) {
		select {
		case r.closed <- closedConn{c.id, cause}:
		default:
			panic("relay test: too many closed connections not looked at")
		}
	}
	for _, f := range setup {
		f(s)
	}
	ts := httptest.NewServer(s.Handler())
	r.url = "ws" + strings.TrimPrefix(ts.URL, "http") + "/"
	var err error
	if r.host, err = dialHost(r.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return r
}

// waitClosed waits for the end of the connection of id (zero: any
// connection) and returns its cause.
func (r *testRelay) waitClosed(t *testing.T, id identity.ID) error {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case cc := <-r.closed:
			if id.IsZero() || cc.id == id {
				return cc.cause
			}
		case <-timeout:
			t.Fatalf("connection of %s did not end", id.Short())
		}
	}
}

func key(n byte) *identity.Key { return identity.New(identity.Seed{n, 'r', 'e', 'l', 'a', 'y'}) }

func dial(t *testing.T, r *testRelay, k *identity.Key) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c, err := Dial(ctx, r.url, k)
	if err != nil {
		t.Fatalf("dial %s: %v", k.ID().Short(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns c's next event.
func next(t *testing.T, c *Client) Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("%s: events closed: %v", c.ID().Short(), c.Err())
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("%s: no event", c.ID().Short())
	}
	panic("unreachable")
}

func send(t *testing.T, from *Client, to identity.ID, kind Kind, payload []byte) {
	t.Helper()
	if err := from.Send(t.Context(), to, kind, payload); err != nil {
		t.Fatalf("send %s → %s: %v", from.ID().Short(), to.Short(), err)
	}
}

func expectRecv(t *testing.T, c *Client, from identity.ID, kind Kind, payload []byte) {
	t.Helper()
	ev := next(t, c)
	if ev.Type != FrameRecv || ev.From != from || ev.Kind != kind || !bytes.Equal(ev.Payload, payload) {
		t.Fatalf("%s: got %+v, want recv from %s kind %d %q", c.ID().Short(), short(ev), from.Short(), kind, payload)
	}
}

func expectPresence(t *testing.T, c *Client, id identity.ID, online bool) {
	t.Helper()
	ev := next(t, c)
	if ev.Type != FramePresence || ev.From != id || ev.Online != online {
		t.Fatalf("%s: got %+v, want presence %s online=%v", c.ID().Short(), short(ev), id.Short(), online)
	}
}

func expectError(t *testing.T, c *Client, code string, id identity.ID) Event {
	t.Helper()
	ev := next(t, c)
	if ev.Type != FrameError || ev.Code != code || ev.From != id {
		t.Fatalf("%s: got %+v, want error %s about %s", c.ID().Short(), short(ev), code, id.Short())
	}
	return ev
}

// short clips an event's payload for messages.
func short(ev Event) Event {
	if len(ev.Payload) > 16 {
		ev.Payload = ev.Payload[:16]
	}
	return ev
}

// exchange checks that a and b still reach each other both ways.
func exchange(t *testing.T, a, b *Client, tag string) {
	t.Helper()
	send(t, a, b.ID(), KindSignal, []byte(tag+" a→b"))
	expectRecv(t, b, a.ID(), KindSignal, []byte(tag+" a→b"))
	send(t, b, a.ID(), KindFrame, []byte(tag+" b→a"))
	expectRecv(t, a, b.ID(), KindFrame, []byte(tag+" b→a"))
}

// Raw websocket clients, for what Client will not do.

func rawDial(t *testing.T, r *testRelay) (*websocket.Conn, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	f := rawRead(t, ws)
	if f.Type != FrameChallenge {
		t.Fatalf("got frame type %d, want challenge", f.Type)
	}
	return ws, f.Nonce
}

func rawRead(t *testing.T, ws *websocket.Conn) *Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func rawWrite(t *testing.T, ws *websocket.Conn, f *Frame) {
	t.Helper()
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	rawWriteBytes(t, ws, b)
}

func rawWriteBytes(t *testing.T, ws *websocket.Conn, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
}

// rawAuth returns a raw websocket registered as k.
func rawAuth(t *testing.T, r *testRelay, k *identity.Key) *websocket.Conn {
	t.Helper()
	ws, nonce := rawDial(t, r)
	rawWrite(t, ws, &Frame{Type: FrameHello, ID: k.ID(), Sig: k.Sign(HelloMessage(r.host, nonce)), Host: r.host})
	if f := rawRead(t, ws); f.Type != FrameWelcome {
		t.Fatalf("got frame type %d, want welcome", f.Type)
	}
	return ws
}

// expectClosed reads ws until the relay closes it, and checks the status
// and that the reason contains want.
func expectClosed(t *testing.T, ws *websocket.Conn, code websocket.StatusCode, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended with %v, want a close frame", err)
		}
		if ce.Code != code || !strings.Contains(ce.Reason, want) || ce.Reason == "" {
			t.Fatalf("closed with %d %q, want %d and a reason with %q", ce.Code, ce.Reason, code, want)
		}
		return
	}
}
