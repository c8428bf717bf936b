//go:build !js

package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// get does a GET on the relay's server with the given Host and Origin
// ("": none) and returns the status and body.
func get(t *testing.T, r *testRelay, path, host, origin string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", "http"+strings.TrimPrefix(r.url, "ws")+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// wsDial opens the relay's websocket with the given Host and Origin ("":
// the URL's, none) and returns the HTTP status of a refusal (0 if
// upgraded).
func wsDial(t *testing.T, r *testRelay, host, origin string) int {
	t.Helper()
	opts := &websocket.DialOptions{Host: host, HTTPHeader: http.Header{}}
	if origin != "" {
		opts.HTTPHeader.Set("Origin", origin)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, r.url, opts)
	if err == nil {
		ws.CloseNow()
		r.waitClosed(t, identity.ID{})
		return 0
	}
	if res == nil {
		t.Fatalf("dial: %v", err)
	}
	return res.StatusCode
}

// TestForeignHost: a DNS-rebound name (any Host that is not the relay's)
// is refused on the websocket, before any upgrade, with 421; the
// relay's own names work.
func TestForeignHost(t *testing.T) {
	r := newRelayOpts(t, Limits{}, []Option{WithHosts(mustHost(t, "relay.example"), mustHost(t, "other.example:9443"))})
	port := r.host.Port()
	for _, host := range []string{
		"evil.example:" + port, "evil.example", "127.0.0.2:" + port, "localhost:1", "127.0.0.1",
		"relay.example:1", "other.example", "other.example:" + port, "RELAY.example.:" + port, "",
	} {
		if host == "" {
			continue
		}
		if code := wsDial(t, r, host, ""); code != http.StatusMisdirectedRequest {
			t.Errorf("websocket with Host %q: status %d, want 421", host, code)
		}
		if code, body := get(t, r, "/", host, ""); code != http.StatusMisdirectedRequest || !strings.Contains(body, "misdirected") {
			t.Errorf("GET with Host %q: %d %q, want 421", host, code, body)
		}
	}
	for _, host := range []string{
		"127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port,
		"relay.example", "relay.example:" + port, "other.example:9443",
	} {
		if code := wsDial(t, r, host, ""); code != 0 {
			t.Errorf("websocket with Host %q: status %d, want an upgrade", host, code)
		}
	}
	if n := r.Stats().Rejects[RejectHost]; n != 18 {
		t.Errorf("%d host rejects, want 18", n)
	}
	a, b := dial(t, r, key(1)), dial(t, r, key(2))
	exchange(t, a, b, "after rebinding")
}

// TestOrigin: a browser page may open the relay only from one of the
// relay's own names (coder/websocket's own check accepts Origin == Host,
// which a rebound name satisfies); native clients send no Origin.
func TestOrigin(t *testing.T) {
	r := newRelay(t, Limits{})
	port := r.host.Port()
	for _, origin := range []string{
		"http://evil.example:" + port, "https://evil.example", "null", "http://127.0.0.1:1",
		"file://", "http://127.0.0.1:" + port + "/path", "ftp://127.0.0.1:" + port, "http://user@127.0.0.1:" + port,
	} {
		if code := wsDial(t, r, "", origin); code != http.StatusForbidden {
			t.Errorf("Origin %q: status %d, want 403", origin, code)
		}
	}
	// The rebound name itself: Host and Origin evil.example, equal.
	if code := wsDial(t, r, "evil.example:"+port, "http://evil.example:"+port); code != http.StatusMisdirectedRequest {
		t.Errorf("rebound Host and Origin: status %d, want 421", code)
	}
	for _, origin := range []string{"http://127.0.0.1:" + port, "http://localhost:" + port, "https://[::1]:" + port} {
		if code := wsDial(t, r, "", origin); code != 0 {
			t.Errorf("Origin %q: status %d, want an upgrade", origin, code)
		}
	}
	if n := r.Stats().Rejects[RejectOrigin]; n != 8 {
		t.Errorf("%d origin rejects, want 8", n)
	}
}

// A page served by another node of the cluster may open the relay
// (failover); any other origin still may not.
func TestPageHostsOfOtherNodes(t *testing.T) {
	other := mustHost(t, "127.0.0.1:18080")
	r := newRelayOpts(t, Limits{}, []Option{WithPageHosts(func() []Host { return []Host{other, mustHost(t, "relay2.example")} })})
	for _, origin := range []string{"http://127.0.0.1:18080", "https://relay2.example"} {
		if code := wsDial(t, r, "", origin); code != 0 {
			t.Errorf("Origin %q: status %d, want an upgrade", origin, code)
		}
	}
	for _, origin := range []string{"http://127.0.0.1:18081", "http://localhost:18080", "http://evil.example", "null"} {
		if code := wsDial(t, r, "", origin); code != http.StatusForbidden {
			t.Errorf("Origin %q: status %d, want 403", origin, code)
		}
	}
}

func mustHost(t *testing.T, s string) Host {
	t.Helper()
	h, err := ParseHost(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHelloBoundToRelay: a relay a client was pointed at (mallory, on
// another port) passes the real relay's challenge to the client and the
// client's answer back: the real relay refuses it, because the client
// signed mallory's host.
func TestHelloBoundToRelay(t *testing.T) {
	r := newRelay(t, Limits{})
	victim := key(1)
	result := make(chan error, 1)
	mallory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		client, err := websocket.Accept(w, req, nil)
		if err != nil {
			result <- err
			return
		}
		defer client.CloseNow()
		real, _, err := websocket.Dial(ctx, r.url, nil)
		if err != nil {
			result <- err
			return
		}
		defer real.CloseNow()
		// challenge: real → client; hello: client → real; the answer back.
		for i, pair := range [][2]*websocket.Conn{{real, client}, {client, real}, {real, client}} {
			typ, b, err := pair[0].Read(ctx)
			if err != nil {
				result <- err
				return
			}
			if i == 2 {
				result <- nil // the real relay welcomed the victim's id
			}
			if err := pair[1].Write(ctx, typ, b); err != nil {
				result <- err
				return
			}
		}
	}))
	defer mallory.Close()
	_, err := Dial(t.Context(), "ws"+strings.TrimPrefix(mallory.URL, "http"), victim)
	if err == nil {
		t.Fatal("the victim registered through mallory")
	}
	var ce websocket.CloseError
	if err := <-result; !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "another relay") {
		t.Fatalf("the real relay answered mallory's replay with %v, want closed: signed for another relay", err)
	}
	if cause := r.waitClosed(t, identity.ID{}); !strings.Contains(cause.Error(), "another relay") {
		t.Fatalf("connection ended with %v", cause)
	}

	// A hello naming the relay but signed for another host; one that
	// names another host; one of version 1.
	other := mustHost(t, "127.0.0.1:1")
	ws, nonce := rawDial(t, r)
	rawWrite(t, ws, &Frame{Type: FrameHello, ID: victim.ID(), Sig: victim.Sign(HelloMessage(other, nonce)), Host: r.host})
	expectClosed(t, ws, websocket.StatusPolicyViolation, "bad signature")
	ws, nonce = rawDial(t, r)
	rawWrite(t, ws, &Frame{Type: FrameHello, ID: victim.ID(), Sig: victim.Sign(HelloMessage(other, nonce)), Host: other})
	expectClosed(t, ws, websocket.StatusPolicyViolation, "another relay (127.0.0.1:1)")
	ws, nonce = rawDial(t, r)
	v1, _ := encMode.Marshal([]any{FrameHello, victim.ID().Bytes(), victim.Sign(append([]byte("taskmessenger/relay/v1\n"), nonce...))})
	rawWriteBytes(t, ws, v1)
	expectClosed(t, ws, websocket.StatusPolicyViolation, "version 1")
	for range 3 {
		r.waitClosed(t, identity.ID{})
	}
	if n := r.Stats().Rejects[RejectHello]; n != 4 {
		t.Errorf("%d hello rejects, want 4", n)
	}
	// The victim itself, dialling the relay, gets in.
	dial(t, r, victim)
}

func TestDialHost(t *testing.T) {
	for url, want := range map[string]string{
		"ws://127.0.0.1:8080/relay":       "127.0.0.1:8080",
		"ws://LOCALHOST:80/relay":         "localhost",
		"wss://Relay.Example.com:443/r":   "relay.example.com",
		"wss://relay.example.com:80/r":    "relay.example.com:80",
		"ws://[::1]:8080/relay":           "[::1]:8080",
		"ws://[0:0:0:0:0:0:0:1]:8080/":    "[::1]:8080",
		"http://relay.example.com/relay":  "relay.example.com",
		"ws://relay.example.com:0080/x":   "",
		"ws://[fe80::1%25eth0]:8080/x":    "",
		"ws://relay example/x":            "",
		"ws:///relay":                     "",
		"ws://relay.example.com:65536/x":  "",
		"ws://-relay.example.com/x":       "",
		"ws://relay..example.com/x":       "",
		"ws://relay.example.com:8080:1/x": "",
	} {
		h, err := dialHost(url)
		if want == "" {
			if err == nil || !errors.Is(err, ErrHost) {
				t.Errorf("%s: %v %v, want ErrHost", url, h, err)
			}
			continue
		}
		if err != nil || h.String() != want {
			t.Errorf("%s: %q %v, want %q", url, h.String(), err, want)
		}
	}
}

// TestMaxConnsPerIP: one address cannot hold more than MaxConnsPerIP
// connections (loopback included); others are not affected, and a
// closed connection makes room.
func TestMaxConnsPerIP(t *testing.T) {
	r := newRelay(t, Limits{MaxConnsPerIP: 3})
	a, b := dial(t, r, key(1)), dial(t, r, key(2))
	ws, _ := rawDial(t, r) // in the handshake: counts too
	_, err := Dial(t.Context(), r.url, key(3))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "too many connections from this address") {
		t.Fatalf("fourth connection: %v, want refused: 429 too many connections from this address", err)
	}
	if st := r.Stats(); st.Rejects[RejectPerIP] != 1 || st.Connections != 3 {
		t.Errorf("stats %+v", st)
	}
	exchange(t, a, b, "at the cap")
	ws.CloseNow()
	r.waitClosed(t, identity.ID{})
	c := dial(t, r, key(3))
	exchange(t, b, c, "room again")
}

func TestClientPrefix(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1/32",
		"[::ffff:10.0.0.1]:1":        "10.0.0.1/32",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::]:80":     "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"not an address":             "invalid Prefix",
	} {
		if got := clientPrefix(remote); got.String() != want {
			t.Errorf("%s: %s, want %s", remote, got, want)
		}
	}
	if clientPrefix("[2001:db8::1]:1") != clientPrefix("[2001:db8::2]:2") {
		t.Error("two addresses of one /64 counted apart")
	}
	if clientPrefix("10.0.0.1:1") == clientPrefix("10.0.0.2:1") || clientPrefix("x") != (netip.Prefix{}) {
		t.Error("IPv4 addresses counted together")
	}
}

// budgetRelay runs a relay with a queue budget of 256 KiB (and a share
// per address of perIP, 0: the whole budget) and three authenticated
// clients that never read, and returns them.
func budgetRelay(t *testing.T, perIP ...int64) (r *testRelay, stuck []*websocket.Conn, ids []identity.ID) {
	share := int64(budget) // every client of the tests comes from 127.0.0.1
	if len(perIP) > 0 {
		share = perIP[0]
	}
	r = newRelay(t, Limits{
		MaxQueuedBytes:      budget,
		MaxQueuedBytesPerIP: share,
		SendQueue:           4096,      // the budget, not the queues, is what fills
		WriteTimeout:        time.Hour, // the non-readers are never dropped for it
		FramesPerSec:        1e6,
		BytesPerSec:         1e12,
	})
	for i := range 3 {
		k := key(byte(10 + i))
		stuck = append(stuck, rawAuth(t, r, k)) // and never read
		ids = append(ids, k.ID())
	}
	return r, stuck, ids
}

const budget = 256 << 10

// floodBudget sends frames of MaxPayload bytes from one client to the clients ids (that do not read) until
// until says so, checking on the way that the relay never queues more than
// its budget. It returns how many sends
// were refused with error {limit, "relay queue full"} and the ids it was
// told are offline (dropped).
func floodBudget(t *testing.T, r *testRelay, from *Client, ids []identity.ID, until func(refused int, gone map[identity.ID]bool) bool) (int, map[identity.ID]bool) {
	t.Helper()
	big := make([]byte, MaxPayload)
	refused, gone := 0, map[identity.ID]bool{}
	// It gives up after wait without progress: while the relay still
	// writes into the non-readers' sockets (the kernel's buffers take
	// megabytes before a writer blocks, slowly on a busy machine), the
	// flood goes on.
	deadline, out := time.Now().Add(wait), uint64(0)
	for i := 0; !until(refused, gone); i++ {
		if st := r.Stats(); st.BytesOut > out {
			deadline, out = time.Now().Add(wait), st.BytesOut
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sends refused, %d dropped after %d frames; stats %+v", refused, len(gone), i, r.Stats())
		}
		if to := ids[i%len(ids)]; !gone[to] {
			send(t, from, to, KindFrame, big)
		}
		for drained := false; !drained; {
			select {
			case ev := <-from.Events():
				switch {
				case ev.Type == FrameError && ev.Code == CodeLimit && ev.Detail == DetailQueueFull:
					refused++
				case ev.Type == FrameError && ev.Code == CodeOffline && slices.Contains(ids, ev.From):
					gone[ev.From] = true
				default:
					t.Fatalf("got %+v, want error limit %q or offline", short(ev), DetailQueueFull)
				}
			default:
				drained = true
			}
		}
		if st := r.Stats(); st.QueuedBytes > budget {
			t.Fatalf("%d bytes queued, budget %d", st.QueuedBytes, budget)
		}
	}
	return refused, gone
}

// expectAfter sends from → to and expects it through, past errors about
// ids that to has not read yet.
func expectAfter(t *testing.T, from, to *Client, ids []identity.ID, tag string) {
	t.Helper()
	send(t, from, to.ID(), KindSignal, []byte(tag))
	for {
		ev := next(t, to)
		if ev.Type == FrameError && slices.Contains(ids, ev.From) {
			continue
		}
		if ev.Type != FrameRecv || ev.From != from.ID() || string(ev.Payload) != tag {
			t.Fatalf("got %+v", short(ev))
		}
		return
	}
}

// TestQueueBudget: clients that stop reading cannot make the relay queue
// more than MaxQueuedBytes: once it is spent, sends are refused with error
// {limit, to, "relay queue full"} (the senders stay connected), and the
// budget comes back whole when those clients go.
func TestQueueBudget(t *testing.T) {
	r, stuck, ids := budgetRelay(t)
	a, c, d := dial(t, r, key(1)), dial(t, r, key(2)), dial(t, r, key(3))
	// Until 50 sends are refused (or the relay drops the non-readers:
	// TestBudgetShed).
	enough := func(min int) func(int, map[identity.ID]bool) bool {
		return func(refused int, gone map[identity.ID]bool) bool { return refused >= min || len(gone) == len(ids) }
	}
	refusedA, _ := floodBudget(t, r, a, ids, enough(50))
	// Every sender is refused while the budget is spent.
	refusedC, _ := floodBudget(t, r, c, ids, enough(1))
	st := r.Stats()
	t.Logf("%d bytes queued for the non-readers (peak %d, budget %d); %d frames in, %d+%d refused, %d dropped", st.QueuedBytes, st.QueuedBytesPeak, budget, st.FramesIn, refusedA, refusedC, st.Drops)
	if refusedA == 0 || st.QueuedBytesPeak > budget || st.QueuedBytesPeak < budget-MaxFrameSize || st.Rejects[RejectBudget] < uint64(refusedA+refusedC) {
		t.Fatalf("stats %+v", st)
	}
	// All of it comes back when the non-readers go.
	for _, ws := range stuck {
		ws.CloseNow()
	}
	for range ids {
		r.waitClosed(t, identity.ID{}) // in any order
	}
	if st := r.Stats(); st.QueuedBytes != 0 {
		t.Fatalf("%d bytes still counted queued after the non-readers left", st.QueuedBytes)
	}
	// The senders kept their connections.
	expectAfter(t, c, d, ids, "after the budget")
	expectAfter(t, d, a, ids, "after the budget")
	expectAfter(t, a, c, ids, "after the budget")
}

// TestQueueBudgetPerIP: the clients of one address cannot hold more than
// MaxQueuedBytesPerIP of the queue budget: past it sends to them are
// refused (reason queue_budget_ip) while the rest of the budget stays free
// for the clients of every other address. The relay used to let one host
// spend all of MaxQueuedBytes.
func TestQueueBudgetPerIP(t *testing.T) {
	const share = budget / 4
	r, _, ids := budgetRelay(t, share)
	a := dial(t, r, key(1))
	floodBudget(t, r, a, ids, func(refused int, gone map[identity.ID]bool) bool { return refused >= 20 || len(gone) == len(ids) })
	st := r.Stats()
	t.Logf("stats %+v", st)
	if st.QueuedBytesIPPeak > share || st.QueuedBytesPeak > share || st.QueuedBytesIPPeak < share-MaxFrameSize ||
		st.Rejects[RejectBudgetIP] == 0 || st.Rejects[RejectBudget] != 0 || st.QueuedBytesIPLimit != share {
		t.Fatalf("one address held %d bytes (peak %d) of a budget of %d, share %d; stats %+v", st.QueuedBytesTopIP, st.QueuedBytesIPPeak, budget, share, st)
	}
	// Another address still has its share, and the rest of the budget.
	other := netip.MustParsePrefix("10.0.0.1/32")
	n := 0
	for ; r.take(other, MaxFrameSize) == nil; n += MaxFrameSize {
	}
	if n < share-MaxFrameSize {
		t.Fatalf("another address got %d bytes of its share %d", n, share)
	}
	r.give(other, n)
}

// TestBudgetShed: while the budget is spent, the clients that hold it
// without reading are dropped (the relay does not wait for their write
// timeout, an hour here), and the budget comes back for the others.
func TestBudgetShed(t *testing.T) {
	r, _, ids := budgetRelay(t)
	a, c := dial(t, r, key(1)), dial(t, r, key(2))
	floodBudget(t, r, a, ids, func(_ int, gone map[identity.ID]bool) bool { return len(gone) == len(ids) })
	for range ids {
		if cause := r.waitClosed(t, identity.ID{}); cause != errShed {
			t.Fatalf("a non-reader ended with %v, want errShed", cause)
		}
	}
	st := r.Stats()
	t.Logf("%d frames in, %d refused, %d dropped", st.FramesIn, st.Rejects[RejectBudget], st.Drops)
	if st.QueuedBytes != 0 || st.Drops != uint64(len(ids)) {
		t.Fatalf("stats %+v", st)
	}
	expectAfter(t, c, a, ids, "after the shed")
	expectAfter(t, a, c, ids, "after the shed")
}

// stall holds client b's writer in a test hook of the relay while a sends
// it n frames, and hears of every window routing waits for b's full queue.
type stall struct {
	held    atomic.Bool
	slow    atomic.Pointer[identity.ID]
	release chan struct{}
	once    sync.Once
	stalls  chan struct{}
	r       *testRelay
	a, b    *Client
	errc    chan error // a's sends' end
}

const stallFrames = 20

// newStall starts a relay whose writer hook (set by hook) holds b's writer
// (s.hold), then a and b, and a's sends to b.
func newStall(t *testing.T, hook func(*Server, *stall)) *stall {
	s := &stall{release: make(chan struct{}), stalls: make(chan struct{}, 64), errc: make(chan error, 1)}
	s.r = newRelay(t, Limits{SendQueue: 2, FramesPerSec: 1e6, BytesPerSec: 1e12}, func(srv *Server) {
		hook(srv, s)
		srv.onStall = func(c *conn) {
			if s.isB(c) {
				select {
				case s.stalls <- struct{}{}:
				default:
				}
			}
		}
	})
	t.Cleanup(s.unhold) // before the relay closes, whatever fails
	s.a, s.b = dial(t, s.r, key(1)), dial(t, s.r, key(2))
	id := s.b.ID()
	s.slow.Store(&id)
	s.held.Store(true)
	go func() {
		for i := range stallFrames {
			if err := s.a.Send(context.Background(), s.b.ID(), KindFrame, []byte{byte(i)}); err != nil {
				s.errc <- err
				return
			}
		}
		s.errc <- nil
	}()
	return s
}

func (s *stall) isB(c *conn) bool { id := s.slow.Load(); return id != nil && c.id == *id }

// hold blocks b's writer while it is held.
func (s *stall) hold(c *conn) {
	if s.isB(c) && s.held.Load() {
		<-s.release
	}
}

func (s *stall) unhold() { s.once.Do(func() { s.held.Store(false); close(s.release) }) }

// end releases b's writer and checks that b got every frame, in order,
// with no drop.
func (s *stall) end(t *testing.T) {
	s.unhold()
	for i := range stallFrames {
		expectRecv(t, s.b, s.a.ID(), KindFrame, []byte{byte(i)})
	}
	if err := <-s.errc; err != nil {
		t.Fatal(err)
	}
	if st := s.r.Stats(); st.Drops != 0 {
		t.Errorf("%d drops", st.Drops)
	}
	exchange(t, s.a, s.b, "after the stall")
}

// TestStallNotDropped: a client whose writer cannot run for a while (a
// busy machine: here its writer is held before each write) is not
// dropped, however long routing waits for room in its full queue; it gets
// every frame, in order. The relay used to drop it after 100 ms.
func TestStallNotDropped(t *testing.T) {
	s := newStall(t, func(srv *Server, s *stall) { srv.beforeWrite = s.hold })
	// Routing waits for b's full queue through three whole windows while
	// b's writer cannot run.
	for range 3 {
		select {
		case <-s.stalls:
		case <-time.After(wait):
			t.Fatalf("routing never waited a window for the held writer; stats %+v", s.r.Stats())
		}
	}
	s.end(t)
	// The metrics tell how long sends waited for the full queue.
	if st := s.r.Stats(); st.QueueWaits == 0 || st.QueueWaitMax < 3*queueGrace || st.QueueWaited < st.QueueWaitMax {
		t.Errorf("queue waits %d, %v in all, at most %v; want at least one of 3 windows", st.QueueWaits, st.QueueWaited, st.QueueWaitMax)
	}
}

// TestStallInWriteNotDropped: a client that reads is not dropped while
// its writer is held inside a write to its socket (a writer the OS
// descheduled mid-write on a starved machine), however many windows
// routing waits for room in its full queue. The relay used to drop it
// after one window, as a writer blocked in one write.
func TestStallInWriteNotDropped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux tells what a client took from its socket")
	}
	inside := make(chan *conn, 1)
	s := newStall(t, func(srv *Server, s *stall) {
		srv.inWrite = func(c *conn) {
			// Held only inside a frame's write (not a ping's or a close).
			if s.isB(c) && s.held.Load() && c.writeStart.Load() != 0 {
				select {
				case inside <- c:
				default:
				}
				s.hold(c)
			}
		}
	})
	var hc *conn
	select {
	case hc = <-inside:
	case <-time.After(wait):
		t.Fatal("b's writer never wrote")
	}
	// Routing waits for b's full queue through more windows than a
	// client that does not read is given, while b's writer is held inside
	// its write.
	for range stallWindows + 2 {
		select {
		case <-s.stalls:
		case <-hc.done:
			t.Fatal("b dropped while its writer was held inside a write")
		case <-time.After(wait):
			t.Fatalf("routing never waited a window for the held writer; stats %+v", s.r.Stats())
		}
	}
	s.end(t)
}
