// Package cborwire writes and reads the few CBOR items (RFC 8949) the sync
// protocol's hot messages are made of — unsigned integers, byte strings,
// arrays of definite length, null — by hand, for the encoders and decoders
// that must not pay for reflection on every message (a have per append,
// thousands of pages per catch-up).
//
// The writers produce what the journal's deterministic encoder
// (journal.Codec) produces for the same values: the shortest head, a nil
// byte string as null. The readers accept definite lengths only, no tags;
// they take any width of head, as the general decoder does. Callers read
// only the canonical shape of a message this way and hand anything else to
// the general decoder, which accepts it or says why not.
package cborwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Major types.
const (
	Uint  byte = 0
	Bytes byte = 2
	Array byte = 4
)

// Null is the encoding of null.
const Null byte = 0xf6

// AppendHead appends the shortest head of an item of the major type with
// the argument n (a value, a length or a count).
func AppendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= math.MaxUint8:
		return append(dst, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), n)
}

// AppendUint appends the unsigned integer n.
func AppendUint(dst []byte, n uint64) []byte { return AppendHead(dst, Uint, n) }

// AppendBytes appends the byte string b, or null if b is nil.
func AppendBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, Null)
	}
	return append(AppendHead(dst, Bytes, uint64(len(b))), b...)
}

// ReadHead reads the head of an item of definite length: its major type,
// its argument, and what follows the head.
func ReadHead(b []byte) (major byte, arg uint64, rest []byte, err error) {
	if len(b) == 0 {
		return 0, 0, nil, errors.New("truncated")
	}
	major, info := b[0]>>5, b[0]&0x1f
	b = b[1:]
	switch {
	case info < 24:
		arg = uint64(info)
	case info <= 27:
		n := 1 << (info - 24)
		if len(b) < n {
			return 0, 0, nil, errors.New("truncated")
		}
		for _, c := range b[:n] {
			arg = arg<<8 | uint64(c)
		}
		b = b[n:]
	default:
		return 0, 0, nil, fmt.Errorf("additional information %d", info)
	}
	return major, arg, b, nil
}

// ReadUint reads an unsigned integer.
func ReadUint(b []byte) (n uint64, rest []byte, ok bool) {
	major, n, rest, err := ReadHead(b)
	return n, rest, err == nil && major == Uint
}

// readBytes reads a byte string: the bytes returned are b's, not a copy
// (callers keep a copy: ReadFixed, ReadCopy).
func readBytes(b []byte) (s, rest []byte, ok bool) {
	major, n, rest, err := ReadHead(b)
	if err != nil || major != Bytes || n > uint64(len(rest)) {
		return nil, nil, false
	}
	return rest[:n:n], rest[n:], true
}

// ReadArray reads the head of an array of at most max items (and no more
// than the bytes left could hold, one a byte at least).
func ReadArray(b []byte, max int) (n int, rest []byte, ok bool) {
	major, arg, rest, err := ReadHead(b)
	if err != nil || major != Array || arg > uint64(max) || arg > uint64(len(rest)) {
		return 0, nil, false
	}
	return int(arg), rest, true
}

// ReadFixed reads a byte string of exactly size bytes into dst.
func ReadFixed(b []byte, dst []byte) (rest []byte, ok bool) {
	s, rest, ok := readBytes(b)
	if !ok || len(s) != len(dst) {
		return nil, false
	}
	copy(dst, s)
	return rest, true
}

// ReadCopy reads a byte string into a new slice (never nil, as the general
// decoder gives it).
func ReadCopy(b []byte) (s, rest []byte, ok bool) {
	v, rest, ok := readBytes(b)
	if !ok {
		return nil, nil, false
	}
	s = make([]byte, len(v))
	copy(s, v)
	return s, rest, true
}
