//go:build !js

package peerio

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// canWaitInCallback: pion's callbacks run on its own goroutines natively,
// so a data channel's reader may wait there (Port.slowDown).
const canWaitInCallback = true

// newRTCAPI returns the pion API for cfg.
func newRTCAPI(cfg *RTCConfig) *webrtc.API {
	var se webrtc.SettingEngine
	if cfg.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}
