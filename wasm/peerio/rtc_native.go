//go:build !js

package peerio

import (
	"context"
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// canWaitInCallback: pion's callbacks run on its own goroutines natively,
// so a data channel's reader may wait there (Port.slowDown).
const canWaitInCallback = true

// newRTC returns a maker of pion peer connections for cfg.
func newRTC(cfg *RTCConfig) newPeerFunc {
	var se webrtc.SettingEngine
	if cfg.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	return func() (rtcPeer, error) {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, err
		}
		return &pionPeer{pc: pc}, nil
	}
}

// pionPeer is an rtcPeer over pion/webrtc.
type pionPeer struct{ pc *webrtc.PeerConnection }

func (p *pionPeer) Offer(ctx context.Context, ev channelEvents) (string, error) {
	ordered := true
	dc, err := p.pc.CreateDataChannel("taskmessenger", &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return "", err
	}
	attachPion(dc, ev)
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	return p.local(ctx, offer)
}

func (p *pionPeer) Answer(ctx context.Context, offer string, ev channelEvents) (string, error) {
	p.pc.OnDataChannel(func(dc *webrtc.DataChannel) { attachPion(dc, ev) })
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	return p.local(ctx, answer)
}

func (p *pionPeer) Accept(_ context.Context, answer string) error {
	return p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
}

func (p *pionPeer) Close() error { return p.pc.Close() }

// local sets the local description and returns it once ICE gathering is
// complete.
func (p *pionPeer) local(ctx context.Context, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("ICE gathering: %w", ctx.Err())
	}
	return p.pc.LocalDescription().SDP, nil
}

// attachPion reports dc's events to ev.
func attachPion(dc *webrtc.DataChannel, ev channelEvents) {
	dc.OnOpen(func() { ev.open(dc) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { ev.message(m.Data) })
	dc.OnClose(func() { ev.closed(dc) })
}
