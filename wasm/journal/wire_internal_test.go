package journal

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// TestHeadsEncodedInPlace: an upgrade and a fork encode their heads in
// place, byte for byte as a Head encodes alone, and decode back to what
// was encoded; a head of the wrong size inside them is refused.
func TestHeadsEncodedInPlace(t *testing.T) {
	head := func(n byte) Head {
		return Head{Key: [32]byte{n}, Length: uint64(n) * 1000, Root: Hash{n, 1}, Sig: bytes.Repeat([]byte{n}, 64)}
	}
	old, cur := head(3), head(5)
	up := Upgrade{Head: cur, From: 3000, FromRoot: Hash{9}, Proof: []Hash{{1}, {2}}}
	fork := Fork{Old: old, New: cur, FromRoot: Hash{8}, Proof: []Hash{{4}}}
	alone := func(h Head) []byte {
		b, err := h.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ub, err := up.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	fb, err := fork.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	var uparts, fparts []cbor.RawMessage
	if err := decMode.Unmarshal(ub, &uparts); err != nil || len(uparts) != 4 {
		t.Fatalf("upgrade: %d parts, %v", len(uparts), err)
	}
	if err := decMode.Unmarshal(fb, &fparts); err != nil || len(fparts) != 4 {
		t.Fatalf("fork: %d parts, %v", len(fparts), err)
	}
	if !bytes.Equal(uparts[0], alone(cur)) || !bytes.Equal(fparts[0], alone(old)) || !bytes.Equal(fparts[1], alone(cur)) {
		t.Fatal("a head inside an upgrade or a fork is not encoded as alone")
	}
	var gotUp Upgrade
	if err := gotUp.UnmarshalCBOR(ub); err != nil || !reflect.DeepEqual(gotUp, up) {
		t.Fatalf("upgrade round trip: %+v, %v", gotUp, err)
	}
	var gotFork Fork
	if err := gotFork.UnmarshalCBOR(fb); err != nil || !reflect.DeepEqual(gotFork, fork) {
		t.Fatalf("fork round trip: %+v, %v", gotFork, err)
	}
	short := cur
	short.Sig = short.Sig[:63]
	bad, err := Upgrade{Head: short, From: 1, Proof: []Hash{{1}}}.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	if err := gotUp.UnmarshalCBOR(bad); err == nil {
		t.Fatal("an upgrade whose head has a 63-byte signature decoded")
	}
	bad, err = Fork{Old: short, New: cur}.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	if err := gotFork.UnmarshalCBOR(bad); err == nil {
		t.Fatal("a fork whose old head has a 63-byte signature decoded")
	}
}
