package bookverify

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// A reader reads the subset of CBOR (RFC 8949) the formats use: unsigned
// integers, byte and text strings, arrays of definite length, null. It
// refuses everything else (maps, tags, floats, indefinite lengths).
type reader struct {
	b   []byte
	off int
}

// CBOR major types used.
const (
	majorUint  = 0
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorOther = 7 // simple values: only null (0xf6) is used
)

const cborNull = 0xf6

var errTruncated = errors.New("truncated")

// head reads an item's initial byte and argument. It refuses non-shortest
// arguments: every format here is encoded deterministically.
func (r *reader) head() (major byte, arg uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	major, info := c>>5, c&0x1f
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info > 27:
		return 0, 0, fmt.Errorf("item 0x%02x: indefinite length or reserved", c)
	}
	n := 1 << (info - 24)
	if len(r.b)-r.off < n {
		return 0, 0, errTruncated
	}
	for _, x := range r.b[r.off : r.off+n] {
		arg = arg<<8 | uint64(x)
	}
	r.off += n
	if min := [...]uint64{24, 1 << 8, 1 << 16, 1 << 32}[info-24]; arg < min {
		return 0, 0, fmt.Errorf("item 0x%02x: argument %d not in its shortest form", c, arg)
	}
	return major, arg, nil
}

func (r *reader) expect(want byte, what string) (uint64, error) {
	major, arg, err := r.head()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if major != want {
		return 0, fmt.Errorf("%s: CBOR major type %d, want %d", what, major, want)
	}
	return arg, nil
}

func (r *reader) uint(what string) (uint64, error) { return r.expect(majorUint, what) }

func (r *reader) array(what string) (uint64, error) { return r.expect(majorArray, what) }

// bytes reads a byte string; size, if not negative, is its required length.
func (r *reader) bytes(what string, size int) ([]byte, error) {
	n, err := r.expect(majorBytes, what)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%s: %w", what, errTruncated)
	}
	if size >= 0 && n != uint64(size) {
		return nil, fmt.Errorf("%s: %d bytes, want %d", what, n, size)
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v, nil
}

func (r *reader) text(what string) (string, error) {
	n, err := r.expect(majorText, what)
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.b)-r.off) {
		return "", fmt.Errorf("%s: %w", what, errTruncated)
	}
	v := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("%s: not UTF-8", what)
	}
	return v, nil
}

// null reads a null if one is next.
func (r *reader) null() bool {
	if r.off < len(r.b) && r.b[r.off] == cborNull {
		r.off++
		return true
	}
	return false
}

// hashes reads an array of 32-byte hashes of at most max elements.
func (r *reader) hashes(what string, max int) ([][32]byte, error) {
	n, err := r.array(what)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%s: %d hashes, at most %d", what, n, max)
	}
	out := make([][32]byte, n)
	for i := range out {
		h, err := r.bytes(what, 32)
		if err != nil {
			return nil, err
		}
		out[i] = [32]byte(h)
	}
	return out, nil
}

func (r *reader) end(what string) error {
	if r.off != len(r.b) {
		return fmt.Errorf("%s: %d trailing bytes", what, len(r.b)-r.off)
	}
	return nil
}

// appendHead appends a CBOR item head in its shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n < 1<<8:
		return append(b, m|24, byte(n))
	case n < 1<<16:
		return append(b, m|25, byte(n>>8), byte(n))
	case n < 1<<32:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, m|27)
	for s := 56; s >= 0; s -= 8 {
		b = append(b, byte(n>>s))
	}
	return b
}
