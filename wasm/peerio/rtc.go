package peerio

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// WebRTC. Once a port is open through the relay, the end that offered the
// port offers a WebRTC data channel (rtcPeer: the browser's
// RTCPeerConnection under js/wasm, pion/webrtc natively). The offer
// and answer travel as flagRTC frames of the port itself, so they are
// authenticated end to end like everything else on it: a relay that alters
// the SDP (and its DTLS fingerprint) breaks the frame's seal and the port.
// When the channel opens, each end switches its own direction to it without
// reordering: it sends a drain message (rtcMsg 3) as its last frame through
// the relay and sends nothing more until the other end, having handled every
// frame before it, answers drained (rtcMsg 4, sent over the channel as soon
// as it is open at the answering end, so that the answering end's own
// channel frames never overtake it); from then on its frames go over the
// channel. Frames keep their sequence numbers and seal, so the
// switch loses and repeats nothing, and a receiver never has to hold frames
// ahead of sequence (it allows MaxHeld). If the channel does not open, or
// drained does not come, within RTCConfig.Timeout, or the channel closes,
// the port carries on through the relay: that is the fallback. An end that
// does not know drain ignores it, and the other end stays on the relay.

// RTCConfig turns WebRTC on (Config.WebRTC). With it nil, ports stay on
// the relay.
type RTCConfig struct {
	// Timeout is how long a data channel may take to open (default 5s).
	Timeout time.Duration
	// LoopbackOnly restricts ICE to 127.0.0.1 host candidates over UDP4,
	// without mDNS (native only: tests and tools on this machine).
	LoopbackOnly bool
}

type rtcMsg struct {
	_   struct{} `cbor:",toarray"`
	T   uint8    // rtcOffer, rtcAnswer, rtcDrain, rtcDrained
	SDP string   // offer and answer
}

// Types of rtcMsg.
const (
	rtcOffer   = 1
	rtcAnswer  = 2
	rtcDrain   = 3 // the sender's last frame through the relay
	rtcDrained = 4 // every frame up to the drain was handled
)

// dataChannel is what a port sends on: an open data channel.
type dataChannel interface{ Send([]byte) error }

// rtcPeer is this end of a WebRTC connection that carries one ordered data
// channel: pion natively (rtc_native.go), the browser's RTCPeerConnection
// under js/wasm (rtc_js.go). A description is returned once every ICE
// candidate is gathered (no trickle: one offer, one answer).
type rtcPeer interface {
	// Offer creates the data channel, which reports to ev, and returns
	// the offer's SDP.
	Offer(ctx context.Context, ev channelEvents) (string, error)
	// Answer takes the other end's offer and returns the answer's SDP;
	// the data channel the offer brings reports to ev.
	Answer(ctx context.Context, offer string, ev channelEvents) (string, error)
	// Accept takes the answer to this end's offer.
	Accept(ctx context.Context, answer string) error
	// Close ends the connection; its channel reports nothing more.
	Close() error
}

// channelEvents is what a data channel reports, in order, on a goroutine
// that may wait (natively, one of pion's; in the browser, one per peer
// connection).
type channelEvents struct {
	open    func(dataChannel) // the channel is open
	message func([]byte)      // a message came
	closed  func(dataChannel) // the channel closed
}

// newPeerFunc makes a peer connection (IO.rtc).
type newPeerFunc func() (rtcPeer, error)

// directPath is a port's data channel.
type directPath struct {
	mu       sync.Mutex
	pc       rtcPeer       // guarded by mu
	dc       dataChannel   // guarded by mu: set while open
	active   bool          // guarded by mu: this end sends over dc (after the drain)
	closed   bool          // guarded by mu
	opened   chan struct{} // closed when this end first sends over the channel
	openOnce sync.Once
}

// send sends a frame over the data channel; false if this end does not
// send over it (not open, not yet drained unless early, or failed).
func (d *directPath) send(frame []byte, early bool) bool {
	d.mu.Lock()
	dc := d.dc
	if !d.active && !early {
		dc = nil
	}
	d.mu.Unlock()
	if dc == nil {
		return false
	}
	if err := dc.Send(frame); err != nil {
		d.mu.Lock()
		if d.dc == dc {
			d.dc, d.active = nil, false
		}
		d.mu.Unlock()
		return false
	}
	return true
}

// activate makes this end send over the open data channel; false if it
// closed meanwhile.
func (d *directPath) activate() bool {
	d.mu.Lock()
	ok := d.dc != nil && !d.closed
	d.active = ok
	d.mu.Unlock()
	if ok {
		d.openOnce.Do(func() { close(d.opened) })
	}
	return ok
}

// open reports whether the data channel carries the port.
func (d *directPath) open() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dc != nil
}

func (d *directPath) setPC(pc rtcPeer) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.pc != nil {
		return false
	}
	d.pc = pc
	return true
}

// close ends the data channel. Closing a peer connection can take a while
// (DTLS and SCTP say goodbye): it happens on its own goroutine, so that no
// one (the relay loop closing a port on presence) waits for it.
func (d *directPath) close() {
	d.mu.Lock()
	pc := d.pc
	d.closed, d.dc, d.pc, d.active = true, nil, nil, false
	d.mu.Unlock()
	if pc != nil {
		go pc.Close()
	}
}

// DirectOpen is closed when this end's frames start going over the data
// channel (it may never).
func (p *Port) DirectOpen() <-chan struct{} { return p.direct.opened }

// Transport says how this end's frames travel now: "webrtc" or "relay".
func (p *Port) Transport() string {
	p.direct.mu.Lock()
	defer p.direct.mu.Unlock()
	if p.direct.active && p.direct.dc != nil {
		return "webrtc"
	}
	return "relay"
}

// channelEvents wires a data channel to the port.
func (p *Port) channelEvents() channelEvents {
	return channelEvents{
		open: func(dc dataChannel) {
			p.direct.mu.Lock()
			open := !p.direct.closed && p.direct.dc == nil
			if open {
				p.direct.dc = dc
			}
			p.direct.mu.Unlock()
			if open {
				p.io.traceEvent(traceOpen, p.remote)
				go p.switchDirect()
			}
		},
		message: func(b []byte) {
			p.deliver(b)
			p.slowDown()
		},
		closed: func(dc dataChannel) {
			p.direct.mu.Lock()
			if p.direct.dc == dc {
				p.direct.dc, p.direct.active = nil, false
			}
			p.direct.mu.Unlock()
		},
	}
}

// newPeer makes this end's peer connection, unless the port has one or is
// closed.
func (p *Port) newPeer() (rtcPeer, bool) {
	pc, err := p.io.rtc()
	if err != nil {
		return nil, false
	}
	if !p.direct.setPC(pc) {
		pc.Close()
		return nil, false
	}
	return pc, true
}

// rtcContext bounds a step of the signaling by RTCConfig.Timeout and the
// port's life.
func (p *Port) rtcContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), p.io.rtcTimeout())
	go func() {
		select {
		case <-p.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// dialDirect offers a data channel to the other end.
func (p *Port) dialDirect() {
	if p.io.rtc == nil {
		return
	}
	pc, ok := p.newPeer()
	if !ok {
		return
	}
	ctx, cancel := p.rtcContext()
	sdp, err := pc.Offer(ctx, p.channelEvents())
	cancel()
	if err != nil {
		p.giveUp(fmt.Errorf("offer: %w", err))
		return
	}
	if err := p.sendRTC(rtcMsg{T: rtcOffer, SDP: sdp}); err != nil {
		p.giveUp(err)
		return
	}
	p.watchDirect()
}

// rtcSignal handles an rtcMsg from the other end.
func (p *Port) rtcSignal(b []byte) {
	var m rtcMsg
	if err := decMode.Unmarshal(b, &m); err != nil {
		return
	}
	switch {
	case m.T == rtcDrain:
		// Frames are handled in order: everything sent before the drain is.
		// A port switches once: later drains (a peer's spam) are ignored.
		// The ack goes over the data channel (open: the other end drained
		// because it is open at its end; if it is not open here yet, this
		// end's own drain will follow the ack through the relay), so this
		// end's frames over the channel, once it switched, never overtake
		// it: had it gone through the relay after this end's drain, they
		// would wait ahead of sequence at the other end for the slower
		// relay, past MaxHeld for a replication batch.
		p.ackOnce.Do(func() { _ = p.sendRTCEarly(rtcMsg{T: rtcDrained}, true) })
		return
	case m.T == rtcDrained:
		p.drainOK.Do(func() { close(p.drained) })
		return
	case p.io.rtc == nil:
		return
	}
	switch m.T {
	case rtcOffer:
		pc, ok := p.newPeer()
		if !ok {
			return
		}
		ctx, cancel := p.rtcContext()
		sdp, err := pc.Answer(ctx, m.SDP, p.channelEvents())
		cancel()
		if err != nil {
			p.giveUp(fmt.Errorf("answer: %w", err))
			return
		}
		if err := p.sendRTC(rtcMsg{T: rtcAnswer, SDP: sdp}); err != nil {
			p.giveUp(err)
			return
		}
		p.watchDirect()
	case rtcAnswer: // the answer to our offer
		p.direct.mu.Lock()
		pc := p.direct.pc
		p.direct.mu.Unlock()
		if pc == nil {
			return
		}
		ctx, cancel := p.rtcContext()
		defer cancel()
		if err := pc.Accept(ctx, m.SDP); err != nil {
			p.giveUp(fmt.Errorf("accept: %w", err))
		}
	}
}

// sendRTC sends m as a control frame: it takes only sealMu, so it may go
// between a message's chunks, and while this end waits for drained. The
// relay gets controlTimeout to take it.
func (p *Port) sendRTC(m rtcMsg) error { return p.sendRTCEarly(m, false) }

// sendRTCEarly is sendRTC, over the data channel as soon as it is open if
// early (see sendFrame).
func (p *Port) sendRTCEarly(m rtcMsg, early bool) error {
	b, err := encMode.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	return p.sendFrame(ctx, flagRTC, b, early)
}

// switchDirect moves this end's frames to the open data channel once the
// other end has every frame sent through the relay (see the top of this
// file). Messages wait meanwhile (it holds sendMu).
func (p *Port) switchDirect() {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if err := p.sendRTC(rtcMsg{T: rtcDrain}); err != nil {
		return
	}
	deadline := time.NewTimer(p.io.rtcTimeout())
	defer deadline.Stop()
	select {
	case <-p.drained:
	case <-p.closed:
		return
	case <-deadline.C:
		p.giveUp(fmt.Errorf("no drained answer in %v", p.io.rtcTimeout()))
		return
	}
	if p.direct.activate() {
		p.io.traceEvent(traceDirect, p.remote)
	}
}

// watchDirect gives the data channel its time to open; past it, the port
// stays on the relay.
func (p *Port) watchDirect() {
	deadline := time.NewTimer(p.io.rtcTimeout())
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !p.direct.open() {
		select {
		case <-p.closed:
			return
		case <-deadline.C:
			p.giveUp(fmt.Errorf("the data channel did not open in %v", p.io.rtcTimeout()))
			return
		case <-tick.C:
		}
	}
}

// giveUp drops the WebRTC attempt: the port goes on through the relay.
func (p *Port) giveUp(err error) {
	p.io.cfg.Logger.Info("peerio: staying on the relay", "peer", p.local.Short(), "to", p.remote.Short(), "reason", err)
	p.direct.mu.Lock()
	pc := p.direct.pc
	p.direct.pc, p.direct.dc, p.direct.active = nil, nil, false
	p.direct.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
	p.io.traceEvent(traceRelay, p.remote)
}
