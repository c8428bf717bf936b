package relay

import "time"

// Limits bound what one server and each of its connections may use. A zero
// field takes its value from DefaultLimits.
type Limits struct {
	// MaxConns bounds open websocket connections, including those still in
	// the handshake. Beyond it the upgrade is refused with HTTP 503.
	MaxConns int

	// FramesPerSec and BytesPerSec are token buckets per connection over
	// the frames a client sends (every frame counts, with its size on the
	// wire); each bucket holds two seconds' worth (the byte bucket at least
	// MaxFrameSize). A frame over either rate is dropped undecoded and the
	// connection stays up. The first frame of a run over the rate is
	// answered with error {limit, -, "frames per second" or "bytes per
	// second"}; the rest of the run is dropped silently.
	FramesPerSec float64
	BytesPerSec  float64

	// MaxWatch bounds the ids one connection watches in all. A watch frame
	// that would pass it is refused whole with error {limit, -, "watched ids"}.
	MaxWatch int

	// SendQueue is how many frames may wait for a connection's writer. A
	// client whose queue stays full for 100 ms (queueGrace: long enough
	// for a writer that only waits for a CPU) is dropped; routing never
	// waits longer for it.
	SendQueue int

	// WriteTimeout bounds each write to a client; a client that does not
	// take a frame within it is dropped.
	WriteTimeout time.Duration

	// HandshakeTimeout bounds the time from the upgrade to a valid hello.
	HandshakeTimeout time.Duration

	// PingInterval is how often the server pings each client. A client
	// that has not answered a ping within IdleTimeout of the previous
	// round (IdleTimeout-PingInterval after the ping) is dropped.
	PingInterval time.Duration
	IdleTimeout  time.Duration
}

// DefaultLimits returns the limits the relay command uses unless told
// otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxConns:         20000,
		FramesPerSec:     2000,
		BytesPerSec:      16 << 20,
		MaxWatch:         4096,
		SendQueue:        64,
		WriteTimeout:     5 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		IdleTimeout:      75 * time.Second,
		PingInterval:     25 * time.Second,
	}
}

// withDefaults returns lim with every zero (or negative) field set from
// DefaultLimits.
func (lim Limits) withDefaults() Limits {
	def := DefaultLimits()
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setf := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	setd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&lim.MaxConns, def.MaxConns)
	setf(&lim.FramesPerSec, def.FramesPerSec)
	setf(&lim.BytesPerSec, def.BytesPerSec)
	set(&lim.MaxWatch, def.MaxWatch)
	set(&lim.SendQueue, def.SendQueue)
	setd(&lim.WriteTimeout, def.WriteTimeout)
	setd(&lim.HandshakeTimeout, def.HandshakeTimeout)
	setd(&lim.IdleTimeout, def.IdleTimeout)
	setd(&lim.PingInterval, def.PingInterval)
	return lim
}

// pongTimeout is how long a ping may wait for its pong.
func (lim Limits) pongTimeout() time.Duration {
	if d := lim.IdleTimeout - lim.PingInterval; d > 0 {
		return d
	}
	return lim.IdleTimeout
}
