//go:build js && wasm

package peerio

import "github.com/pion/webrtc/v4"

// newRTCAPI returns the pion API: in the browser, RTCPeerConnection.
func newRTCAPI(*RTCConfig) *webrtc.API { return webrtc.NewAPI() }
