package peerio

import (
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func TestHandshakeRefusesTampering(t *testing.T) {
	ana, bob := identity.New(identity.Seed{1}), identity.New(identity.Seed{2})
	mallory := identity.New(identity.Seed{3})
	o, msg, err := newOffer(ana, bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEnvelope(msg)
	if err != nil {
		t.Fatal(err)
	}
	// The relay swaps Ana's ephemeral key: the signature no longer holds.
	bad := *e
	bad.Eph = append([]byte(nil), e.Eph...)
	bad.Eph[0] ^= 1
	if _, _, err := answerOffer(bob, ana.ID(), &bad); err == nil {
		t.Fatal("an offer with a swapped key was answered")
	}
	// Mallory claims to be Ana.
	if _, _, err := answerOffer(bob, mallory.ID(), e); err == nil {
		t.Fatal("an offer was taken as Mallory's")
	}
	answer, kb, err := answerOffer(bob, ana.ID(), e)
	if err != nil {
		t.Fatal(err)
	}
	ae, _ := decodeEnvelope(answer)
	badA := *ae
	badA.Eph = append([]byte(nil), ae.Eph...)
	badA.Eph[5] ^= 1
	if _, err := o.finish(ana, bob.ID(), &badA); err == nil {
		t.Fatal("an answer with a swapped key was accepted")
	}
	ka, err := o.finish(ana, bob.ID(), ae)
	if err != nil {
		t.Fatal(err)
	}
	// Both ends agree on the keys: what Ana seals, Bob opens.
	sealed := ka.send.aead.Seal(nil, nonce(0), []byte("secret"), o.sid[:])
	if plain, err := kb.recv.aead.Open(nil, nonce(0), sealed, o.sid[:]); err != nil || string(plain) != "secret" {
		t.Fatalf("keys disagree: %v", err)
	}
	sealed[3] ^= 1
	if _, err := kb.recv.aead.Open(nil, nonce(0), sealed, o.sid[:]); err == nil {
		t.Fatal("a tampered frame opened")
	}
}

// TestHandshakeRefusesBadKey: a peer that signs an ephemeral key of small
// order (its secret would be all zeros) or one off the curve gets no port.
func TestHandshakeRefusesBadKey(t *testing.T) {
	ana, bob := identity.New(identity.Seed{1}), identity.New(identity.Seed{2})
	twist := make([]byte, 32)
	twist[0] = 2 // u = 2 is on Curve25519's twist
	for _, eph := range [][]byte{make([]byte, 32), twist} {
		sid := make([]byte, sidSize)
		e := &envelope{T: envOffer, SID: sid, Eph: eph, Sig: ana.Sign(offerBytes(ana.ID(), bob.ID(), sid, eph))}
		if _, _, err := answerOffer(bob, ana.ID(), e); !errors.Is(err, ErrHandshake) {
			t.Errorf("offer of key %x answered: %v", eph, err)
		}
	}
}

// TestEnvelopeShapes: each envelope type has its shape, anything else is
// refused as malformed; a busy carries a session id and nothing else.
func TestEnvelopeShapes(t *testing.T) {
	ana, bob := identity.New(identity.Seed{1}), identity.New(identity.Seed{2})
	_, offerMsg, err := newOffer(ana, bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEnvelope(offerMsg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeEnvelope(busyMsg(e.SID))
	if err != nil || b.T != envBusy || string(b.SID) != string(e.SID) {
		t.Fatalf("a busy envelope: %+v, %v", b, err)
	}
	for name, bad := range map[string]envelope{
		"busy with a key":       {T: envBusy, SID: e.SID, Eph: e.Eph, Sig: []byte{}},
		"busy with a signature": {T: envBusy, SID: e.SID, Eph: []byte{}, Sig: e.Sig},
		"busy, short sid":       {T: envBusy, SID: e.SID[:8], Eph: []byte{}, Sig: []byte{}},
		"offer without a key":   {T: envOffer, SID: e.SID, Eph: []byte{}, Sig: e.Sig},
		"answer unsigned":       {T: envAnswer, SID: e.SID, Eph: e.Eph, Sig: []byte{}},
		"unknown type":          {T: 4, SID: e.SID, Eph: []byte{}, Sig: []byte{}},
	} {
		msg, err := encMode.Marshal(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeEnvelope(msg); !errors.Is(err, ErrHandshake) {
			t.Errorf("%s: %v, want ErrHandshake", name, err)
		}
	}
}

// FuzzEnvelope: any bytes decode to an envelope of a known shape, or to
// ErrHandshake; never a panic.
func FuzzEnvelope(f *testing.F) {
	ana, bob := identity.New(identity.Seed{1}), identity.New(identity.Seed{2})
	_, msg, err := newOffer(ana, bob.ID())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add(busyMsg(make([]byte, sidSize)))
	f.Add([]byte{0x84, 0x03, 0x40, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("%v, want ErrHandshake", err)
			}
			return
		}
		ok := len(e.SID) == sidSize && (e.T == envBusy && len(e.Eph) == 0 && len(e.Sig) == 0 ||
			(e.T == envOffer || e.T == envAnswer) && len(e.Eph) == 32 && len(e.Sig) == identity.SignatureSize)
		if !ok {
			t.Fatalf("decoded an envelope of no known shape: %+v", e)
		}
	})
}
