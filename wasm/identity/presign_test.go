package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

func randomKey(t testing.TB) *Key {
	t.Helper()
	s, err := NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	return New(s)
}

// TestSignRandomVerifies: signatures from the nonce pool verify with the
// standard library, on random keys and messages and on edge inputs, and
// only for their own key and message.
func TestSignRandomVerifies(t *testing.T) {
	msgs := [][]byte{nil, {}, {0}, bytes.Repeat([]byte{0xff}, 64), bytes.Repeat([]byte{7}, 128), make([]byte, 1<<16)}
	for range 50 {
		m := make([]byte, 1+len(msgs)%300)
		rand.Read(m)
		msgs = append(msgs, m)
	}
	other := randomKey(t)
	long := make([]byte, 1<<20)
	rand.Read(long)
	if k := randomKey(t); !ed25519.Verify(k.ID().Bytes(), long, k.SignRandom(long)) {
		t.Fatal("SignRandom of 1 MiB does not verify")
	}
	for range 5 {
		k := randomKey(t)
		for _, m := range msgs {
			sig := k.SignRandom(m)
			if !ed25519.Verify(k.ID().Bytes(), m, sig) {
				t.Fatalf("SignRandom of %d bytes does not verify", len(m))
			}
			if !k.ID().Verify(m, sig) {
				t.Fatalf("ID.Verify refuses SignRandom of %d bytes", len(m))
			}
			if ed25519.Verify(other.ID().Bytes(), m, sig) {
				t.Fatal("a signature verifies under another key")
			}
			bad := append(bytes.Clone(m), 1)
			if ed25519.Verify(k.ID().Bytes(), bad, sig) {
				t.Fatal("a signature verifies for another message")
			}
		}
	}
}

// TestSignRandomNoncesNeverRepeat: many signatures of one key, from
// concurrent callers, and of the same message, all verify and all have a
// different R (R = r·B, so a repeated nonce would repeat R).
func TestSignRandomNoncesNeverRepeat(t *testing.T) {
	k := randomKey(t)
	msg := []byte("the same message every time")
	const callers, each = 4, 250
	var mu sync.Mutex
	seen := make(map[[32]byte]bool, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				sig := k.SignRandom(msg)
				if !ed25519.Verify(k.ID().Bytes(), msg, sig) {
					t.Error("SignRandom does not verify")
					return
				}
				mu.Lock()
				if seen[[32]byte(sig[:32])] {
					t.Error("a nonce was used twice")
				}
				seen[[32]byte(sig[:32])] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != callers*each {
		t.Fatalf("%d distinct nonces for %d signatures", len(seen), callers*each)
	}
}

// TestSignRandomPoolBounded: the pool fills to nonceCap and no further,
// its goroutine ends when it is full, and it is not refilled while it
// holds more than nonceCap-nonceBatch.
func TestSignRandomPoolBounded(t *testing.T) {
	k := randomKey(t)
	for range 3 * nonceCap {
		k.SignRandom([]byte("x"))
	}
	// The last fill may have ended before the last signatures took from
	// the pool: it holds between the threshold and the cap.
	if n := settled(t, k); n <= nonceCap-nonceBatch || n > nonceCap {
		t.Fatalf("pool settled at %d nonces, want (%d, %d]", n, nonceCap-nonceBatch, nonceCap)
	}
	// Taken down to the threshold, with nothing taking meanwhile, it
	// fills to the cap exactly.
	for {
		k.pre.mu.Lock()
		n := len(k.pre.pool)
		k.pre.mu.Unlock()
		if n <= nonceCap-nonceBatch {
			break
		}
		k.SignRandom([]byte("y"))
	}
	if n := settled(t, k); n != nonceCap {
		t.Fatalf("pool stopped filling at %d nonces, want %d", n, nonceCap)
	}
}

// settled waits until k's pool is not filling and returns its size,
// failing if it ever holds more than nonceCap.
func settled(t *testing.T, k *Key) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.pre.mu.Lock()
		n, filling := len(k.pre.pool), k.pre.filling
		k.pre.mu.Unlock()
		if n > nonceCap {
			t.Fatalf("pool holds %d nonces, at most %d", n, nonceCap)
		}
		if !filling {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool is still filling after 10 s")
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
}

// TestSignStaysDeterministic: Sign is RFC 8032's, unchanged by the pool.
func TestSignStaysDeterministic(t *testing.T) {
	k := randomKey(t)
	k.SignRandom([]byte("start the pool"))
	msg := []byte("head")
	want := ed25519.Sign(ed25519.NewKeyFromSeed(k.seed[:]), msg)
	if got := k.Sign(msg); !bytes.Equal(got, want) {
		t.Fatalf("Sign = %x, want %x", got, want)
	}
}

func BenchmarkSign(b *testing.B) {
	k := randomKey(b)
	msg := make([]byte, 94) // a head's signed bytes
	b.Run("ed25519", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k.Sign(msg)
		}
	})
	b.Run("presigned", func(b *testing.B) {
		// The caller's path when the pool has a nonce ready.
		k.SignRandom(msg)
		n := k.pre.newNonce()
		b.ReportAllocs()
		for b.Loop() {
			k.pre.signWith(n, msg)
		}
	})
	b.Run("pool-drained", func(b *testing.B) {
		// Signing back to back: bound by how fast the pool refills.
		b.ReportAllocs()
		for b.Loop() {
			k.SignRandom(msg)
		}
	})
	b.Run("nonce", func(b *testing.B) {
		k.SignRandom(msg)
		b.ReportAllocs()
		for b.Loop() {
			k.pre.newNonce()
		}
	})
	b.Run("nonce-batched", func(b *testing.B) {
		// Per nonce, as the pool's fill makes them: nonceBatch at once.
		b.ReportAllocs()
		for b.Loop() {
			k.pre.newNonces(nonceBatch, func() {})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nonceBatch), "ns/nonce")
	})
}

// TestEncodePoints: points encoded together, sharing one inversion, are
// encoded as Point.Bytes encodes each: random multiples of the base point,
// the identity, and batches of every size from 1 to 9.
func TestEncodePoints(t *testing.T) {
	for k := 1; k <= 9; k++ {
		points := make([]edwards25519.Point, k)
		for i := range points {
			var b [64]byte
			rand.Read(b[:])
			var s edwards25519.Scalar
			if _, err := s.SetUniformBytes(b[:]); err != nil {
				t.Fatal(err)
			}
			points[i].ScalarBaseMult(&s)
			if i == k/2 {
				points[i].Set(edwards25519.NewIdentityPoint())
			}
			if i == k-1 && k > 2 { // a point not from ScalarBaseMult's path, with Z ≠ 1
				points[i].Add(&points[0], &points[1])
			}
		}
		seen := 0
		encodePoints(points, func(i int, enc []byte) {
			seen++
			if want := points[i].Bytes(); !bytes.Equal(enc, want) {
				t.Errorf("batch of %d, point %d: %x, want %x", k, i, enc, want)
			}
		})
		if seen != k {
			t.Fatalf("batch of %d: %d encoded", k, seen)
		}
	}
}
