package peerio

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/x25519"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// The handshake that opens a port, carried as signaling envelopes through
// the relay. Both ends prove their ids and agree on fresh keys:
//
//	offer   A → B  [1, sid (16), ephA (32), sigA]  sigA = A signs "taskmessenger/io/v1 offer\n" ‖ A ‖ B ‖ sid ‖ ephA
//	answer  B → A  [2, sid, ephB (32), sigB]       sigB = B signs "taskmessenger/io/v1 answer\n" ‖ A ‖ B ‖ sid ‖ ephA ‖ ephB
//	busy    B → A  [3, sid, h'', h'']              B refuses the offer sid: too many strangers (ErrBusy)
//
// A busy is not signed: the relay vouches for its sender, and all it does
// is end A's wait for an answer early (At returns ErrBusy, and A offers
// again later) where B would otherwise let the offer go unanswered; a
// relay that forges one could as well drop the offer. An end of an older
// build, which knows no busy, refuses it as a malformed envelope and waits
// as before.
//
// ephA and ephB are X25519 keys made for this port only (computed by
// wasm/internal/x25519, which refuses a key off the curve or of small
// order: an end that gets one answers no port). The port's two
// keys (A→B and B→A) are HKDF-SHA256 of X25519(ephA, ephB), salted with sid
// and bound to A, B, ephA and ephB: a relay that swaps a key fails a
// signature; one that replays an old offer cannot answer it (it lacks ephA's
// secret). Every frame of the port is then sealed with XChaCha20-Poly1305
// (see port.go), so the relay forwards ciphertext only. B sends no frame
// before its answer: A drops frames of a session it does not know yet, and
// a port never fills a gap.

const (
	sidSize     = 16
	offerCtx    = "taskmessenger/io/v1 offer\n"
	answerCtx   = "taskmessenger/io/v1 answer\n"
	envOffer    = 1
	envAnswer   = 2
	envBusy     = 3
	maxEnvelope = 4096
)

type sessionID [sidSize]byte

type envelope struct {
	_   struct{} `cbor:",toarray"`
	T   uint8
	SID []byte
	Eph []byte
	Sig []byte
}

var encMode, decMode = journal.Codec(16)

func decodeEnvelope(b []byte) (*envelope, error) {
	if len(b) > maxEnvelope {
		return nil, fmt.Errorf("%w: envelope of %d bytes", ErrHandshake, len(b))
	}
	var e envelope
	if err := decMode.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	switch {
	case len(e.SID) != sidSize:
	case e.T == envBusy && len(e.Eph) == 0 && len(e.Sig) == 0:
		return &e, nil
	case (e.T == envOffer || e.T == envAnswer) && len(e.Eph) == 32 && len(e.Sig) == identity.SignatureSize:
		return &e, nil
	}
	return nil, fmt.Errorf("%w: malformed envelope", ErrHandshake)
}

// busyMsg is the busy envelope refusing the offer sid.
func busyMsg(sid []byte) []byte {
	msg, err := encMode.Marshal(envelope{T: envBusy, SID: sid, Eph: []byte{}, Sig: []byte{}})
	if err != nil {
		panic("peerio: encoding a busy envelope: " + err.Error())
	}
	return msg
}

func offerBytes(a, b identity.ID, sid, ephA []byte) []byte {
	m := append([]byte(offerCtx), a[:]...)
	m = append(m, b[:]...)
	m = append(m, sid...)
	return append(m, ephA...)
}

func answerBytes(a, b identity.ID, sid, ephA, ephB []byte) []byte {
	m := append([]byte(answerCtx), a[:]...)
	m = append(m, b[:]...)
	m = append(m, sid...)
	m = append(m, ephA...)
	return append(m, ephB...)
}

// offer is an outgoing handshake waiting for its answer.
type offer struct {
	// sid, eph and msg (the encoded offer) are renewed when the offer is
	// sent again (IO.sendOffer); the relay loop's once the offer is
	// pending.
	sid  sessionID
	eph  *x25519.PrivateKey
	msg  []byte
	lost bool          // the peer went offline since it was sent; guarded by IO.mu
	done chan struct{} // closed when answered or abandoned
	port *Port         // set when answered
	err  error
}

func newOffer(self *identity.Key, peer identity.ID) (*offer, []byte, error) {
	o := &offer{done: make(chan struct{})}
	if err := o.renew(self, peer); err != nil {
		return nil, nil, err
	}
	return o, o.msg, nil
}

// renew gives o a fresh session id and key, and the message offering
// them: an answer to the former offer is then one to no offer.
func (o *offer) renew(self *identity.Key, peer identity.ID) error {
	var sid sessionID
	if _, err := rand.Read(sid[:]); err != nil {
		return err
	}
	eph, err := x25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pub := eph.PublicKey()
	sig := self.Sign(offerBytes(self.ID(), peer, sid[:], pub))
	msg, err := encMode.Marshal(envelope{T: envOffer, SID: sid[:], Eph: pub, Sig: sig})
	if err != nil {
		return err
	}
	o.sid, o.eph, o.msg = sid, eph, msg
	return nil
}

// answerOffer checks an offer from peer and returns the answer to send and
// the keys of the port.
func answerOffer(self *identity.Key, peer identity.ID, e *envelope) ([]byte, *keys, error) {
	if !peer.Verify(offerBytes(peer, self.ID(), e.SID, e.Eph), e.Sig) {
		return nil, nil, fmt.Errorf("%w: offer not signed by %s", ErrHandshake, peer.Short())
	}
	eph, err := x25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ephB := eph.PublicKey()
	sig := self.Sign(answerBytes(peer, self.ID(), e.SID, e.Eph, ephB))
	msg, err := encMode.Marshal(envelope{T: envAnswer, SID: e.SID, Eph: ephB, Sig: sig})
	if err != nil {
		return nil, nil, err
	}
	k, err := deriveKeys(eph, e.Eph, peer, self.ID(), e.SID, e.Eph, ephB, false)
	return msg, k, err
}

// finish checks the answer to o from peer and returns the port's keys.
func (o *offer) finish(self *identity.Key, peer identity.ID, e *envelope) (*keys, error) {
	ephA := o.eph.PublicKey()
	if !peer.Verify(answerBytes(self.ID(), peer, o.sid[:], ephA, e.Eph), e.Sig) {
		return nil, fmt.Errorf("%w: answer not signed by %s", ErrHandshake, peer.Short())
	}
	return deriveKeys(o.eph, e.Eph, self.ID(), peer, o.sid[:], ephA, e.Eph, true)
}

// keys are a port's two sealing directions.
type keys struct {
	send, recv cipherState
}

// cipherState seals or opens one direction; count is the next frame's
// number, which is also its nonce, so frames must arrive in order.
type cipherState struct {
	aead  cipher.AEAD
	count uint64
}

func deriveKeys(own *x25519.PrivateKey, peerEph []byte, a, b identity.ID, sid, ephA, ephB []byte, initiator bool) (*keys, error) {
	shared, err := own.ECDH(peerEph)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	info := append(append(append(append([]byte("taskmessenger/io/v1 keys\n"), a[:]...), b[:]...), ephA...), ephB...)
	okm, err := hkdf.Key(sha256.New, shared, sid, string(info), 2*chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	ab, ba := okm[:32], okm[32:]
	if !initiator {
		ab, ba = ba, ab
	}
	k := &keys{}
	if k.send.aead, err = chacha20poly1305.NewX(ab); err != nil {
		return nil, err
	}
	if k.recv.aead, err = chacha20poly1305.NewX(ba); err != nil {
		return nil, err
	}
	return k, nil
}

// nonce is the frame counter, big endian, in a 24-byte XChaCha20 nonce.
func nonce(count uint64) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(n[len(n)-8:], count)
	return n
}
