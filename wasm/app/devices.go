package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"rsc.io/qr"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/pairing"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// EventLink is the progress of the pairing code this device shows
// (LinkDevice): State LinkWaiting, LinkLinked or LinkFailed, Device and
// Label the new device once known, Error why an attempt or the offer
// failed.
const EventLink room.EventType = "link"

// States of 'link' events.
const (
	LinkWaiting = "waiting" // the code is shown; with Error, an attempt failed and it still waits
	LinkLinked  = "linked"  // a new device was linked with the code, which is spent
	LinkFailed  = "failed"  // the code is no longer valid (Error says why)
)

// Bounds of linking.
const (
	// DefaultLinkTimeout is how long a new device waits for the device
	// showing its code, unless told otherwise (link's timeout).
	DefaultLinkTimeout = 2 * time.Minute
	// claimTimeout bounds one pairing attempt at the showing device.
	claimTimeout = time.Minute
	// maxClaims bounds the pairing attempts in progress at once at the
	// showing device; ports past it are closed.
	maxClaims = 4
)

// Why a shown code stopped being served (the cause of its context).
var (
	errLinkExpired  = errors.New("the pairing code expired: show a new one")
	errLinkReplaced = errors.New("another pairing code is shown instead")
)

// A linkOffer is the pairing code this device shows, served until it is
// spent, expires, another replaces it or the App closes.
type linkOffer struct {
	stop func(cause error) // ends the offer; its goroutine then closes the IO
	done chan struct{}     // closed when the offer's goroutine returned
}

// LinkDevice shows a new pairing code for a device to link to this
// person (docs/devices.md): it goes online as the code's rendezvous key,
// on a relay connection of its own, and answers the new device's claim by
// having the identity certify it and sending it the link bundle. label,
// if not empty, names the new device (else the name it gives itself).
// It returns the code, its QR image (PNG) and when it expires; 'link'
// events follow its progress. The code is served until it is spent (a
// device linked, or too many wrong attempts), expires, LinkDevice is
// called again, or the App closes; its IO closes then. It needs a device
// that holds the identity key (room.ErrNotHolder).
func (a *App) LinkDevice(ctx context.Context, label string) (code string, qrPNG []byte, expires time.Time, err error) {
	if label, err = device.CheckLabel(label); err != nil {
		return "", nil, time.Time{}, fmt.Errorf("linkDevice: %w", err)
	}
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		if !m.CanLink() {
			return room.ErrNotHolder
		}
		offer, err := pairing.NewOffer(a.now())
		if err != nil {
			return err
		}
		code = offer.Code.String()
		q, err := qr.Encode(strings.ToUpper(code), qr.M) // upper case: QR's compact alphanumeric mode
		if err != nil {
			return err
		}
		qrPNG, expires = q.PNG(), offer.Expires
		return a.serveOffer(ctx, offer, label)
	})
	if err != nil {
		return "", nil, time.Time{}, fmt.Errorf("linkDevice: %w", err)
	}
	return code, qrPNG, expires, nil
}

// serveOffer goes online as offer's rendezvous key and serves it in the
// background, replacing the offer shown before.
func (a *App) serveOffer(ctx context.Context, offer *pairing.Offer, label string) error {
	io := peerio.New(a.Profile()+"-link", offer.Code.Rendezvous().Seed(), a.ioConfig())
	ports := make(chan port.Port, maxClaims)
	octx, cancel := context.WithTimeout(ctx, onlineTimeout)
	err := io.On(octx, func(p port.Port) {
		select {
		case ports <- p:
		default:
			p.Close()
		}
	})
	cancel()
	if err != nil {
		io.Close()
		return fmt.Errorf("relay %s: %w", a.cfg.Relay, err)
	}
	sctx, stopCause := context.WithCancelCause(a.root)
	sctx, stopDeadline := context.WithDeadlineCause(sctx, offer.Expires, errLinkExpired)
	stop := func(cause error) { stopCause(cause); stopDeadline() }
	lo := &linkOffer{stop: stop, done: make(chan struct{})}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		stop(ErrClosed)
		io.Close()
		return ErrClosed
	}
	old := a.offer
	a.offer = lo
	a.links.Add(1)
	a.mu.Unlock()
	if old != nil {
		old.stop(errLinkReplaced)
		<-old.done
	}
	a.emit(Event{Type: EventLink, State: LinkWaiting, Label: label})
	go func() {
		defer a.links.Done()
		defer close(lo.done)
		defer a.forgetOffer(lo)
		defer io.Close()
		a.serveClaims(sctx, offer, label, ports)
	}()
	return nil
}

// forgetOffer drops lo if it is still the offer shown.
func (a *App) forgetOffer(lo *linkOffer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.offer == lo {
		a.offer = nil
	}
	lo.stop(nil)
}

// A claim is the outcome of one pairing attempt.
type claim struct {
	err     error
	granted bool // the attempt reached grant: the code was right
	dev     identity.ID
	label   string
}

// serveClaims runs a pairing attempt on each port that reaches the
// rendezvous, at most maxClaims at once, until the offer is spent or ctx
// ends; it waits for the attempts.
func (a *App) serveClaims(ctx context.Context, offer *pairing.Offer, label string, ports <-chan port.Port) {
	ctx, stop := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop(nil)
	results := make(chan claim)
	active := 0 // attempts running
	for {
		in := ports
		if active >= maxClaims {
			in = nil // the next ports wait in the channel, or are closed past it
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); errors.Is(cause, errLinkExpired) {
				a.emit(Event{Type: EventLink, State: LinkFailed, Error: cause.Error()})
			}
			return
		case p := <-in:
			active++
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := a.serveClaim(ctx, offer, label, p)
				select {
				case results <- c:
				case <-ctx.Done():
				}
			}()
		case c := <-results:
			active--
			if a.claimDone(c, offer.Failures()) {
				return
			}
		}
	}
}

// serveClaim runs one pairing attempt on p.
func (a *App) serveClaim(ctx context.Context, offer *pairing.Offer, label string, p port.Port) (c claim) {
	defer p.Close()
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	c.err = offer.Serve(ctx, p, p.Local(), p.Remote(), func(ctx context.Context, req pairing.Request) ([]byte, error) {
		c.granted, c.dev = true, req.Device
		var b []byte
		var err error
		c.label, b, err = a.grant(ctx, req, label)
		return b, err
	})
	return c
}

// claimDone reports a pairing attempt's outcome and whether the offer is
// over; failures counts the offer's attempts with a wrong code so far.
func (a *App) claimDone(c claim, failures int) bool {
	ev := Event{Type: EventLink, Device: c.dev, Label: c.label}
	switch {
	case c.err == nil:
		ev.State = LinkLinked
	case errors.Is(c.err, pairing.ErrCodeSpent) && !c.granted && failures < pairing.MaxFailures:
		return false // another attempt confirmed the code: its outcome ends the offer
	case c.granted, errors.Is(c.err, pairing.ErrCodeSpent), errors.Is(c.err, pairing.ErrExpired):
		ev.State, ev.Error = LinkFailed, c.err.Error()
	case errors.Is(c.err, pairing.ErrWrongCode):
		if failures >= pairing.MaxFailures {
			ev.State, ev.Error = LinkFailed, fmt.Sprintf("%d attempts with a wrong code: this code is spent, show a new one", failures)
		} else {
			ev.State, ev.Error = LinkWaiting, fmt.Sprintf("a device tried a wrong code (%d attempts left)", pairing.MaxFailures-failures)
		}
	default: // a port closed, a stranger: the code is still good
		a.cfg.Logger.Info("link: a pairing attempt ended", "err", c.err)
		return false
	}
	a.emit(ev)
	return ev.State != LinkWaiting
}

// grant answers a new device that proved it has the code: the identity
// certifies its key with label (or the label it asked for), the messenger
// records it, and it is given the link bundle, as JSON.
func (a *App) grant(ctx context.Context, req pairing.Request, label string) (string, []byte, error) {
	if label == "" {
		var err error
		if label, err = device.CheckLabel(req.Label); err != nil {
			return "", nil, err
		}
	}
	if err := req.Device.Check(); err != nil {
		return label, nil, fmt.Errorf("the new device's key: %w", err)
	}
	m, err := a.messenger()
	if err != nil {
		return label, nil, err
	}
	if req.Device == m.Person() || req.Device == a.ID() {
		return label, nil, errors.New("the new device gave this device's own key")
	}
	link := a.linkHook
	if link == nil {
		link = signAndLink
	}
	bundle, err := link(ctx, m, req.Device, label)
	if err != nil {
		return label, nil, err
	}
	b, err := json.Marshal(bundle)
	return label, b, err
}

// signAndLink has the identity certify dev and the messenger record it.
func signAndLink(ctx context.Context, m *room.Messenger, dev identity.ID, label string) (*room.LinkBundle, error) {
	cert, err := m.SignDevice(dev, label)
	if err != nil {
		return nil, err
	}
	return m.Link(ctx, cert)
}

// stopOffer ends the offer shown, if any, and waits for its goroutine.
func (a *App) stopOffer(cause error) {
	a.mu.Lock()
	lo := a.offer
	a.mu.Unlock()
	if lo != nil {
		lo.stop(cause)
		<-lo.done
	}
}

// Link makes this profile, empty, a new device of the person whose
// device shows code (docs/devices.md): it claims the code at the showing
// device's rendezvous, on a relay connection with the profile's own key,
// checks the certificate it is given, stores it with the link bundle
// (vault.Link), and starts the messenger again as that device, opening
// with the bundle. It waits for the showing device until ctx ends
// (ErrLinkTimeout on a deadline). label names this device. It returns the
// person. A wrong code is pairing.ErrWrongCode, an expired one
// pairing.ErrExpired, a spent one pairing.ErrCodeSpent; a profile that is
// not empty is vault.ErrNotEmptyLink, one linked already vault.ErrLinked.
func (a *App) Link(ctx context.Context, code, label string) (identity.ID, error) {
	c, err := pairing.ParseCode(code)
	if err != nil {
		return identity.ID{}, fmt.Errorf("link: %w", err)
	}
	if label, err = device.CheckLabel(label); err != nil {
		return identity.ID{}, fmt.Errorf("link: %w", err)
	}
	ctx, done, err := a.enter(ctx)
	if err != nil {
		return identity.ID{}, err
	}
	defer done()
	if _, err := a.messenger(); err != nil {
		return identity.ID{}, err
	}
	if err := a.lockCtx(ctx); err != nil {
		return identity.ID{}, a.closedErr(err)
	}
	err = a.link(ctx, c, label)
	a.unlock()
	if err != nil {
		return identity.ID{}, a.closedErr(fmt.Errorf("link: %w", err))
	}
	return a.Person(), nil
}

// link claims c and restarts the messenger as the device it certifies.
// The caller holds life.
func (a *App) link(ctx context.Context, c pairing.Code, label string) error {
	a.mu.Lock()
	p := a.profile
	a.mu.Unlock()
	if p.Cert != nil {
		return vault.ErrLinked
	}
	if empty, err := vault.Empty(ctx, p.DB); err != nil {
		return err
	} else if !empty {
		return vault.ErrNotEmptyLink
	}
	// The profile's own relay connection hands every port to the
	// messenger: it stops while this device claims the code on one of its
	// own (the profile is empty: nothing waits on it).
	a.stopOffer(errLinkReplaced)
	a.stop()
	sctx := context.WithoutCancel(ctx) // a restart is not the caller's to cancel
	raw, cert, err := a.claim(ctx, p, c, label)
	if err == nil {
		// Stored even if ctx ends now: the person's devices know this one.
		err = vault.Link(sctx, p, vault.Device{Cert: cert, Bundle: raw})
	}
	return errors.Join(err, a.start(sctx))
}

// claim claims c at its rendezvous with p's key and returns the bundle
// given, as JSON, and the certificate in it, checked.
func (a *App) claim(ctx context.Context, p *vault.Profile, c pairing.Code, label string) ([]byte, *device.Cert, error) {
	rv := c.Rendezvous().ID()
	io := peerio.New(p.Name, p.DB.Identity().Seed(), a.ioConfig())
	defer io.Close()
	octx, cancel := context.WithTimeout(ctx, onlineTimeout)
	err := io.On(octx, func(pt port.Port) {
		if pt.Remote() != rv {
			pt.Close() // nothing but the claim is served here
		}
	})
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("relay %s: %w", a.cfg.Relay, err)
	}
	pt, err := io.At(ctx, rv)
	if err != nil {
		return nil, nil, timeoutErr(ctx, err)
	}
	defer pt.Close()
	raw, err := pairing.Claim(ctx, pt, c, io.ID(), rv, pairing.Request{Device: io.ID(), Label: label})
	if err != nil {
		return nil, nil, timeoutErr(ctx, err)
	}
	cert, err := checkBundle(raw, io.ID())
	if err != nil {
		return nil, nil, err
	}
	return raw, cert, nil
}

// timeoutErr is ErrLinkTimeout if ctx reached its deadline, else err.
func timeoutErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return ErrLinkTimeout
	}
	return err
}

// checkBundle reads a link bundle (untrusted: the showing device's) and
// checks that its certificate verifies and names self.
func checkBundle(raw []byte, self identity.ID) (*device.Cert, error) {
	if len(raw) > vault.MaxBundle {
		return nil, fmt.Errorf("a link bundle of %d bytes, at most %d", len(raw), vault.MaxBundle)
	}
	var b room.LinkBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("the link bundle is not readable: %w", err)
	}
	switch {
	case b.Cert == nil:
		return nil, fmt.Errorf("%w: the link bundle has none", device.ErrBadCert)
	case b.Cert.Device != self:
		return nil, fmt.Errorf("%w: it certifies another device (%s), not this one (%s)", device.ErrBadCert, b.Cert.Device.Short(), self.Short())
	case b.Cert.IsFirst(), b.Cert.Holder:
		return nil, fmt.Errorf("%w: a linked device holds no identity key", device.ErrBadCert)
	}
	if err := b.Cert.Verify(); err != nil {
		return nil, err
	}
	return b.Cert, nil
}

// deviceConfig sets rcfg's device and, on a device's first open, its link
// bundle; it reports whether the bundle is to be forgotten once the
// messenger opened.
func deviceConfig(ctx context.Context, p *vault.Profile, rcfg *room.Config) (bool, error) {
	if p.Cert == nil {
		return false, nil
	}
	rcfg.Device = &room.Self{Cert: p.Cert, Identity: p.Identity}
	raw, err := p.PendingLink(ctx)
	if err != nil || raw == nil {
		return false, err
	}
	var b room.LinkBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("the stored link bundle: %w", err)
	}
	rcfg.Link = &b
	return true, nil
}

// Person is the person this device belongs to: its own id on a first
// device.
func (a *App) Person() identity.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.profile.Person()
}

// Devices lists the person's devices, this one first.
func (a *App) Devices() ([]room.DeviceInfo, error) {
	m, err := a.messenger()
	if err != nil {
		return nil, err
	}
	if ds := m.Devices(); ds != nil {
		return ds, nil
	}
	return []room.DeviceInfo{}, nil
}

// RevokeDevice revokes a device of the person (docs/devices.md).
func (a *App) RevokeDevice(ctx context.Context, dev identity.ID) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		return m.RevokeDevice(ctx, dev)
	})
}

// now is the App's clock.
func (a *App) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}
