package devtools

import (
	"log/slog"
	"time"
)

// Config tunes a Server. The zero value is ready to use.
type Config struct {
	// Logger gets connections and what failed verification; slog.Default() if nil.
	Logger *slog.Logger
	// RetainPages is the most pages kept per book (default 1000); older
	// ones (lowest indexes) are dropped, and counted in the API.
	RetainPages int
	// RetainEvents is the most timeline events kept per book and per peer
	// (default 1000); older ones are dropped, and counted.
	RetainEvents int
	// MaxTreePages bounds the verified Merkle tree kept per book (default
	// 1<<18 pages, 64 bytes each); past it, pages are checked by their
	// range proofs only.
	MaxTreePages int
	// MaxPeers and MaxBooks bound the peers (default 256) and books
	// (default 10,000) the server keeps.
	MaxPeers, MaxBooks int
	// MaxHandshakes bounds the /peer connections that have not yet sent a
	// hello that verifies (default 64; each has 10 s to): past it, 503.
	MaxHandshakes int
	// CommandTimeout bounds an export, import or reset (default 60 s).
	CommandTimeout time.Duration
	// OriginPatterns are the web origins allowed to open /peer (default
	// loopback pages: 127.0.0.1:*, localhost:*, [::1]:*), besides the
	// devtools page's own.
	OriginPatterns []string
	// Hosts are the names the server answers to besides 127.0.0.1,
	// localhost and [::1] on the listening port: "name" (on the listening
	// port, or with no port behind a proxy) or "name:port" (one that is not
	// a host name, see hostguard.ParseHost, is ignored with a warning). Any
	// other Host is refused with 421, so a DNS-rebound name reaches nothing.
	Hosts []string
	// Now is the server's clock; time.Now if nil.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RetainPages <= 0 {
		c.RetainPages = 1000
	}
	if c.RetainEvents <= 0 {
		c.RetainEvents = 1000
	}
	if c.MaxTreePages <= 0 {
		c.MaxTreePages = 1 << 18
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = 256
	}
	if c.MaxBooks <= 0 {
		c.MaxBooks = 10000
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = 64
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 60 * time.Second
	}
	if c.OriginPatterns == nil {
		c.OriginPatterns = []string{"127.0.0.1:*", "localhost:*", `\[::1\]:*`} // path.Match patterns: the brackets escaped
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
