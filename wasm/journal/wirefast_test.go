package journal

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// wireLengths are integers at each width of a CBOR head and around it.
var wireLengths = []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, MaxLength, MaxLength + 1}

// randomHash returns a hash of random bytes.
func randomHash(r *rand.Rand) (h Hash) {
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

// randomUpgrades returns upgrades over every width of every integer and
// proof sizes from none to MaxProofHashes, with and without a signature.
func randomUpgrades(r *rand.Rand) []Upgrade {
	var ups []Upgrade
	for i, n := range wireLengths {
		u := Upgrade{Head: Head{Key: identity.ID(randomHash(r)), Length: n, Root: randomHash(r), Sig: bytes.Repeat([]byte{byte(i)}, 64)},
			From: wireLengths[(i+5)%len(wireLengths)], FromRoot: randomHash(r)}
		for range []int{0, 1, 2, 23, 24, 25, MaxProofHashes, MaxProofHashes + 1}[i%8] {
			u.Proof = append(u.Proof, randomHash(r))
		}
		if i == 3 {
			u.Head.Sig = nil
		}
		ups = append(ups, u)
	}
	return ups
}

// TestWireFastSameBytes: heads, upgrades and range proofs written by hand
// are the bytes the general encoder writes for their wire structs, and
// read back by hand to what was written when the general decoder accepts
// them, or not at all when it refuses them.
func TestWireFastSameBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, u := range randomUpgrades(r) {
		want, err := encMode.Marshal(wireUpgrade{Head: u.Head.wire(), From: u.From, FromRoot: u.FromRoot[:], Proof: hashesToWire(u.Proof)})
		if err != nil {
			t.Fatal(err)
		}
		got := AppendUpgrade(nil, &u)
		if !bytes.Equal(got, want) {
			t.Fatalf("upgrade of length %d, %d hashes: by hand %x, general %x", u.Head.Length, len(u.Proof), got, want)
		}
		if hb, err := encMode.Marshal(u.Head.wire()); err != nil || !bytes.Equal(appendHead(nil, &u.Head), hb) {
			t.Fatalf("head of length %d: by hand %x, general %x (%v)", u.Head.Length, appendHead(nil, &u.Head), hb, err)
		}
		sameUpgrade(t, got)

		p := RangeProof{Left: u.Proof[:len(u.Proof)/2], Tree: u.Proof[len(u.Proof)/2:]}
		if len(p.Left) == 0 {
			p.Left = nil
		}
		want, err = encMode.Marshal(wireRangeProof{Left: hashesToWire(p.Left), Tree: hashesToWire(p.Tree)})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendRangeProof(nil, &p); !bytes.Equal(got, want) {
			t.Fatalf("range proof of %d hashes: by hand %x, general %x", p.Size(), got, want)
		}
		sameRangeProof(t, want)
	}
}

// sameAsGeneral checks that b read by hand, if it is read, is what the
// general decoder reads, and that what the general decoder reads is read
// by hand when it is in the form written by hand.
func sameAsGeneral[T any](t testing.TB, what string, b []byte, read func([]byte) (T, []byte, bool), general func([]byte) (T, error), write func([]byte, *T) []byte) {
	fast, rest, ok := read(b)
	got, err := general(b)
	if ok && len(rest) == 0 {
		if err != nil || !reflect.DeepEqual(fast, got) {
			t.Fatalf("%s %x: by hand %+v, general %+v (%v)", what, b, fast, got, err)
		}
		return
	}
	if err == nil && bytes.Equal(write(nil, &got), b) {
		t.Fatalf("%s %x: the general decoder reads it, not by hand", what, b)
	}
}

// sameUpgrade is sameAsGeneral for upgrades and the heads in them.
func sameUpgrade(t testing.TB, b []byte) {
	sameAsGeneral(t, "upgrade", b, ReadUpgrade, decodeUpgrade, AppendUpgrade)
	sameAsGeneral(t, "head", b, readHead, decodeHead, appendHead)
}

// sameRangeProof is sameAsGeneral for range proofs.
func sameRangeProof(t testing.TB, b []byte) {
	sameAsGeneral(t, "range proof", b, ReadRangeProof, decodeRangeProof, AppendRangeProof)
}

// FuzzWireFast: whatever the hand-written readers accept, the general
// decoder accepts as the same value.
func FuzzWireFast(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, u := range randomUpgrades(r)[:6] {
		u.Proof = u.Proof[:min(len(u.Proof), 3)]
		f.Add(AppendUpgrade(nil, &u))
		f.Add(appendHead(nil, &u.Head))
		f.Add(AppendRangeProof(nil, &RangeProof{Left: u.Proof, Tree: u.Proof[:len(u.Proof)/2]}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameUpgrade(t, b)
		sameRangeProof(t, b)
	})
}
