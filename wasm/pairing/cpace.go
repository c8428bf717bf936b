package pairing

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"fmt"

	"github.com/gtank/ristretto255"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// CPace over ristretto255 with SHA-512, as draft-irtf-cfrg-cpace defines
// it (generator_string, calculate_generator, scalar_mult_vfy, the
// initiator-responder transcript and the ISK), then our key schedule and
// confirmation tags. The claimant is the initiator (A), the showing device
// the responder (B).
const (
	dsi       = "CPaceRistretto255"
	dsiISK    = dsi + "_ISK"
	hashBlock = 128 // SHA-512's s_in_bytes
	pointSize = 32
	sidSize   = 16
	tagSize   = sha512.Size
	keySize   = 32

	adClaim = "tml1 claim" // ADa
	adOffer = "tml1 offer" // ADb

	keyContext = "taskmessenger/pairing/v1 "
)

// prependLen is the draft's prepend_len: LEB128 length, then data.
func prependLen(b []byte, data []byte) []byte {
	n := len(data)
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	b = append(b, byte(n))
	return append(b, data...)
}

// lvCat is the draft's lv_cat.
func lvCat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = prependLen(b, p)
	}
	return b
}

// channelID is CI: both ends' authenticated peer ids, claimant first.
func channelID(claimant, offerer identity.ID) []byte {
	return lvCat(claimant[:], offerer[:])
}

// generator is calculate_generator(PRS, CI, sid).
func generator(prs, ci, sid []byte) *ristretto255.Element {
	zpad := max(0, hashBlock-1-len(prependLen(nil, prs))-len(prependLen(nil, []byte(dsi))))
	h := sha512.Sum512(lvCat([]byte(dsi), prs, make([]byte, zpad), ci, sid))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// cpace is one side's state of the exchange.
type cpace struct {
	y   *ristretto255.Scalar
	own [pointSize]byte // this side's Y
	sid []byte
}

// newCPace samples a scalar and computes Y = y·G.
func newCPace(prs, ci, sid []byte) (*cpace, error) {
	var r [64]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("pairing: random scalar: %w", err)
	}
	y := ristretto255.NewScalar().FromUniformBytes(r[:])
	if y.Equal(ristretto255.NewScalar()) == 1 {
		return nil, fmt.Errorf("pairing: random scalar is zero")
	}
	c := &cpace{y: y, sid: sid}
	ristretto255.NewElement().ScalarMult(y, generator(prs, ci, sid)).Encode(c.own[:0])
	return c, nil
}

// shared is scalar_mult_vfy(y, Y): the peer's Y must be a canonical
// encoding of a point that is not the identity, and so must y·Y.
func (c *cpace) shared(peer []byte) ([]byte, error) {
	if len(peer) != pointSize {
		return nil, fmt.Errorf("%w: a point of %d bytes", ErrProtocol, len(peer))
	}
	var p ristretto255.Element
	if err := p.Decode(peer); err != nil {
		return nil, fmt.Errorf("%w: not a ristretto255 point", ErrProtocol)
	}
	k := ristretto255.NewElement().ScalarMult(c.y, &p)
	if k.Equal(ristretto255.NewElement().Zero()) == 1 {
		return nil, fmt.Errorf("%w: the identity point", ErrProtocol)
	}
	return k.Encode(nil), nil
}

// keys are what the exchange gives both sides.
type keys struct {
	offerTag, claimTag []byte // Tb and Ta
	claimSeal          []byte // A → B: the request
	offerSeal          []byte // B → A: the bundle
}

// isk is the draft's ISK for the initiator-responder transcript.
func isk(sid, k, ya, ada, yb, adb []byte) []byte {
	transcript := append(lvCat(ya, ada), lvCat(yb, adb)...)
	h := sha512.Sum512(append(lvCat([]byte(dsiISK), sid, k), transcript...))
	return h[:]
}

// schedule derives the ISK from the shared point K and the points, then
// the draft's confirmation tags (mac_key = SHA-512("CPaceMac" ‖ sid ‖
// ISK), Ta = HMAC-SHA-512(mac_key, lv_cat(Ya, ADa)), Tb likewise) and the
// sealing keys (HKDF-SHA-512 of the ISK).
func schedule(sid, k, ya, yb []byte) keys {
	key := isk(sid, k, ya, []byte(adClaim), yb, []byte(adOffer))
	macKey := sha512.Sum512(append(append([]byte("CPaceMac"), sid...), key...))
	tag := func(y []byte, ad string) []byte {
		m := hmac.New(sha512.New, macKey[:])
		m.Write(lvCat(y, []byte(ad)))
		return m.Sum(nil)
	}
	derive := func(name string) []byte {
		b, err := hkdf.Key(sha512.New, key, nil, keyContext+name, keySize)
		if err != nil {
			panic("pairing: hkdf: " + err.Error()) // only for lengths we never ask for
		}
		return b
	}
	return keys{
		claimTag:  tag(ya, adClaim),
		offerTag:  tag(yb, adOffer),
		claimSeal: derive("seal claim"),
		offerSeal: derive("seal offer"),
	}
}
