// Package rfc6962 computes the hashes of an RFC 6962 Merkle tree — a
// record's leaf hash and an interior node's — exactly as
// golang.org/x/mod/sumdb/tlog's RecordHash and NodeHash do, and faster in
// the browser: there crypto/sha256 runs its generic Go code, which Go's
// wasm backend compiles to about 70 MB/s, and hashing was the largest
// item of a browser's verification of a catch-up's pages. block is that
// code with its rounds written out (gen.go), about twice as fast in V8.
// Natively RecordHash and NodeHash are tlog's own: crypto/sha256 uses the
// CPU's SHA instructions there.
//
// The results are tlog's, byte for byte, for every input
// (TestSameAsTlog, FuzzRecordHash).
package rfc6962

//go:generate go run gen.go

import (
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
)

// iv is SHA-256's initial hash value (FIPS 180-4, 5.3.3).
var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// recordHash is SHA-256(0x00 ‖ data) through block.
func recordHash(data []byte) tlog.Hash {
	h := iv
	n := uint64(len(data)) + 1
	// The first block: the prefix and data's first 63 bytes.
	var x [128]byte
	if len(data) >= 63 {
		copy(x[1:64], data)
		block(&h, x[:64])
		data = data[63:]
		full := len(data) &^ 63
		block(&h, data[:full])
		x = [128]byte{}
		return finish(&h, &x, copy(x[:], data[full:]), n)
	}
	return finish(&h, &x, 1+copy(x[1:], data), n)
}

// nodeHash is SHA-256(0x01 ‖ left ‖ right) through block.
func nodeHash(left, right tlog.Hash) tlog.Hash {
	h := iv
	var x [128]byte
	x[0] = 0x01
	copy(x[1:], left[:])
	copy(x[33:], right[:])
	return finish(&h, &x, 65, 65)
}

// finish pads the last bytes of a message of n bytes, x[:k] (k < 120,
// x zero after them), hashes them into h and returns the digest.
func finish(h *[8]uint32, x *[128]byte, k int, n uint64) tlog.Hash {
	x[k] = 0x80
	end := (k + 1 + 8 + 63) &^ 63 // the 0x80 and the length fit
	binary.BigEndian.PutUint64(x[end-8:end], n*8)
	block(h, x[:end])
	var out tlog.Hash
	for i, v := range h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}
