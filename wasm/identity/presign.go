package identity

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"github.com/task-messenger/task-messenger/wasm/internal/yield"
)

// Presigned signatures: the package doc (# Signatures) gives the security
// argument and the trade against RFC 8032's deterministic nonces.

// nonceCap bounds the pool of precomputed nonces of one key; a fill
// starts when it holds nonceCap−nonceBatch or fewer, and makes nonceBatch
// at a time, whose points share one field inversion.
const (
	nonceCap   = 16
	nonceBatch = 8
)

// A nonce is a secret scalar r and its public point R = r·B, encoded.
type nonce struct {
	r edwards25519.Scalar
	R [32]byte
}

// presigner signs with a pool of precomputed nonces.
type presigner struct {
	id     ID                  // immutable
	s      edwards25519.Scalar // immutable: the secret scalar a
	prefix [32]byte            // immutable: the RFC 8032 nonce key

	mu      sync.Mutex
	pool    []nonce // guarded by mu: nonces ready, each to be used once
	filling bool    // guarded by mu: a fill goroutine is running
	count   uint64  // guarded by mu: nonces made so far
}

// newPresigner derives seed's secret scalar a (SHA-512(seed)'s first
// half, clamped), nonce key (its second half) and public key a·B (RFC
// 8032). Its pool starts filling on the first SignRandom.
func newPresigner(seed *Seed) *presigner {
	h := sha512.Sum512(seed[:])
	p := &presigner{}
	if _, err := p.s.SetBytesWithClamping(h[:32]); err != nil {
		panic("identity: clamping 32 bytes: " + err.Error())
	}
	copy(p.prefix[:], h[32:])
	clear(h[:])
	copy(p.id[:], new(edwards25519.Point).ScalarBaseMult(&p.s).Bytes())
	return p
}

// SignRandom signs msg like Sign, but with a random nonce precomputed off
// the caller's path (see the comment on presigned signatures in presign.go):
// about 1 µs instead of 20. The signature verifies with ed25519.Verify, but
// differs from Sign's and from one call to the next. The first call starts
// the key's pool; a key that signs once should use Sign.
func (k *Key) SignRandom(msg []byte) []byte { return k.pre.sign(msg) }

func (p *presigner) sign(msg []byte) []byte {
	n, ok := p.take()
	if !ok {
		n = p.newNonce()
	}
	return p.signWith(n, msg)
}

// signWith signs msg with n, which it erases.
func (p *presigner) signWith(n nonce, msg []byte) []byte {
	h := sha512.New()
	h.Write(n.R[:])
	h.Write(p.id[:])
	h.Write(msg)
	var d [sha512.Size]byte
	h.Sum(d[:0])
	var k, s edwards25519.Scalar
	if _, err := k.SetUniformBytes(d[:]); err != nil {
		panic("identity: reducing 64 bytes: " + err.Error())
	}
	s.MultiplyAdd(&k, &p.s, &n.r)
	n.r = edwards25519.Scalar{}
	sig := make([]byte, SignatureSize)
	copy(sig, n.R[:])
	copy(sig[32:], s.Bytes())
	return sig
}

// take removes a nonce from the pool, if it has one, and starts a fill
// goroutine unless one is running or the pool is still well stocked.
func (p *presigner) take() (nonce, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n nonce
	ok := len(p.pool) > 0
	if ok {
		last := len(p.pool) - 1
		n, p.pool[last] = p.pool[last], nonce{}
		p.pool = p.pool[:last]
	}
	if !p.filling && len(p.pool) <= nonceCap-nonceBatch {
		p.filling = true
		go p.fill()
	}
	return n, ok
}

// fill makes nonces, up to nonceBatch at a time, until the pool holds nonceCap,
// then returns. Each point waits for what is ready to run (yield.Now):
// the nonces are for signatures to come, and in a browser, where
// goroutines share one thread with the page's tasks, what a signature was
// made for (storing the page it signed, then sending it) goes first.
func (p *presigner) fill() {
	for {
		p.mu.Lock()
		k := min(nonceBatch, nonceCap-len(p.pool)) // only this goroutine adds
		p.mu.Unlock()
		ns := p.newNonces(k, yield.Now)
		p.mu.Lock()
		p.pool = append(p.pool, ns...)
		full := len(p.pool) >= nonceCap
		if full {
			p.filling = false
		}
		p.mu.Unlock()
		clear(ns)
		if full {
			return
		}
	}
}

// newNonce makes one fresh nonce.
func (p *presigner) newNonce() nonce { return p.newNonces(1, func() {})[0] }

// newNonces makes k fresh nonces, calling pause before each point: r from
// crypto/rand, hedged with the secret prefix and the key's counter, and
// R = r·B, encoded with one constant-time inversion for all k (Montgomery's
// trick: the points' Z coordinates depend on the secret r).
func (p *presigner) newNonces(k int, pause func()) []nonce {
	ns := make([]nonce, k)
	points := make([]edwards25519.Point, k)
	var buf [23 + 32 + 8 + 64]byte
	for i := range ns {
		pause()
		b := append(buf[:0], "taskmessenger/nonce/v1\n"...)
		b = append(b, p.prefix[:]...)
		p.mu.Lock()
		b = binary.BigEndian.AppendUint64(b, p.count)
		p.count++
		p.mu.Unlock()
		rand.Read(b[len(b) : len(b)+64]) // never fails (crypto/rand since Go 1.24)
		b = b[:len(b)+64]
		d := sha512.Sum512(b)
		if _, err := ns[i].r.SetUniformBytes(d[:]); err != nil {
			panic("identity: reducing 64 bytes: " + err.Error())
		}
		clear(d[:])
		points[i].ScalarBaseMult(&ns[i].r)
	}
	clear(buf[:])
	encodePoints(points, func(i int, enc []byte) { copy(ns[i].R[:], enc) })
	clear(points)
	return ns
}

// encodePoints encodes each point as Point.Bytes does (y, with x's sign
// in the top bit), inverting all their Z coordinates with one constant-
// time inversion: the products of the first i Zs, the inverse of the
// product of all, then each Z's inverse peeled off from the last.
func encodePoints(points []edwards25519.Point, put func(i int, enc []byte)) {
	if len(points) == 0 {
		return
	}
	prefix := make([]field.Element, len(points)) // prefix[i] = Z_0 · … · Z_i
	var x, y, z field.Element
	for i := range points {
		_, _, Z, _ := points[i].ExtendedCoordinates()
		if i == 0 {
			prefix[0].Set(Z)
		} else {
			prefix[i].Multiply(&prefix[i-1], Z)
		}
	}
	var inv field.Element // the inverse of Z_0 · … · Z_i, going down
	inv.Invert(&prefix[len(points)-1])
	for i := len(points) - 1; i >= 0; i-- {
		X, Y, Z, _ := points[i].ExtendedCoordinates()
		if i > 0 {
			z.Multiply(&inv, &prefix[i-1]) // 1/Z_i
			inv.Multiply(&inv, Z)
		} else {
			z.Set(&inv)
		}
		x.Multiply(X, &z)
		y.Multiply(Y, &z)
		enc := y.Bytes()
		enc[31] |= byte(x.IsNegative() << 7)
		put(i, enc)
	}
	clear(prefix)
}
