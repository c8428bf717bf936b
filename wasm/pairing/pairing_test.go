package pairing

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// TestMain checks for leaked goroutines; in the browser the runtime's own
// event handler waits beside the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	s, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	return identity.New(s)
}

func newOffer(t testing.TB, now time.Time) *Offer {
	t.Helper()
	o, err := NewOffer(now)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// result is what both sides of one exchange returned.
type result struct {
	bundle   []byte
	claimErr error
	serveErr error
	granted  *Request
}

// exchange runs Claim with code c (and req, which may name another
// device: claim's checks are skipped) against o.Serve over a pipe.
func exchange(t testing.TB, o *Offer, c Code, dev identity.ID, req Request, bundle []byte) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rv := c.Rendezvous().ID()
	a, b := port.Pipe(dev, rv, 16)
	defer a.Close()
	defer b.Close()
	var r result
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.serveErr = o.Serve(ctx, b, rv, dev, func(_ context.Context, req Request) ([]byte, error) {
			r.granted = &req
			return bundle, nil
		})
	}()
	r.bundle, r.claimErr = claim(ctx, a, c, dev, rv, req)
	if r.claimErr != nil {
		a.Close() // as a caller would: Serve may wait for more
	}
	<-done
	return r
}

func claimOnce(t testing.TB, o *Offer, c Code, bundle []byte) result {
	t.Helper()
	dev := newKey(t).ID()
	return exchange(t, o, c, dev, Request{Device: dev, Label: "laptop"}, bundle)
}

func TestPairing(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize, Window*ChunkSize + ChunkSize/2} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			o := newOffer(t, time.Now())
			bundle := make([]byte, size)
			rand.Read(bundle)
			dev := newKey(t).ID()
			ctx := context.Background()
			rv := o.Code.Rendezvous().ID()
			a, b := port.Pipe(dev, rv, 16)
			defer a.Close()
			var granted Request
			serveErr := make(chan error, 1)
			go func() {
				serveErr <- o.Serve(ctx, b, rv, dev, func(_ context.Context, r Request) ([]byte, error) {
					granted = r
					return bundle, nil
				})
			}()
			got, err := Claim(ctx, a, o.Code, dev, rv, Request{Device: dev, Label: "  laptop — Chromium "})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-serveErr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, bundle) {
				t.Fatalf("bundle of %d bytes, want %d", len(got), len(bundle))
			}
			if granted != (Request{Device: dev, Label: "laptop — Chromium"}) {
				t.Errorf("granted %+v", granted)
			}
			select {
			case <-o.Done():
			default:
				t.Error("the offer is not done after a link")
			}
		})
	}
}

func TestWrongCode(t *testing.T) {
	o := newOffer(t, time.Now())
	c := o.Code
	c[CodeSize-1] ^= 1
	r := claimOnce(t, o, c, []byte("bundle"))
	if !errors.Is(r.claimErr, ErrWrongCode) || !errors.Is(r.serveErr, ErrWrongCode) {
		t.Fatalf("claim: %v; serve: %v; want ErrWrongCode", r.claimErr, r.serveErr)
	}
	if r.granted != nil || r.bundle != nil {
		t.Fatal("a wrong code was granted")
	}
	if o.Failures() != 1 {
		t.Fatalf("%d failures, want 1", o.Failures())
	}
	if r := claimOnce(t, o, o.Code, []byte("bundle")); r.claimErr != nil || r.serveErr != nil {
		t.Fatalf("the right code after a wrong one: claim %v, serve %v", r.claimErr, r.serveErr)
	}
}

func TestExpired(t *testing.T) {
	o := newOffer(t, time.Now().Add(-Lifetime))
	r := claimOnce(t, o, o.Code, []byte("bundle"))
	if !errors.Is(r.claimErr, ErrExpired) || !errors.Is(r.serveErr, ErrExpired) {
		t.Fatalf("claim: %v; serve: %v; want ErrExpired", r.claimErr, r.serveErr)
	}
	if !strings.Contains(r.claimErr.Error(), "this code expired") {
		t.Errorf("error %q", r.claimErr)
	}
}

func TestSpentAfterLink(t *testing.T) {
	o := newOffer(t, time.Now())
	if r := claimOnce(t, o, o.Code, []byte("bundle")); r.claimErr != nil || r.serveErr != nil {
		t.Fatalf("claim %v, serve %v", r.claimErr, r.serveErr)
	}
	r := claimOnce(t, o, o.Code, []byte("bundle"))
	if !errors.Is(r.claimErr, ErrCodeSpent) || !errors.Is(r.serveErr, ErrCodeSpent) || r.granted != nil {
		t.Fatalf("second claim: %v; serve: %v; want ErrCodeSpent", r.claimErr, r.serveErr)
	}
	if !strings.Contains(r.claimErr.Error(), "already linked") {
		t.Errorf("error %q", r.claimErr)
	}
}

func TestFailuresSpend(t *testing.T) {
	o := newOffer(t, time.Now())
	for i := range MaxFailures {
		c := o.Code
		c[HalfSize+i] ^= 0x80
		if r := claimOnce(t, o, c, nil); !errors.Is(r.claimErr, ErrWrongCode) {
			t.Fatalf("try %d: %v", i, r.claimErr)
		}
	}
	select {
	case <-o.Done():
	default:
		t.Error("the offer is not done after its failures")
	}
	r := claimOnce(t, o, o.Code, []byte("bundle"))
	if !errors.Is(r.claimErr, ErrCodeSpent) || !errors.Is(r.serveErr, ErrCodeSpent) || r.granted != nil {
		t.Fatalf("the right code after %d failures: claim %v, serve %v", MaxFailures, r.claimErr, r.serveErr)
	}
	if !strings.Contains(r.claimErr.Error(), "without success") {
		t.Errorf("error %q", r.claimErr)
	}
}

// TestClaimantLeaves: a claimant that takes the answer and leaves has
// tried once (it could test one guess against the answer's tag).
func TestClaimantLeaves(t *testing.T) {
	o := newOffer(t, time.Now())
	dev := newKey(t).ID()
	rv := o.Code.Rendezvous().ID()
	a, b := port.Pipe(dev, rv, 16)
	ctx := context.Background()
	cp, err := newCPace(o.Code.secret(), channelID(dev, rv), make([]byte, sidSize))
	if err != nil {
		t.Fatal(err)
	}
	a.Send(ctx, encode(hello{V: Version, T: typeHello, SID: make([]byte, sidSize), YA: cp.own[:]}))
	serveErr := make(chan error, 1)
	go func() { serveErr <- o.Serve(ctx, b, rv, dev, nil) }()
	if _, err := a.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := <-serveErr; !errors.Is(err, ErrWrongCode) {
		t.Fatalf("serve: %v", err)
	}
	if o.Failures() != 1 {
		t.Fatalf("%d failures, want 1", o.Failures())
	}
}

// TestManInTheMiddle: whoever carries the ports (the relay, or anyone who
// learned the rendezvous half and so holds the rendezvous key) cannot
// link its own device, nor read or change what the two devices exchange.
func TestManInTheMiddle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bundle := []byte("secret bundle")

	t.Run("relays between two ports", func(t *testing.T) {
		// The new device dials the rendezvous, reaching the attacker
		// (holding the rendezvous key); the attacker dials the real
		// showing device with its own key and copies every message.
		o := newOffer(t, time.Now())
		dev, mitm := newKey(t).ID(), newKey(t).ID()
		rv := o.Code.Rendezvous().ID()
		claimEnd, mitmToDev := port.Pipe(dev, rv, 16)
		mitmToOffer, offerEnd := port.Pipe(mitm, rv, 16)
		copyPort := func(from, to port.Port) {
			for {
				m, err := from.Recv(ctx)
				if err != nil || to.Send(ctx, m) != nil {
					to.Close()
					from.Close()
					return
				}
			}
		}
		go copyPort(mitmToDev, mitmToOffer)
		go copyPort(mitmToOffer, mitmToDev)
		var granted atomic.Bool
		serveErr := make(chan error, 1)
		go func() {
			serveErr <- o.Serve(ctx, offerEnd, rv, mitm, func(context.Context, Request) ([]byte, error) {
				granted.Store(true)
				return bundle, nil
			})
		}()
		_, err := Claim(ctx, claimEnd, o.Code, dev, rv, Request{Device: dev, Label: "new"})
		claimEnd.Close()
		if !errors.Is(err, ErrWrongCode) {
			t.Fatalf("claim through a relaying attacker: %v, want ErrWrongCode", err)
		}
		if err := <-serveErr; !errors.Is(err, ErrWrongCode) || granted.Load() {
			t.Fatalf("serve: %v (granted %v)", err, granted.Load())
		}
	})

	t.Run("runs its own exchanges", func(t *testing.T) {
		// The attacker answers the new device as the showing device, and
		// claims from the showing device, guessing the secret half.
		o := newOffer(t, time.Now())
		guess := o.Code
		rand.Read(guess[HalfSize:])
		fake := &Offer{Code: guess, Expires: o.Expires, rendezvous: o.rendezvous, done: make(chan struct{})}
		r := claimOnce(t, fake, o.Code, bundle)
		if !errors.Is(r.claimErr, ErrWrongCode) || r.bundle != nil {
			t.Fatalf("the new device facing a fake showing device: %v", r.claimErr)
		}
		r = claimOnce(t, o, guess, bundle)
		if !errors.Is(r.serveErr, ErrWrongCode) || r.granted != nil {
			t.Fatalf("the showing device facing a guessing claimant: %v", r.serveErr)
		}
	})
}

// TestDeviceNotPeer: a request for a key that is not the port's peer is
// refused after the code is confirmed, and the offer is spent.
func TestDeviceNotPeer(t *testing.T) {
	o := newOffer(t, time.Now())
	dev, other := newKey(t).ID(), newKey(t).ID()
	r := exchange(t, o, o.Code, dev, Request{Device: other, Label: "x"}, []byte("bundle"))
	if !errors.Is(r.claimErr, ErrRefused) || !errors.Is(r.serveErr, ErrRefused) || r.granted != nil {
		t.Fatalf("claim %v, serve %v, granted %v", r.claimErr, r.serveErr, r.granted)
	}
	if !strings.Contains(r.claimErr.Error(), "connection is from") {
		t.Errorf("error %q", r.claimErr)
	}
	// Claim itself refuses to send such a request.
	a, b := port.Pipe(dev, o.rendezvous, 1)
	defer a.Close()
	defer b.Close()
	if _, err := Claim(context.Background(), a, o.Code, dev, o.rendezvous, Request{Device: other}); err == nil {
		t.Fatal("Claim sent a request for another key")
	}
}

// TestConcurrentClaims: of claims with the right code at once, exactly one
// links a device; the others are told the code is used.
func TestConcurrentClaims(t *testing.T) {
	o := newOffer(t, time.Now())
	results := make(chan result, MaxFailures)
	for range MaxFailures {
		go func() { results <- claimOnce(t, o, o.Code, []byte("bundle")) }()
	}
	linked := 0
	for range MaxFailures {
		r := <-results
		switch {
		case r.claimErr == nil && r.serveErr == nil:
			linked++
		case errors.Is(r.claimErr, ErrCodeSpent) && errors.Is(r.serveErr, ErrCodeSpent):
		default:
			t.Errorf("claim %v, serve %v", r.claimErr, r.serveErr)
		}
	}
	if linked != 1 {
		t.Fatalf("%d devices linked with one code", linked)
	}
}

// countingPort counts the messages sent on it.
type countingPort struct {
	port.Port
	sent int
}

func (p *countingPort) Send(ctx context.Context, m []byte) error {
	p.sent++
	return p.Port.Send(ctx, m)
}

// TestClaimChecks: Claim refuses arguments that do not fit the port or the
// code before sending anything.
func TestClaimChecks(t *testing.T) {
	c, _ := NewCode()
	dev, other := newKey(t).ID(), newKey(t).ID()
	rv := c.Rendezvous().ID()
	ctx := context.Background()
	for name, call := range map[string]func(p port.Port) error{
		"port of another device": func(p port.Port) error {
			_, err := Claim(ctx, p, c, other, rv, Request{Device: other})
			return err
		},
		"another rendezvous": func(p port.Port) error {
			c2 := c
			c2[0] ^= 1
			_, err := Claim(ctx, p, c2, dev, rv, Request{Device: dev})
			return err
		},
		"bad label": func(p port.Port) error {
			_, err := Claim(ctx, p, c, dev, rv, Request{Device: dev, Label: "a\x00b"})
			return err
		},
	} {
		a, b := port.Pipe(dev, rv, 1)
		p := &countingPort{Port: a}
		if err := call(p); err == nil {
			t.Errorf("%s: no error", name)
		}
		if p.sent != 0 {
			t.Errorf("%s: sent %d messages", name, p.sent)
		}
		a.Close()
		b.Close()
	}
	// Serve likewise.
	o := newOffer(t, time.Now())
	a, b := port.Pipe(dev, rv, 1)
	defer a.Close()
	if err := o.Serve(ctx, b, rv, dev, nil); err == nil {
		t.Error("Serve on a port to another rendezvous")
	}
}

func TestGrantRefuses(t *testing.T) {
	o := newOffer(t, time.Now())
	dev := newKey(t).ID()
	rv := o.rendezvous
	a, b := port.Pipe(dev, rv, 16)
	defer a.Close()
	ctx := context.Background()
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- o.Serve(ctx, b, rv, dev, func(context.Context, Request) ([]byte, error) {
			return nil, errors.New("this device does not hold the identity key")
		})
	}()
	_, err := Claim(ctx, a, o.Code, dev, rv, Request{Device: dev, Label: "x"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "identity key") {
		t.Fatalf("claim: %v", err)
	}
	if err := <-serveErr; !errors.Is(err, ErrRefused) {
		t.Fatalf("serve: %v", err)
	}
}

func TestBundleTooLarge(t *testing.T) {
	o := newOffer(t, time.Now())
	r := claimOnce(t, o, o.Code, make([]byte, MaxBundle+1))
	if !errors.Is(r.claimErr, ErrRefused) || !errors.Is(r.serveErr, ErrRefused) {
		t.Fatalf("claim %v, serve %v", r.claimErr, r.serveErr)
	}
}

// TestBadMessages: garbage, oversized or malformed messages, and points
// that are not valid, end the exchange with ErrProtocol on the side that
// got them, and the other side hears why.
func TestBadMessages(t *testing.T) {
	identityPoint := make([]byte, pointSize)
	nonCanonical := bytes.Repeat([]byte{0xff}, pointSize)
	helloWith := func(sid, ya []byte) []byte { return encode(hello{V: Version, T: typeHello, SID: sid, YA: ya}) }
	for name, msg := range map[string][]byte{
		"garbage":        []byte("\xff\x00garbage"),
		"empty":          nil,
		"oversized":      append(helloWith(make([]byte, sidSize), nonCanonical), make([]byte, maxToOffer)...),
		"version 2":      encode(hello{V: 2, T: typeHello, SID: make([]byte, sidSize), YA: identityPoint}),
		"wrong type":     encode(ack{V: Version, T: typeAck}),
		"identity point": helloWith(make([]byte, sidSize), identityPoint),
		"non-canonical":  helloWith(make([]byte, sidSize), nonCanonical),
		"short point":    helloWith(make([]byte, sidSize), identityPoint[:31]),
		"short sid":      helloWith(make([]byte, 3), identityPoint),
		"extra element":  encode([]any{Version, typeHello, make([]byte, sidSize), identityPoint, 1}),
	} {
		t.Run(name, func(t *testing.T) {
			o := newOffer(t, time.Now())
			dev := newKey(t).ID()
			a, b := port.Pipe(dev, o.rendezvous, 16)
			defer a.Close()
			ctx := context.Background()
			a.Send(ctx, msg)
			err := o.Serve(ctx, b, o.rendezvous, dev, nil)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("serve: %v, want ErrProtocol", err)
			}
			answer, _ := a.Recv(ctx)
			var r refuse
			if err := decode(answer, maxToClaim, typeRefuse, &r); err != nil || r.Reason != reasonProtocol {
				t.Fatalf("answer %x: %v %+v", answer, err, r)
			}
			if o.Failures() != 0 {
				t.Errorf("a malformed hello counted as a try")
			}
		})
	}

	// The new device facing bad answers.
	for name, answer := range map[string][]byte{
		"garbage":        []byte("garbage"),
		"identity point": encode(reply{V: Version, T: typeReply, YB: identityPoint, TB: make([]byte, tagSize)}),
		"short tag":      encode(reply{V: Version, T: typeReply, YB: identityPoint, TB: nil}),
		"unknown reason": newRefuse(99, "?"),
		"version 9":      encode(refuse{V: 9, T: typeRefuse}),
	} {
		t.Run("claim "+name, func(t *testing.T) {
			c, _ := NewCode()
			dev := newKey(t).ID()
			rv := c.Rendezvous().ID()
			a, b := port.Pipe(dev, rv, 16)
			defer a.Close()
			b.Send(context.Background(), answer)
			_, err := Claim(context.Background(), a, c, dev, rv, Request{Device: dev})
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("claim: %v, want ErrProtocol", err)
			}
		})
	}
}

// TestBadChunks: a bundle's chunks are checked in order, each sealed.
func TestBadChunks(t *testing.T) {
	s := sealer{make([]byte, keySize)}
	good := func(i, total uint64, plain []byte) []byte {
		return encode(chunk{V: Version, T: typeChunk, Index: i, Total: total, Sealed: s.seal(i, plain, chunkAD(i, total))})
	}
	for name, msgs := range map[string][][]byte{
		"too large":    {good(0, MaxBundle+1, make([]byte, ChunkSize))},
		"out of order": {good(1, 2*ChunkSize, make([]byte, ChunkSize))},
		"short chunk":  {good(0, 10, make([]byte, 9))},
		"total moves":  {good(0, ChunkSize+1, make([]byte, ChunkSize)), good(1, ChunkSize+2, make([]byte, 1))},
		"tampered":     {encode(chunk{V: Version, T: typeChunk, Index: 0, Total: 3, Sealed: s.seal(0, []byte("abc"), chunkAD(0, 4))})},
		"other key":    {encode(chunk{V: Version, T: typeChunk, Index: 0, Total: 3, Sealed: sealer{bytes.Repeat([]byte{1}, keySize)}.seal(0, []byte("abc"), chunkAD(0, 3))})},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := port.Pipe(identity.ID{1}, identity.ID{2}, 16)
			defer a.Close()
			for _, m := range msgs {
				b.Send(context.Background(), m)
			}
			if _, err := receiveBundle(context.Background(), a, s); !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v, want ErrProtocol", err)
			}
		})
	}
}

// TestBounds: the messages fit peerio's ports.
func TestBounds(t *testing.T) {
	if maxToClaim > peerio.MaxMessage || Window*maxToClaim > peerio.MaxInbox/2 {
		t.Errorf("chunks of %d bytes, %d ahead: past peerio's bounds", maxToClaim, Window)
	}
	if maxToOffer*4 > peerio.MaxStrangerBuffer {
		t.Errorf("messages to the showing device of %d bytes: past a stranger's buffer", maxToOffer)
	}
	s := sealer{make([]byte, keySize)}
	full := encode(chunk{V: Version, T: typeChunk, Index: 1 << 60, Total: MaxBundle, Sealed: s.seal(0, make([]byte, ChunkSize), nil)})
	if len(full) > maxToClaim {
		t.Errorf("a full chunk is %d bytes, past %d", len(full), maxToClaim)
	}
	req := sealRequest(s, Request{Label: strings.Repeat("é", 32)})
	conf := encode(confirm{V: Version, T: typeConfirm, TA: make([]byte, tagSize), Request: req})
	if len(req) > maxRequest || len(conf) > maxToOffer {
		t.Errorf("a request of %d bytes, its message %d", len(req), len(conf))
	}
}

func BenchmarkPairing(b *testing.B) {
	dev := newKey(b).ID()
	bundle := make([]byte, 64<<10)
	for b.Loop() {
		o := newOffer(b, time.Now())
		if r := exchange(b, o, o.Code, dev, Request{Device: dev, Label: "laptop"}, bundle); r.claimErr != nil || r.serveErr != nil {
			b.Fatal(r.claimErr, r.serveErr)
		}
	}
}
