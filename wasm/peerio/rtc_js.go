//go:build js && wasm

package peerio

import "github.com/pion/webrtc/v4"

// canWaitInCallback: in the browser pion's callbacks are JS events, which
// must not wait (Port.slowDown).
const canWaitInCallback = false

// newRTCAPI returns the pion API: in the browser, RTCPeerConnection.
func newRTCAPI(*RTCConfig) *webrtc.API { return webrtc.NewAPI() }
