package relay

import "time"

// Limits bound what one server and each of its connections may use. A zero
// field takes its value from DefaultLimits.
type Limits struct {
	// MaxConns bounds open websocket connections, including those still in
	// the handshake. Beyond it the upgrade is refused with HTTP 503.
	MaxConns int

	// MaxConnsPerIP bounds the open connections from one client address
	// (an IPv4 address, or an IPv6 /64), handshake included; loopback
	// counts like any other. Beyond it the upgrade is refused with HTTP
	// 429. The address is the TCP peer's (the request's RemoteAddr): behind
	// a reverse proxy every client counts as the proxy, so this cap and
	// MaxQueuedBytesPerIP are shared by all of them; raise both (or let
	// the proxy bound clients itself), as no forwarded header is trusted. Tests and benchmarks that connect many clients from 127.0.0.1
	// must raise it (relaytest does).
	MaxConnsPerIP int

	// MaxQueuedBytes bounds the bytes of recv frames waiting in all
	// connections' send queues together (a frame counts until its write
	// ends). A send that would pass it is refused, not queued: the sender
	// is answered with error {limit, to, "relay queue full"} and keeps its
	// connection. Without it, every client that stops reading could hold
	// SendQueue frames of up to MaxFrameSize. At least MaxFrameSize. When
	// it is spent, the clients that hold it without reading (frames
	// queued, stuck as SendQueue says) are dropped.
	MaxQueuedBytes int64

	// MaxQueuedBytesPerIP bounds the part of MaxQueuedBytes that the
	// connections from one client address (an IPv4 address, or an IPv6
	// /64, as MaxConnsPerIP) may hold as receivers: a send to a client
	// whose address holds it is refused like a send past MaxQueuedBytes
	// (reject reason queue_budget_ip). So one host's clients that read a
	// trickle cannot spend the whole budget and block every other user;
	// it takes more than MaxQueuedBytes/MaxQueuedBytesPerIP addresses.
	// One connection holds at most SendQueue frames (4 MiB by default).
	// Default (zero) MaxQueuedBytes/8 (16 MiB of the default 128 MiB); at
	// least MaxFrameSize, at most MaxQueuedBytes.
	MaxQueuedBytesPerIP int64

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

	// SendQueue is how many frames may wait for a connection's writer.
	// Routing waits for room in a full queue as long as the client makes
	// progress. A client is dropped as not reading only after four 250 ms
	// windows in a row (queueGrace, stallWindows) in which its writer
	// stayed in one write, wrote no byte to the socket, and (on Linux,
	// where the kernel tells: SIOCOUTQ) the socket held bytes the client
	// did not take. So a client that reads is never dropped for a writer
	// that waits for a CPU, even inside a write; elsewhere, only after a
	// writer descheduled for a whole second.
	SendQueue int

	// WriteTimeout bounds each write to a client's socket: a client that
	// takes none of a write within it is dropped (within one and a half
	// times it: the socket's deadline is moved on only when less than
	// WriteTimeout is left, so that there is no timer update per frame).
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
		MaxConnsPerIP:    64,
		MaxQueuedBytes:   128 << 20,
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
	set(&lim.MaxConnsPerIP, def.MaxConnsPerIP)
	if lim.MaxQueuedBytes <= 0 {
		lim.MaxQueuedBytes = def.MaxQueuedBytes
	}
	lim.MaxQueuedBytes = max(lim.MaxQueuedBytes, MaxFrameSize) // room for one frame
	if lim.MaxQueuedBytesPerIP <= 0 {
		lim.MaxQueuedBytesPerIP = lim.MaxQueuedBytes / 8
	}
	lim.MaxQueuedBytesPerIP = min(max(lim.MaxQueuedBytesPerIP, MaxFrameSize), lim.MaxQueuedBytes)
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

// A bucket is a token bucket, as FramesPerSec and BytesPerSec describe:
// it fills at rate tokens a second up to burst, and starts full. It is
// not safe for concurrent use (each is its reader's).
type bucket struct {
	rate, burst float64
	tokens      float64   // may be negative: taken ahead of time
	last        time.Time // when tokens was right
}

func newBucket(rate, burst float64) bucket {
	return bucket{rate: rate, burst: burst, tokens: burst}
}

// take takes n tokens at now and returns how long to wait until they are
// there (0: now), or false (taking nothing) if n is more than the burst.
func (b *bucket) take(now time.Time, n float64) (time.Duration, bool) {
	if n > b.burst {
		return 0, false
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens -= n
	if b.tokens >= 0 {
		return 0, true
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second)), true
}
