package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/pairing"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// startAppWith is startApp with cfg changed by edit before Start.
func startAppWith(t testing.TB, name, relayURL string, edit func(*Config)) testApp {
	t.Helper()
	ctx := testCtx(t)
	p, err := vault.Open(ctx, name, memOpener, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	reg.take(p.ID)
	cfg := Config{Profile: p, Relay: relayURL, Logger: quiet, Take: reg.take, Release: reg.release}
	edit(&cfg)
	a, err := Start(ctx, cfg)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return testApp{a, reg}
}

// signHook stands in for the room's SignDevice and Link (stubs until the
// room side is merged): the identity of a's first device certifies dev,
// and the bundle holds the certificate alone.
func signHook(a *App) func(context.Context, *room.Messenger, identity.ID, string) (*room.LinkBundle, error) {
	return func(_ context.Context, _ *room.Messenger, dev identity.ID, label string) (*room.LinkBundle, error) {
		a.mu.Lock()
		key := a.profile.DB.Identity()
		a.mu.Unlock()
		cert, err := device.Sign(key, dev, label, time.Now().UnixMilli(), false)
		if err != nil {
			return nil, err
		}
		return &room.LinkBundle{Cert: cert, Devices: []*device.Cert{cert}}, nil
	}
}

// presence watches ids at the relay.
type presence struct {
	c     *relay.Client
	state map[identity.ID]bool
}

func watch(t *testing.T, url string, ids ...identity.ID) *presence {
	t.Helper()
	seed, _ := identity.NewSeed()
	c, err := relay.Dial(testCtx(t), url, identity.New(seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Watch(testCtx(t), ids...); err != nil {
		t.Fatal(err)
	}
	return &presence{c: c, state: make(map[identity.ID]bool)}
}

// wait waits until the relay said id is online (or offline).
func (p *presence) wait(t *testing.T, id identity.ID, online bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		if on, ok := p.state[id]; ok && on == online {
			return
		}
		select {
		case ev, ok := <-p.c.Events():
			if !ok {
				t.Fatalf("watcher's relay connection ended: %v", p.c.Err())
			}
			if ev.Type == relay.FramePresence {
				p.state[ev.From] = ev.Online
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s online=%v", id.Short(), online)
		}
	}
}

func linkEvent(state string, match func(Event) bool) func([]Event) bool {
	return func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == EventLink && ev.State == state && (match == nil || match(ev))
		})
	}
}

// currentOffer is the offer a shows.
func currentOffer(a *App) *linkOffer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.offer
}

func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestLinkDevice: Ana's first device shows a code (with a QR image of
// it); a new empty profile claims it through Do, is given its
// certificate, stores it and restarts as Ana's device; the code's IO then
// leaves the relay, and the spent code links no one else.
func TestLinkDevice(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	ana.linkHook = signHook(ana.App)
	anaEvents := record(ana.App)

	var offer LinkOffer
	if err := json.Unmarshal(do(t, ana.App, "linkDevice", `[{"label":"phone"}]`), &offer); err != nil {
		t.Fatal(err)
	}
	code, err := pairing.ParseCode(offer.Code)
	if err != nil {
		t.Fatalf("code %q: %v", offer.Code, err)
	}
	if left := time.Until(time.UnixMilli(offer.Expires)); left < 9*time.Minute || left > 11*time.Minute {
		t.Fatalf("the code expires in %v", left)
	}
	img, err := png.Decode(strings.NewReader(decodeDataURL(t, offer.QR)))
	if err != nil || img.Bounds().Dx() < 21 {
		t.Fatalf("QR image: %v", err)
	}
	anaEvents.wait(t, "waiting", linkEvent(LinkWaiting, nil))
	lo := currentOffer(ana.App)
	rv := code.Rendezvous().ID()
	relayWatch := watch(t, url, rv)
	relayWatch.wait(t, rv, true)

	phone := startApp(t, "phone", url)
	phoneID := phone.ID()
	var person identity.ID
	if err := json.Unmarshal(do(t, phone.App, "link", `["`+strings.ToUpper(offer.Code)+`",{"label":"my phone"}]`), &person); err != nil {
		t.Fatal(err)
	}
	if person != ana.ID() || phone.Person() != ana.ID() || phone.ID() != phoneID {
		t.Fatalf("linked: person %s, phone %s, want %s and %s", person.Short(), phone.ID().Short(), ana.ID().Short(), phoneID.Short())
	}
	var p string
	json.Unmarshal(do(t, phone.App, "person", `[]`), &p)
	if p != ana.ID().String() {
		t.Fatalf("person() %q", p)
	}
	phone.mu.Lock()
	prof := phone.profile
	phone.mu.Unlock()
	if prof.Cert == nil || prof.Cert.Label != "phone" || prof.Cert.Device != phoneID {
		t.Fatalf("stored certificate %+v", prof.Cert)
	}
	if b, err := prof.PendingLink(testCtx(t)); err != nil || b != nil {
		t.Fatalf("the link bundle is still pending after the messenger opened: %q, %v", b, err)
	}
	anaEvents.wait(t, "linked", linkEvent(LinkLinked, func(ev Event) bool { return ev.Device == phoneID && ev.Label == "phone" }))
	waitDone(t, lo.done, "the offer's goroutine")
	relayWatch.wait(t, rv, false)
	if currentOffer(ana.App) != nil {
		t.Fatal("the spent offer is still shown")
	}
	record(phone.App).wait(t, "the phone online again", online(phoneID))
	if _, err := phone.RecoveryCode(testCtx(t)); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("a linked device's recovery code: %v, want ErrNoIdentity", err)
	}

	// Linked already: the phone is not linked again; another empty
	// profile finds no one behind the spent code.
	if _, err := phone.Link(testCtx(t), offer.Code, ""); !errors.Is(err, vault.ErrLinked) {
		t.Fatalf("link of a linked profile: %v", err)
	}
	other := startApp(t, "tablet", url)
	if _, err := other.Do(testCtx(t), "link", json.RawMessage(`["`+offer.Code+`",{"timeout":300}]`)); !errors.Is(err, ErrLinkTimeout) {
		t.Fatalf("link with a spent code: %v, want ErrLinkTimeout", err)
	}
	if other.Person() != other.ID() {
		t.Fatal("a failed link changed the person")
	}
	do(t, other.App, "createTask", `[{"title":"still works"}]`)
}

func decodeDataURL(t *testing.T, u string) string {
	t.Helper()
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(u, prefix) {
		t.Fatalf("qr %.40q is not a PNG data URL", u)
	}
	raw, err := base64.StdEncoding.DecodeString(u[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestLinkWrongCode: a code whose secret half is wrong reaches the new
// device as pairing.ErrWrongCode, leaves it as it was, and the showing
// device says so and keeps waiting; the third wrong attempt ends the
// code.
func TestLinkWrongCode(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	anaEvents := record(ana.App)
	shown, _, _, err := ana.LinkDevice(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	lo := currentOffer(ana.App)
	code, _ := pairing.ParseCode(shown)
	code[len(code)-1] ^= 1 // the same rendezvous, another secret
	phone := startApp(t, "phone", url)
	for i := range pairing.MaxFailures {
		if _, err := phone.Link(testCtx(t), code.String(), "phone"); !errors.Is(err, pairing.ErrWrongCode) {
			t.Fatalf("attempt %d with a wrong code: %v, want ErrWrongCode", i, err)
		}
		if i == 0 {
			anaEvents.wait(t, "the wrong attempt told", linkEvent(LinkWaiting, func(ev Event) bool { return ev.Error != "" }))
		}
	}
	if phone.Person() != phone.ID() {
		t.Fatal("a wrong code linked the profile")
	}
	anaEvents.wait(t, "the code ended", linkEvent(LinkFailed, nil))
	waitDone(t, lo.done, "the offer's goroutine")
	do(t, phone.App, "createTask", `[{"title":"mine"}]`) // the phone works on as it was
}

// TestLinkExpires: a code shown and never claimed ends at its expiry, and
// its IO leaves the relay.
func TestLinkExpires(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	// A clock 10 minutes minus 2 s behind: the code expires 2 s from now.
	ana := startAppWith(t, "ana", url, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(-pairing.Lifetime + 2*time.Second) }
	})
	events := record(ana.App)
	shown, _, expires, err := ana.LinkDevice(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(expires) > 10*time.Second {
		t.Fatalf("expires in %v", time.Until(expires))
	}
	code, _ := pairing.ParseCode(shown)
	rv := code.Rendezvous().ID()
	w := watch(t, url, rv)
	w.wait(t, rv, true)
	events.wait(t, "expired", linkEvent(LinkFailed, func(ev Event) bool { return strings.Contains(ev.Error, "expired") }))
	w.wait(t, rv, false)
}

// TestLinkDeviceReplacedAndClosed: a second code replaces the first (whose
// IO leaves), and Close ends the one shown (goleak checks the rest).
func TestLinkDeviceReplacedAndClosed(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	first, _, _, err := ana.LinkDevice(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	second, _, _, err := ana.LinkDevice(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := pairing.ParseCode(first)
	c2, _ := pairing.ParseCode(second)
	rv1, rv2 := c1.Rendezvous().ID(), c2.Rendezvous().ID()
	w := watch(t, url, rv1, rv2)
	w.wait(t, rv1, false)
	w.wait(t, rv2, true)
	lo := currentOffer(ana.App)
	if err := ana.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, lo.done, "the offer's goroutine after Close")
	w.wait(t, rv2, false)
}

// TestLinkRefused: a profile with tasks of its own is not linked, and a
// mistyped code is refused before anything is tried.
func TestLinkRefused(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	do(t, ana.App, "createTask", `[{"title":"mine"}]`)
	code, _ := pairing.NewOffer(time.Now())
	if _, err := ana.Link(testCtx(t), code.Code.String(), "x"); !errors.Is(err, vault.ErrNotEmptyLink) {
		t.Fatalf("link of a profile with a task: %v", err)
	}
	if _, err := ana.Link(testCtx(t), "tml1-abc", "x"); !errors.Is(err, pairing.ErrBadCode) {
		t.Fatalf("link with a mistyped code: %v", err)
	}
	if _, err := ana.Do(testCtx(t), "link", json.RawMessage(`[7]`)); !errors.Is(err, ErrBadArgs) {
		t.Fatalf("link(7): %v", err)
	}
	if _, err := ana.Do(testCtx(t), "revokeDevice", json.RawMessage(`["nope"]`)); !errors.Is(err, ErrBadArgs) {
		t.Fatalf("revokeDevice(nope): %v", err)
	}
	if _, _, _, err := ana.LinkDevice(testCtx(t), "bad\x00label"); err == nil {
		t.Fatal("a label with a control character")
	}
}

// TestCheckBundle: the bundle a new device is given must certify it.
func TestCheckBundle(t *testing.T) {
	seed, _ := identity.NewSeed()
	person := identity.New(seed)
	seed2, _ := identity.NewSeed()
	self := identity.New(seed2).ID()
	good, _ := device.Sign(person, self, "x", 1, false)
	holder, _ := device.Sign(person, self, "x", 1, true)
	forged, _ := device.Sign(person, self, "x", 1, false)
	forged.Label = "y"
	ofOther, _ := device.Sign(person, person.ID(), "x", 1, false)
	enc := func(c *device.Cert) []byte { b, _ := json.Marshal(room.LinkBundle{Cert: c}); return b }
	if c, err := checkBundle(enc(good), self); err != nil || c.Person != person.ID() {
		t.Fatalf("good bundle: %v", err)
	}
	for name, raw := range map[string][]byte{
		"no cert": enc(nil), "holder": enc(holder), "forged": enc(forged), "another device": enc(ofOther), "not JSON": []byte("{"),
	} {
		if _, err := checkBundle(raw, self); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLinkStrangersBounded: ports that reach the rendezvous and say
// nothing hold at most maxClaims attempts, maxClaims more wait, and the
// others are closed; once they leave, a device with the code links.
func TestLinkStrangersBounded(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana := startApp(t, "ana", url)
	ana.linkHook = signHook(ana.App)
	shown, _, _, err := ana.LinkDevice(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := pairing.ParseCode(shown)
	rv := code.Rendezvous().ID()
	const n = 2*maxClaims + 2
	var silent []port.Port
	for range n {
		seed, _ := identity.NewSeed()
		io := peerio.New("stranger", seed, peerio.Config{Relay: url, Logger: quiet})
		t.Cleanup(func() { io.Close() })
		if err := io.On(testCtx(t), func(port.Port) {}); err != nil {
			t.Fatal(err)
		}
		p, err := io.At(testCtx(t), rv)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, p)
	}
	closed := make(chan int, n)
	for i, p := range silent {
		go func() {
			if _, err := p.Recv(testCtx(t)); err != nil {
				closed <- i
			}
		}()
	}
	for range n - 2*maxClaims {
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatal("no port past the bound was closed")
		}
	}
	for _, p := range silent {
		p.Close()
	}
	phone := startApp(t, "phone", url)
	if _, err := phone.Link(testCtx(t), shown, "phone"); err != nil {
		t.Fatalf("link once the strangers left: %v", err)
	}
}

// TestStartLinkedProfile: a profile linked and not yet opened (the page
// closed right after the link) opens as its device with the bundle once:
// the room is given both, and the bundle is forgotten after.
func TestStartLinkedProfile(t *testing.T) {
	ctx := testCtx(t)
	p, err := vault.Open(ctx, "phone", memOpener, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := identity.NewSeed()
	person := identity.New(seed)
	cert, _ := device.Sign(person, p.ID, "phone", 1, false)
	bundle, _ := json.Marshal(room.LinkBundle{Cert: cert, Devices: []*device.Cert{cert}})
	if err := vault.Link(ctx, p, vault.Device{Cert: cert, Bundle: bundle}); err != nil {
		t.Fatal(err)
	}
	var rcfg room.Config
	forget, err := deviceConfig(ctx, p, &rcfg)
	if err != nil || !forget || rcfg.Device == nil || rcfg.Device.Cert != cert || rcfg.Device.Identity != nil ||
		rcfg.Link == nil || rcfg.Link.Cert.Device != p.ID {
		t.Fatalf("room config of a linked profile: %+v %+v, forget %v, %v", rcfg.Device, rcfg.Link, forget, err)
	}
	a, err := Start(ctx, Config{Profile: p, Relay: deadRelay(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Person() != person.ID() || a.ID() != p.ID {
		t.Fatalf("person %s, id %s", a.Person().Short(), a.ID().Short())
	}
	if b, err := p.PendingLink(ctx); err != nil || b != nil {
		t.Fatalf("bundle after the first open: %q, %v", b, err)
	}
	rcfg = room.Config{}
	if forget, err := deviceConfig(ctx, p, &rcfg); err != nil || forget || rcfg.Device == nil || rcfg.Link != nil {
		t.Fatalf("a later open: device %v, link %v, %v", rcfg.Device, rcfg.Link, err)
	}
	var legacy room.Config
	q, _ := vault.Open(ctx, "ana", memOpener, nil)
	defer q.Close()
	if forget, err := deviceConfig(ctx, q, &legacy); err != nil || forget || legacy.Device != nil || legacy.Link != nil {
		t.Fatalf("a first device's config: %+v, %v", legacy, err)
	}
}
