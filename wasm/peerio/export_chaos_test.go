package peerio

import "github.com/task-messenger/task-messenger/wasm/port"

// FrameHeader is the size of a port frame's clear header: its session id,
// then its seq (8 bytes, big endian).
const FrameHeader = sidSize + 8

// Held returns how many frames p holds ahead of sequence (0 for a port
// that is not a peerio port).
func Held(p port.Port) int {
	pp, ok := p.(*Port)
	if !ok {
		return 0
	}
	pp.recvMu.Lock()
	defer pp.recvMu.Unlock()
	return len(pp.held)
}
