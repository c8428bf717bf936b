package peerio

import "github.com/task-messenger/task-messenger/wasm/identity"

// Events SetTrace reports.
const (
	TraceWait    = traceWait
	TraceRedial  = traceRedial
	TraceOpen    = traceOpen
	TraceDirect  = traceDirect
	TraceRelay   = traceRelay
	TraceMessage = traceMessage
	TraceRefused = traceRefused
	TraceOffline = traceOffline
	TraceAnswer  = traceAnswer
	TraceNoRelay = traceNoRelay
)

// SetTrace makes io call f on the events above. Call it before On.
func SetTrace(io *IO, f func(event string, peer identity.ID)) { io.trace = f }

// HoldSend holds p's send lock, as a frame being sent does, until the
// returned func is called.
func HoldSend(p *Port) (release func()) {
	p.sealMu.Lock()
	return p.sealMu.Unlock
}
