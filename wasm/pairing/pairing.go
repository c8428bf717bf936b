package pairing

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Errors. Claim and Serve return them wrapped, with words for a person.
var (
	// ErrBadCode: text that is not a pairing code (ParseCode).
	ErrBadCode = errors.New("pairing: not a pairing code")
	// ErrWrongCode: the two devices do not hold the same code (a typo in
	// its second half, or someone guessing it). Each costs one of the
	// offer's MaxFailures tries.
	ErrWrongCode = errors.New("pairing: wrong code")
	// ErrExpired: the offer's Lifetime has passed.
	ErrExpired = errors.New("pairing: this code expired")
	// ErrCodeSpent: a device was linked with the code, or it was tried
	// wrongly MaxFailures times.
	ErrCodeSpent = errors.New("pairing: code already used")
	// ErrRefused: the showing device refused the request after the code
	// was confirmed (a device key that is not the port's, a bad label, or
	// grant's error).
	ErrRefused = errors.New("pairing: the other device refused the link")
	// ErrProtocol: a message that breaks the protocol (malformed, out of
	// bounds, unexpected, or of another version).
	ErrProtocol = errors.New("pairing: protocol error")
)

// Bounds of an offer.
const (
	// Lifetime is how long an offer takes claims.
	Lifetime = 10 * time.Minute
	// MaxFailures is how many wrong tries an offer allows; then it is spent.
	MaxFailures = 3
	// StepTimeout bounds each wait for the other device's next message
	// (but the new device's wait for the bundle, which only its ctx
	// bounds: grant may take a while).
	StepTimeout = time.Minute
)

// A Request is what the new device asks for: a certificate for its key.
type Request struct {
	// Device is the new device's key: it must be the port's
	// authenticated peer (Serve checks).
	Device identity.ID
	// Label names the device (device.CheckLabel).
	Label string
}

// Claim runs the new device's side over p, a port it opened (self) to the
// rendezvous peer of c (peer, c.Rendezvous().ID()), and returns the
// bundle the showing device granted. A wrong code fails at the first
// answer with ErrWrongCode; the showing device's refusals come back as
// ErrExpired, ErrCodeSpent, ErrRefused. The caller owns p.
func Claim(ctx context.Context, p port.Port, c Code, self, peer identity.ID, req Request) ([]byte, error) {
	if err := checkEnds(p, self, peer); err != nil {
		return nil, err
	}
	if peer != c.Rendezvous().ID() {
		return nil, fmt.Errorf("pairing: port to %s, not to the code's rendezvous", peer.Short())
	}
	if req.Device != self {
		return nil, fmt.Errorf("pairing: the request names device %s, not this port's %s", req.Device.Short(), self.Short())
	}
	label, err := device.CheckLabel(req.Label)
	if err != nil {
		return nil, err
	}
	req.Label = label
	return claim(ctx, p, c, self, peer, req)
}

// claim is Claim once the arguments are checked.
func claim(ctx context.Context, p port.Port, c Code, self, peer identity.ID, req Request) ([]byte, error) {
	sid := make([]byte, sidSize)
	if _, err := rand.Read(sid); err != nil {
		return nil, fmt.Errorf("pairing: random session id: %w", err)
	}
	cp, err := newCPace(c.secret(), channelID(self, peer), sid)
	if err != nil {
		return nil, err
	}
	if err := p.Send(ctx, encode(hello{V: Version, T: typeHello, SID: sid, YA: cp.own[:]})); err != nil {
		return nil, sendErr(err)
	}
	var r reply
	if err := receive(ctx, p, StepTimeout, maxToClaim, typeReply, &r); err != nil {
		return nil, err
	}
	k, err := checkReply(cp, &r)
	if err != nil {
		refuseTo(ctx, p, reasonProtocol, err.Error())
		return nil, err
	}
	ks := schedule(sid, k, cp.own[:], r.YB)
	if !hmac.Equal(r.TB, ks.offerTag) {
		refuseTo(ctx, p, reasonWrongCode, "")
		return nil, fmt.Errorf("%w: check it for a typo (each wrong try uses one of %d)", ErrWrongCode, MaxFailures)
	}
	msg := encode(confirm{V: Version, T: typeConfirm, TA: ks.claimTag, Request: sealRequest(sealer{ks.claimSeal}, req)})
	if err := p.Send(ctx, msg); err != nil {
		return nil, sendErr(err)
	}
	return receiveBundle(ctx, p, sealer{ks.offerSeal})
}

func checkReply(cp *cpace, r *reply) ([]byte, error) {
	if err := checkLen("tag", r.TB, tagSize); err != nil {
		return nil, err
	}
	return cp.shared(r.YB)
}

// receiveBundle takes the chunks of the bundle, acknowledging each.
func receiveBundle(ctx context.Context, p port.Port, s sealer) ([]byte, error) {
	var bundle []byte
	var total uint64
	for i := uint64(0); ; i++ {
		timeout := StepTimeout
		if i == 0 {
			timeout = 0 // the showing device runs grant first
		}
		var c chunk
		if err := receive(ctx, p, timeout, maxToClaim, typeChunk, &c); err != nil {
			return nil, err
		}
		if i == 0 {
			total = c.Total
			if total > MaxBundle {
				return nil, fmt.Errorf("%w: a bundle of %d bytes, at most %d", ErrProtocol, total, MaxBundle)
			}
			bundle = make([]byte, 0, total)
		}
		if c.Index != i || c.Total != total {
			return nil, fmt.Errorf("%w: chunk %d of a %d-byte bundle, want chunk %d of %d bytes", ErrProtocol, c.Index, c.Total, i, total)
		}
		plain, err := s.open(i, c.Sealed, chunkAD(i, total))
		if err != nil {
			return nil, err
		}
		if want := min(ChunkSize, total-uint64(len(bundle))); uint64(len(plain)) != want {
			return nil, fmt.Errorf("%w: chunk %d of %d bytes, want %d", ErrProtocol, i, len(plain), want)
		}
		bundle = append(bundle, plain...)
		if err := p.Send(ctx, encode(ack{V: Version, T: typeAck, Index: i})); err != nil {
			return nil, sendErr(err)
		}
		if i+1 == chunks(total) {
			return bundle, nil
		}
	}
}

// An Offer is a code the showing device shows, and what it allows: claims
// until Expires, MaxFailures wrong tries, and one device. Serve may run
// for several ports at once.
type Offer struct {
	// Code is the code to show (immutable).
	Code Code
	// Expires is when the offer stops taking claims (immutable).
	Expires time.Time

	rendezvous identity.ID   // immutable: Code.Rendezvous().ID()
	done       chan struct{} // closed once spent

	mu       sync.Mutex
	pending  int  // guarded by mu: tries answered and not yet confirmed or failed
	failures int  // guarded by mu: tries that failed
	spent    bool // guarded by mu: a try was confirmed
}

// NewOffer makes an offer with a fresh code, valid for Lifetime from now.
func NewOffer(now time.Time) (*Offer, error) {
	c, err := NewCode()
	if err != nil {
		return nil, err
	}
	return &Offer{Code: c, Expires: now.Add(Lifetime), rendezvous: c.Rendezvous().ID(), done: make(chan struct{})}, nil
}

// Done is closed once the offer takes no more claims but by expiry: a
// device was linked, or MaxFailures tries failed.
func (o *Offer) Done() <-chan struct{} { return o.done }

// Failures returns how many tries failed.
func (o *Offer) Failures() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failures
}

// begin takes a try, or says why there is none: a refusal reason and its
// error.
func (o *Offer) begin(now time.Time) (uint, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.spent:
		return reasonUsed, fmt.Errorf("%w: a device was linked with it", ErrCodeSpent)
	case o.failures+o.pending >= MaxFailures:
		return reasonTries, fmt.Errorf("%w: %d wrong tries", ErrCodeSpent, MaxFailures)
	case !now.Before(o.Expires):
		return reasonExpired, ErrExpired
	}
	o.pending++
	return 0, nil
}

// end ends a try taken by begin: confirmed, failed, or released (no guess
// was tested). It reports whether a confirmed try spent the offer (false:
// another did first).
func (o *Offer) end(confirmed, failed bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending--
	switch {
	case confirmed && o.spent:
		return false
	case confirmed:
		o.spent = true
		close(o.done)
	case failed:
		o.failures++
		if o.failures == MaxFailures && !o.spent {
			close(o.done)
		}
	}
	return true
}

// Serve runs the showing device's side for one port that the new device
// (peer) opened to the rendezvous peer (self, Code.Rendezvous().ID()).
// Once the code is confirmed both ways the offer is spent, whatever
// follows; Serve then checks the request and asks grant for the bundle,
// which it sends sealed. A refused claim gets its reason (ErrExpired,
// ErrCodeSpent, ErrWrongCode, ErrRefused) and Serve returns it too. The
// caller owns p.
func (o *Offer) Serve(ctx context.Context, p port.Port, self, peer identity.ID, grant func(ctx context.Context, r Request) ([]byte, error)) error {
	if err := checkEnds(p, self, peer); err != nil {
		return err
	}
	if self != o.rendezvous {
		return fmt.Errorf("pairing: port of %s, not of the offer's rendezvous", self.Short())
	}
	var h hello
	if err := receive(ctx, p, StepTimeout, maxToOffer, typeHello, &h); err != nil {
		if errors.Is(err, ErrProtocol) {
			refuseTo(ctx, p, reasonProtocol, err.Error())
		}
		return err
	}
	if err := errors.Join(checkLen("session id", h.SID, sidSize), checkLen("point", h.YA, pointSize)); err != nil {
		refuseTo(ctx, p, reasonProtocol, err.Error())
		return err
	}
	if reason, err := o.begin(time.Now()); err != nil {
		refuseTo(ctx, p, reason, "")
		return err
	}
	ks, cp, err := o.answer(h, self, peer)
	if err != nil {
		o.end(false, false) // no guess was tested
		refuseTo(ctx, p, reasonProtocol, err.Error())
		return err
	}
	if err := p.Send(ctx, encode(reply{V: Version, T: typeReply, YB: cp.own[:], TB: ks.offerTag})); err != nil {
		o.end(false, true)
		return sendErr(err)
	}
	var c confirm
	err = receive(ctx, p, StepTimeout, maxToOffer, typeConfirm, &c)
	if err == nil && !hmac.Equal(c.TA, ks.claimTag) {
		refuseTo(ctx, p, reasonWrongCode, "")
		err = ErrWrongCode
	}
	if err != nil {
		o.end(false, true)
		if !errors.Is(err, ErrWrongCode) {
			err = fmt.Errorf("%w: the other device did not confirm the code (%w)", ErrWrongCode, err)
		}
		return err
	}
	if !o.end(true, false) {
		refuseTo(ctx, p, reasonUsed, "")
		return fmt.Errorf("%w: another device was linked with it meanwhile", ErrCodeSpent)
	}
	return o.grant(ctx, p, ks, c.Request, peer, grant)
}

// answer computes the reply to a hello: the keys and this side's point.
func (o *Offer) answer(h hello, self, peer identity.ID) (keys, *cpace, error) {
	cp, err := newCPace(o.Code.secret(), channelID(peer, self), h.SID)
	if err != nil {
		return keys{}, nil, err
	}
	k, err := cp.shared(h.YA)
	if err != nil {
		return keys{}, nil, err
	}
	return schedule(h.SID, k, h.YA, cp.own[:]), cp, nil
}

// grant checks the confirmed request, asks grant for the bundle and sends
// it.
func (o *Offer) grant(ctx context.Context, p port.Port, ks keys, sealed []byte, peer identity.ID, grant func(context.Context, Request) ([]byte, error)) error {
	req, err := openRequest(sealer{ks.claimSeal}, sealed)
	if err != nil {
		refuseTo(ctx, p, reasonProtocol, err.Error())
		return err
	}
	refused := func(why string) error {
		refuseTo(ctx, p, reasonRefused, why)
		return fmt.Errorf("%w: %s", ErrRefused, why)
	}
	if req.Device != peer {
		return refused(fmt.Sprintf("the request names device %s, but the connection is from %s", req.Device.Short(), peer.Short()))
	}
	if req.Label, err = device.CheckLabel(req.Label); err != nil {
		return refused(err.Error())
	}
	bundle, err := grant(ctx, req)
	if err != nil {
		return refused(err.Error())
	}
	if len(bundle) > MaxBundle {
		return refused(fmt.Sprintf("a bundle of %d bytes, at most %d", len(bundle), MaxBundle))
	}
	return sendBundle(ctx, p, sealer{ks.offerSeal}, bundle)
}

// sendBundle sends the bundle in chunks, at most Window ahead of the
// acknowledgements, and waits for the last one.
func sendBundle(ctx context.Context, p port.Port, s sealer, bundle []byte) error {
	total := uint64(len(bundle))
	n := chunks(total)
	acked := uint64(0)
	waitAck := func() error {
		var a ack
		if err := receive(ctx, p, StepTimeout, maxToOffer, typeAck, &a); err != nil {
			return err
		}
		if a.Index != acked {
			return fmt.Errorf("%w: acknowledgement of chunk %d, want %d", ErrProtocol, a.Index, acked)
		}
		acked++
		return nil
	}
	for i := uint64(0); i < n; i++ {
		for i-acked >= Window {
			if err := waitAck(); err != nil {
				return err
			}
		}
		part := bundle[i*ChunkSize : min(total, (i+1)*ChunkSize)]
		msg := encode(chunk{V: Version, T: typeChunk, Index: i, Total: total, Sealed: s.seal(i, part, chunkAD(i, total))})
		if err := p.Send(ctx, msg); err != nil {
			return sendErr(err)
		}
	}
	for acked < n {
		if err := waitAck(); err != nil {
			return err
		}
	}
	return nil
}

// checkEnds checks that the port is between the ids the caller names.
func checkEnds(p port.Port, self, peer identity.ID) error {
	if p.Local() != self || p.Remote() != peer {
		return fmt.Errorf("pairing: the port is from %s to %s, not from %s to %s", p.Local().Short(), p.Remote().Short(), self.Short(), peer.Short())
	}
	return nil
}

// receive waits (at most timeout, if not 0) for a message of type want.
func receive(ctx context.Context, p port.Port, timeout time.Duration, limit int, want uint, m any) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	b, err := p.Recv(ctx)
	if err != nil {
		return fmt.Errorf("pairing: waiting for the other device: %w", err)
	}
	return decode(b, limit, want, m)
}

func sendErr(err error) error { return fmt.Errorf("pairing: sending to the other device: %w", err) }

// refuseTo tells the other device why this one stops, if it can.
func refuseTo(ctx context.Context, p port.Port, reason uint, text string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = p.Send(ctx, newRefuse(reason, text)) // best effort: this side fails anyway
}
