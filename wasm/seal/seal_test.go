package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func testKey(t testing.TB, secret byte, book byte) *Key {
	t.Helper()
	return epochKey(t, secret, 0, book)
}

func epochKey(t testing.TB, secret byte, epoch uint32, book byte) *Key {
	t.Helper()
	s := bytes.Repeat([]byte{secret}, KeySize)
	k, err := BookKey(s, epoch, identity.New(identity.Seed{book}).ID())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testKey(t, 1, 1)
	for _, plain := range [][]byte{{}, []byte("hello"), bytes.Repeat([]byte("x"), 256<<10)} {
		sealed, err := k.Seal(7, plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(plain)+Overhead {
			t.Fatalf("sealed %d bytes into %d", len(plain), len(sealed))
		}
		if len(plain) > 0 && bytes.Contains(sealed, plain) {
			t.Fatal("the sealed page holds the plain text")
		}
		got, err := k.Open(7, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open: %v, %d bytes back of %d", err, len(got), len(plain))
		}
	}
}

// Two seals of one page differ (random nonces: a fork never reuses one).
func TestNoncesDiffer(t *testing.T) {
	k := testKey(t, 1, 1)
	a, _ := k.Seal(1, []byte("same"))
	b, _ := k.Seal(1, []byte("same"))
	if bytes.Equal(a[:header], b[:header]) {
		t.Fatal("two seals share a nonce")
	}
}

// A page opens only with its book's key, at its index, unchanged.
func TestOpenRefuses(t *testing.T) {
	k := testKey(t, 1, 1)
	sealed, _ := k.Seal(3, []byte("secret plans"))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	nonce := bytes.Clone(sealed)
	nonce[8] ^= 1
	relabelled := bytes.Clone(sealed)
	relabelled[4] = 1 // epoch 1
	for _, c := range []struct {
		name   string
		key    *Key
		index  uint64
		sealed []byte
		want   error
	}{
		{"another secret (not a member)", testKey(t, 2, 1), 3, sealed, ErrOpen},
		{"another book", testKey(t, 1, 2), 3, sealed, ErrOpen},
		{"another index", k, 4, sealed, ErrOpen},
		{"a changed byte", k, 3, flipped, ErrOpen},
		{"a changed nonce", k, 3, nonce, ErrOpen},
		{"another epoch's key", epochKey(t, 1, 1, 1), 3, sealed, ErrOpen},
		{"relabelled with another epoch", epochKey(t, 1, 1, 1), 3, relabelled, ErrOpen},
		{"too short", k, 3, sealed[:Overhead-1], ErrNotSealed},
		{"another version", k, 3, append([]byte{2}, sealed[1:]...), ErrNotSealed},
		{"plain text", k, 3, []byte(`{"head":{"by":"x"},"type":"chat","data":{"text":"not sealed at all"}}`), ErrNotSealed},
	} {
		if _, err := c.key.Open(c.index, c.sealed); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestBookKeyNeedsASecret(t *testing.T) {
	if _, err := BookKey(make([]byte, KeySize-1), 0, identity.ID{}); err == nil {
		t.Fatal("a short secret was taken")
	}
}

func TestEpoch(t *testing.T) {
	sealed, _ := epochKey(t, 1, 7, 1).Seal(0, []byte("x"))
	if e, err := Epoch(sealed); err != nil || e != 7 {
		t.Fatalf("epoch %d, %v", e, err)
	}
	if _, err := Epoch([]byte("plain")); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("epoch of a plain page: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k := testKey(f, 1, 1)
	sealed, _ := k.Seal(0, []byte("hello"))
	f.Add(uint64(0), sealed)
	f.Add(uint64(1), []byte{1})
	f.Fuzz(func(t *testing.T, index uint64, b []byte) {
		plain, err := k.Open(index, b)
		// Only a page this key sealed opens (the seed's, sealed again in each
		// fuzzing process with another nonce).
		if err == nil && (index != 0 || string(plain) != "hello") {
			t.Fatalf("opened %q at %d", plain, index)
		}
	})
}

func BenchmarkSeal1KiB(b *testing.B) {
	k := testKey(b, 1, 1)
	page := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if _, err := k.Seal(1, page); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	k := testKey(b, 1, 1)
	sealed, _ := k.Seal(1, bytes.Repeat([]byte("x"), 1024))
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := k.Open(1, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPrivateSecretStable: the secret of a profile's private books is the
// seed of its "private-pages" child key, as it was when those books were
// written.
func TestPrivateSecretStable(t *testing.T) {
	k := identity.New(identity.Seed{9})
	want := k.Derive("private-pages", "v1").Seed()
	if got := PrivateSecret(k); !bytes.Equal(got, want[:]) {
		t.Fatalf("PrivateSecret = %x, want %x", got, want)
	}
}
