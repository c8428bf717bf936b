package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"sync"

	"filippo.io/edwards25519"
)

// Presigned signatures.
//
// An ed25519 signature of M by the key (a, A = a·B) is R ‖ S with
// R = r·B and S = r + SHA-512(R ‖ A ‖ M)·a mod l. RFC 8032 derives the
// nonce r from the key and M, so r·B, three quarters of the cost, can only
// be computed once M is known. A verifier checks S·B = R + k·A and never
// learns how r was chosen: any r that is secret, uniform and used once gives
// a signature that every standard verifier accepts and that is as hard to
// forge. Key.SignRandom therefore takes its (r, R) from a small pool that a
// goroutine fills ahead of time (on another core natively; while the caller
// waits on IndexedDB in the browser), leaving one SHA-512 and one scalar
// multiply-add on the caller's path.
//
// The rules that keep this sound:
//
//   - r is SHA-512("taskmessenger/nonce/v1\n" ‖ prefix ‖ counter ‖ 64 bytes
//     from crypto/rand) reduced mod l, where prefix is the secret half of
//     SHA-512(seed) (the RFC's nonce key) and counter counts the key's
//     nonces. The randomness makes r uniform; hashing it with the secret
//     prefix and a counter is a hedge: if crypto/rand were predictable, r
//     would still be secret, and within one Key it would still never repeat.
//   - Each pair is taken from the pool under its lock by one signature only,
//     then erased; pairs live only in memory (never persisted, never
//     exported), and the pool holds at most nonceCap of them.
//
// The trade against RFC 8032: a deterministic nonce cannot be repeated by a
// bad random generator, and two signatures by one key with the same r but
// different messages reveal the key. Here the hedge covers a predictable
// generator within one process; two processes with the same seed (two tabs,
// a restored backup) rely on crypto/rand alone to draw different nonces, as
// every randomized signature scheme (ECDSA, ed25519 in TLS stacks that
// randomize) does. A signature also differs from one signing of the same
// message to the next, so nothing may compare heads by their signature
// bytes (the journal compares length and root).

// nonceCap bounds the pool of precomputed nonces of one key.
const nonceCap = 8

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

func newPresigner(seed *Seed, id ID) *presigner {
	h := sha512.Sum512(seed[:])
	p := &presigner{id: id}
	if _, err := p.s.SetBytesWithClamping(h[:32]); err != nil {
		panic("identity: clamping 32 bytes: " + err.Error())
	}
	copy(p.prefix[:], h[32:])
	clear(h[:])
	return p
}

// SignRandom signs msg like Sign, but with a random nonce precomputed off
// the caller's path (see the comment on presigned signatures in presign.go):
// about 1 µs instead of 20. The signature verifies with ed25519.Verify, but
// differs from Sign's and from one call to the next. The first call starts
// the key's pool; a key that signs once should use Sign.
func (k *Key) SignRandom(msg []byte) []byte {
	k.preOnce.Do(func() { k.pre = newPresigner(&k.seed, k.id) })
	return k.pre.sign(msg)
}

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
	sig := make([]byte, ed25519.SignatureSize)
	copy(sig, n.R[:])
	copy(sig[32:], s.Bytes())
	return sig
}

// take removes a nonce from the pool, if it has one, and starts a fill
// goroutine unless one is running.
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
	if !p.filling {
		p.filling = true
		go p.fill()
	}
	return n, ok
}

// fill makes nonces until the pool holds nonceCap, then returns.
func (p *presigner) fill() {
	for {
		n := p.newNonce()
		p.mu.Lock()
		p.pool = append(p.pool, n)
		full := len(p.pool) >= nonceCap
		if full {
			p.filling = false
		}
		p.mu.Unlock()
		if full {
			return
		}
	}
}

// newNonce makes a fresh nonce: r from crypto/rand, hedged with the secret
// prefix and the key's counter, and R = r·B.
func (p *presigner) newNonce() nonce {
	var buf [23 + 32 + 8 + 64]byte
	b := append(buf[:0], "taskmessenger/nonce/v1\n"...)
	b = append(b, p.prefix[:]...)
	p.mu.Lock()
	b = binary.BigEndian.AppendUint64(b, p.count)
	p.count++
	p.mu.Unlock()
	rand.Read(b[len(b) : len(b)+64]) // never fails (crypto/rand since Go 1.24)
	b = b[:len(b)+64]
	d := sha512.Sum512(b)
	clear(buf[:])
	var n nonce
	if _, err := n.r.SetUniformBytes(d[:]); err != nil {
		panic("identity: reducing 64 bytes: " + err.Error())
	}
	clear(d[:])
	copy(n.R[:], new(edwards25519.Point).ScalarBaseMult(&n.r).Bytes())
	return n
}
