package peerio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// WebRTC. Once a port is open through the relay, the end that offered the
// port offers a WebRTC data channel (pion/webrtc: the browser's
// RTCPeerConnection under js/wasm, pion's own stack natively). The offer
// and answer travel as flagRTC frames of the port itself, so they are
// authenticated end to end like everything else on it: a relay that alters
// the SDP (and its DTLS fingerprint) breaks the frame's seal and the port.
// When the channel opens, both ends send their frames over it; frames keep
// their sequence numbers and seal, so the switch loses and repeats nothing.
// If the channel does not open within RTCConfig.Timeout, or closes, the port
// carries on through the relay: that is the fallback.

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
	T   uint8    // 1 offer, 2 answer
	SDP string
}

// directPath is a port's data channel.
type directPath struct {
	mu       sync.Mutex
	pc       *webrtc.PeerConnection
	dc       *webrtc.DataChannel // set while open
	closed   bool
	opened   chan struct{} // closed when the data channel first opens
	openOnce sync.Once
}

// send sends a frame over the data channel; false if it is not open.
func (d *directPath) send(frame []byte) bool {
	d.mu.Lock()
	dc := d.dc
	d.mu.Unlock()
	if dc == nil {
		return false
	}
	if err := dc.Send(frame); err != nil {
		d.mu.Lock()
		d.dc = nil
		d.mu.Unlock()
		return false
	}
	return true
}

// open reports whether the data channel carries the port.
func (d *directPath) open() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dc != nil
}

func (d *directPath) setPC(pc *webrtc.PeerConnection) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.pc != nil {
		return false
	}
	d.pc = pc
	return true
}

func (d *directPath) close() {
	d.mu.Lock()
	pc := d.pc
	d.closed, d.dc, d.pc = true, nil, nil
	d.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}

// DirectOpen is closed when the port's data channel opens (it may never).
func (p *Port) DirectOpen() <-chan struct{} { return p.direct.opened }

// Transport says how the port's frames travel now: "webrtc" or "relay".
func (p *Port) Transport() string {
	if p.direct.open() {
		return "webrtc"
	}
	return "relay"
}

// attach wires a data channel to the port.
func (p *Port) attach(dc *webrtc.DataChannel) {
	dc.OnOpen(func() {
		p.direct.mu.Lock()
		if !p.direct.closed {
			p.direct.dc = dc
		}
		p.direct.mu.Unlock()
		p.direct.openOnce.Do(func() { close(p.direct.opened) })
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) { p.deliver(m.Data) })
	dc.OnClose(func() {
		p.direct.mu.Lock()
		if p.direct.dc == dc {
			p.direct.dc = nil
		}
		p.direct.mu.Unlock()
	})
}

// dialDirect offers a data channel to the other end.
func (p *Port) dialDirect() {
	if p.io.rtc == nil {
		return
	}
	pc, err := p.io.rtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil || !p.direct.setPC(pc) {
		if pc != nil {
			pc.Close()
		}
		return
	}
	ordered := true
	dc, err := pc.CreateDataChannel("taskmessenger", &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		p.giveUp(err)
		return
	}
	p.attach(dc)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		p.giveUp(err)
		return
	}
	sdp, err := p.localSDP(pc, offer)
	if err != nil {
		p.giveUp(err)
		return
	}
	if err := p.sendRTC(rtcMsg{T: 1, SDP: sdp}); err != nil {
		p.giveUp(err)
		return
	}
	p.watchDirect()
}

// rtcSignal handles an offer or answer from the other end.
func (p *Port) rtcSignal(b []byte) {
	var m rtcMsg
	if err := decMode.Unmarshal(b, &m); err != nil || p.io.rtc == nil {
		return
	}
	switch m.T {
	case 1: // an offer: answer it
		pc, err := p.io.rtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil || !p.direct.setPC(pc) {
			if pc != nil {
				pc.Close()
			}
			return
		}
		pc.OnDataChannel(p.attach)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			p.giveUp(err)
			return
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			p.giveUp(err)
			return
		}
		sdp, err := p.localSDP(pc, answer)
		if err != nil {
			p.giveUp(err)
			return
		}
		if err := p.sendRTC(rtcMsg{T: 2, SDP: sdp}); err != nil {
			p.giveUp(err)
			return
		}
		p.watchDirect()
	case 2: // the answer to our offer
		p.direct.mu.Lock()
		pc := p.direct.pc
		p.direct.mu.Unlock()
		if pc == nil {
			return
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			p.giveUp(err)
		}
	}
}

// localSDP sets the local description and returns it once ICE gathering
// is complete (no trickle: one offer, one answer).
func (p *Port) localSDP(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-p.closed:
		return "", p.closeErr()
	case <-time.After(p.io.rtcTimeout()):
		return "", fmt.Errorf("ICE gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

func (p *Port) sendRTC(m rtcMsg) error {
	b, err := encMode.Marshal(m)
	if err != nil {
		return err
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.sendFrame(context.Background(), flagRTC, b)
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
	p.direct.pc, p.direct.dc = nil, nil
	p.direct.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}
