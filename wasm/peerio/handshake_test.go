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
