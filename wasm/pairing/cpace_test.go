package pairing

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCPaceVectors checks the generator, the points, K and the ISK against
// the ristretto255/SHA-512 test vectors of draft-irtf-cfrg-cpace.
func TestCPaceVectors(t *testing.T) {
	prs := []byte("Password")
	ci := unhex(t, "0b415f696e69746961746f720b425f726573706f6e646572")
	sid := unhex(t, "7e4b4791d6a8ef019b936c79fb7f2c57")
	g := generator(prs, ci, sid)
	if got, want := g.Encode(nil), unhex(t, "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56"); !bytes.Equal(got, want) {
		t.Fatalf("generator %x, want %x", got, want)
	}
	side := func(y, wantY string) *cpace {
		var s ristretto255.Scalar
		if err := s.Decode(unhex(t, y)); err != nil {
			t.Fatal(err)
		}
		c := &cpace{y: &s, sid: sid}
		ristretto255.NewElement().ScalarMult(&s, g).Encode(c.own[:0])
		if want := unhex(t, wantY); !bytes.Equal(c.own[:], want) {
			t.Fatalf("Y = %x, want %x", c.own, want)
		}
		return c
	}
	a := side("da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08", "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157")
	b := side("d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d", "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258")
	ka, err := a.shared(b.own[:])
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.shared(a.own[:])
	if err != nil {
		t.Fatal(err)
	}
	wantK := unhex(t, "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f")
	if !bytes.Equal(ka, wantK) || !bytes.Equal(kb, wantK) {
		t.Fatalf("K = %x and %x, want %x", ka, kb, wantK)
	}
	got := isk(sid, ka, a.own[:], []byte("ADa"), b.own[:], []byte("ADb"))
	want := unhex(t, `b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc
		ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447`)
	if !bytes.Equal(got, want) {
		t.Fatalf("ISK %x, want %x", got, want)
	}
}

// TestSharedRejects: scalar_mult_vfy refuses the identity and encodings
// that are not canonical ristretto255 points.
func TestSharedRejects(t *testing.T) {
	c, err := newCPace([]byte("pw"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{
		make([]byte, 32),                       // the identity
		bytes.Repeat([]byte{0xff}, 32),         // not canonical
		append([]byte{1}, make([]byte, 31)...), // negative field element
		c.own[:31],
	} {
		if _, err := c.shared(p); err == nil {
			t.Errorf("point %x accepted", p)
		}
	}
}
