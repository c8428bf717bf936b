// Package pairing links a new device to a person over the relay, bound to
// a code the person copies from a device they already use, so that the
// relay, which carries every byte, cannot link a device of its own nor
// read or change what the two exchange.
//
// The showing device makes an Offer (NewOffer) and shows its Code; the new
// device reads it (ParseCode), derives the rendezvous key's id
// (Code.Rendezvous) and dials it; the showing device is online with that
// key as a second relay peer and runs Offer.Serve on each port that
// arrives. The new device runs Claim on its port. Both take the port's
// authenticated ids: the new device's key and the rendezvous id.
//
// # Codes
//
//	tml1-xxxx-xxxx-xxxx-xxxx
//
// "tml1" (the version), then 10 bytes in z-base-32 (the alphabet of peer
// ids, ybndrfg8ejkmcpqxot1uwisza345h769: no 0, 2, l or v), 16 characters
// in 4 groups of 4. Bytes 0–4 are the rendezvous half, bytes 5–9 the
// secret half. The rendezvous key is the ed25519 key of the seed
// HKDF-SHA256(secret = rendezvous half, salt =
// "taskmessenger/pairing/rendezvous/v1", info = "", 32 bytes).
// ParseCode lower-cases, drops spaces, dashes and line breaks, reads at
// most MaxCodeInput bytes, and says what is wrong: the prefix (a recovery
// code, another version), a character outside the alphabet (with its
// position in the text), a missing or extra character.
//
// A code has no check bits: its 80 bits are all key, and the format has
// no room for more. A typo in the first half names a rendezvous where no
// device waits (the dial finds nobody); a typo in the second half is a
// wrong code, found at the first answer, and uses one of the offer's
// MaxFailures tries. Claim's ErrWrongCode says to look for a typo.
//
// # Messages
//
// Every message is one port message, deterministic CBOR (fxamacker/cbor,
// the project's decoding limits), an array [version, type, fields…] with
// version 1. A: the new device (CPace's initiator). B: the showing device
// (the responder).
//
//	type  name     fields                         from
//	1     hello    [sid (16 bytes), Ya (32)]      A
//	2     reply    [Yb (32), Tb (64)]             B
//	3     confirm  [Ta (64), sealed request]      A
//	4     chunk    [index, total, sealed chunk]   B
//	5     ack      [index]                        A
//	6     refuse   [reason, text]                 either
//
// Byte strings are CBOR byte strings, index, total and reason unsigned
// integers, text a text string of at most MaxText bytes. A message to B is
// at most 1 KiB (B's port is a stranger's: peerio.MaxStrangerBuffer); to A
// at most ChunkSize + 1 KiB. Anything else, a field of another size, or a
// message of another type than the one expected ends the exchange with
// ErrProtocol, answered (if it can be) by a refusal that says why.
//
// Refusal reasons: 1 wrong code (a tag did not match), 2 expired, 3 used
// (a device was linked with the code), 4 too many tries (MaxFailures), 5
// refused (after confirmation; text says why: a request for a key that
// is not the port's peer, a bad label, grant's error), 6 protocol error
// (text says what). Claim returns them as ErrWrongCode, ErrExpired,
// ErrCodeSpent (3 and 4), ErrRefused, ErrProtocol.
//
// # The exchange
//
// CPace (draft-irtf-cfrg-cpace) over ristretto255 with SHA-512, in the
// initiator-responder setting:
//
//	PRS  = the secret half (5 bytes)
//	CI   = lv_cat(A's id, B's id)  (the port's authenticated keys, 32 bytes each)
//	sid  = 16 random bytes A picks for this run and sends in hello
//	ADa  = "tml1 claim", ADb = "tml1 offer"
//	G    = ristretto255 one-way map of SHA-512(lv_cat("CPaceRistretto255",
//	       PRS, zero_bytes(128-1-len(prepend_len(PRS))-len(prepend_len(DSI))), CI, sid))
//	Ya   = ya·G, Yb = yb·G  (ya, yb: random scalars, from 64 random bytes)
//	K    = ya·Yb = yb·Ya  (a received point must be a canonical encoding,
//	       and K not the identity, or the exchange ends with ErrProtocol)
//	ISK  = SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) ‖ lv_cat(Ya, ADa) ‖ lv_cat(Yb, ADb))
//
// lv_cat prefixes each part with its length in LEB128 (prepend_len).
// TestCPaceVectors checks G, Ya, Yb, K and ISK against the draft's
// vectors. Key confirmation, as the draft recommends:
//
//	mac_key = SHA-512("CPaceMac" ‖ sid ‖ ISK)
//	Ta = HMAC-SHA-512(mac_key, lv_cat(Ya, ADa)), Tb = HMAC-SHA-512(mac_key, lv_cat(Yb, ADb))
//
// and two sealing keys, HKDF-SHA-512(secret = ISK, no salt, info =
// "taskmessenger/pairing/v1 seal claim" (A → B) or "taskmessenger/pairing/v1 seal offer" (B →
// A), 32 bytes), used with XChaCha20-Poly1305, nonce = 16 zero bytes ‖
// counter (8 bytes, big endian).
//
// The flow:
//
//  1. A sends hello. B refuses (expired, used, too many tries) or takes a
//     try and sends reply.
//  2. A checks Tb: if it does not match, A refuses "wrong code" and Claim
//     returns ErrWrongCode. Otherwise A sends confirm, whose request is
//     CBOR [device key (32 bytes), label] sealed with the claim key,
//     counter 0, additional data "taskmessenger/pairing/v1 request" (at
//     most 256 bytes sealed).
//  3. B checks Ta: if it does not match, B refuses "wrong code". If it
//     does, the offer is spent, whatever follows. B opens the request,
//     refuses a device key other than the port's peer or a bad label
//     (device.CheckLabel), and calls grant.
//  4. B sends the bundle (at most MaxBundle) in chunks of ChunkSize bytes
//     (an empty bundle is one empty chunk), chunk i sealed with the offer
//     key, counter i, additional data "taskmessenger/pairing/v1 chunk" ‖
//     i (8 bytes) ‖ total (8 bytes, big endian); at most Window chunks
//     ahead of A's acks. A checks every chunk's index and total and acks
//     each; Serve returns once the last is acked.
//
// # Tries
//
// A try is a reply sent: whoever sent the hello can then test one guess of
// the secret half against Tb, so a try counts as failed unless its Ta
// matches, including when A leaves. An offer takes no hello once
// MaxFailures tries failed or are under way, once a try was confirmed,
// or after Expires (Lifetime after NewOffer). A hello that breaks the
// protocol (before any reply) costs no try. So whoever knows the
// rendezvous half (or the relay, which may drop anything anyway) can spend
// a code by trying it: a denial, never a link.
//
// The ids in CI bind the key to the port: a party that carries the
// messages between two ports of its own (the relay, or anyone who found
// the rendezvous key) makes A and B compute different generators, so
// their tags never match (TestManInTheMiddle). The request's device key
// must also be the port's peer.
package pairing
