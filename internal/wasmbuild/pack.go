package wasmbuild

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// PackData rewrites a module's data section so that its active segments
// are few: segments closer than gap bytes apart become one, the zeros
// between them written out.
//
// Go's linker leaves out every run of eight or more zero bytes of the
// memory image, each as a new segment of its own (up to 100,000, the most
// browsers take): on our module that is 800 KB of segment headers whose
// offsets compress badly (1.18 MB of its 2.96 MB gzip). The zeros they
// save compress to almost nothing. Packed, the module is 1 MB larger
// raw, 6 % smaller under gzip and 5 % under brotli; the memory it sets
// up at instantiation is the same byte for byte (memory starts zeroed).
//
// Only a data section of active segments on memory 0 with i32.const
// offsets that do not overlap, in a module without a data count section,
// is rewritten (what Go's linker writes); anything else is an error and
// the module is left to the caller as is.
func PackData(module []byte, gap int) ([]byte, error) {
	secs, err := Sections(module)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(make([]byte, 0, len(module)+len(module)/8))
	out.Write(module[:8])
	found := false
	for _, s := range secs {
		if s.ID == secDataCount {
			return nil, errors.New("wasmbuild: a data count section (the segments' number is fixed)")
		}
		if s.ID != secData {
			out.Write(module[s.Start:s.End])
			continue
		}
		if found {
			return nil, errors.New("wasmbuild: two data sections")
		}
		found = true
		segs, err := readSegments(module[s.Body:s.End])
		if err != nil {
			return nil, err
		}
		body := writeSegments(merge(segs, gap))
		out.WriteByte(secData)
		out.Write(uleb(nil, uint64(len(body))))
		out.Write(body)
	}
	if !found {
		return nil, errors.New("wasmbuild: no data section")
	}
	return out.Bytes(), nil
}

// Section ids of the WebAssembly binary format.
const (
	secData      = 11
	secDataCount = 12
)

// A Section is where one section of a module lies: its id byte at Start,
// its contents from Body to End.
type Section struct {
	ID               byte
	Start, Body, End int
}

var errShort = errors.New("wasmbuild: truncated module")

// Sections lists the sections of a module (WebAssembly version 1), each
// checked to lie within b; it reads none of their contents.
func Sections(b []byte) ([]Section, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) || !bytes.Equal(b[4:8], []byte{1, 0, 0, 0}) {
		return nil, errors.New("wasmbuild: not a WebAssembly module (version 1)")
	}
	var out []Section
	for off := 8; off < len(b); {
		s := Section{ID: b[off], Start: off}
		n, k := readUleb(b[off+1:])
		if k == 0 || n > uint64(len(b)) {
			return nil, errShort
		}
		s.Body = off + 1 + k
		if uint64(len(b)-s.Body) < n {
			return nil, errShort
		}
		s.End = s.Body + int(n)
		out = append(out, s)
		off = s.End
	}
	return out, nil
}

// A segment is an active data segment: data written at offset.
type segment struct {
	offset uint32
	data   []byte
}

// end is the offset just past the segment.
func (s segment) end() uint64 { return uint64(s.offset) + uint64(len(s.data)) }

// readSegments reads a data section's segments.
func readSegments(b []byte) ([]segment, error) {
	count, k := readUleb(b)
	if k == 0 {
		return nil, errShort
	}
	b = b[k:]
	if count > uint64(len(b))/5 { // each takes at least 5 bytes: flag, i32.const, offset, end, size
		return nil, fmt.Errorf("wasmbuild: %d data segments in %d bytes", count, len(b))
	}
	segs := make([]segment, 0, count)
	for range count {
		// Active, memory 0 (flag 0), offset an i32.const expression.
		if len(b) < 2 || b[0] != 0 || b[1] != 0x41 {
			return nil, errors.New("wasmbuild: a data segment that is not active on memory 0 at an i32.const offset")
		}
		off, k := readSleb32(b[2:])
		if k == 0 || off < 0 {
			return nil, errors.New("wasmbuild: bad data segment offset")
		}
		b = b[2+k:]
		if len(b) < 1 || b[0] != 0x0b {
			return nil, errors.New("wasmbuild: data segment offset expression not a lone i32.const")
		}
		n, k := readUleb(b[1:])
		if k == 0 || uint64(len(b)-1-k) < n {
			return nil, errShort
		}
		b = b[1+k:]
		segs = append(segs, segment{offset: uint32(off), data: b[:n]})
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("wasmbuild: %d bytes after the data segments", len(b))
	}
	slices.SortStableFunc(segs, func(x, y segment) int { return cmp.Compare(x.offset, y.offset) })
	for i := 1; i < len(segs); i++ {
		if segs[i-1].end() > uint64(segs[i].offset) {
			return nil, fmt.Errorf("wasmbuild: data segments overlap at %d", segs[i].offset)
		}
	}
	return segs, nil
}

// merge joins segments, sorted and apart, fewer than gap bytes apart:
// each run of them is copied once into a buffer of its own.
func merge(segs []segment, gap int) []segment {
	var out []segment
	for i := 0; i < len(segs); {
		first, end := segs[i].offset, segs[i].end()
		j := i + 1
		for j < len(segs) && uint64(segs[j].offset)-end < uint64(gap) {
			end = segs[j].end()
			j++
		}
		if j == i+1 {
			out = append(out, segs[i])
		} else {
			data := make([]byte, end-uint64(first))
			for _, s := range segs[i:j] {
				copy(data[s.offset-first:], s.data)
			}
			out = append(out, segment{offset: first, data: data})
		}
		i = j
	}
	return out
}

// writeSegments encodes a data section's contents.
func writeSegments(segs []segment) []byte {
	size := 8
	for _, s := range segs {
		size += 16 + len(s.data)
	}
	b := uleb(make([]byte, 0, size), uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0, 0x41)
		b = sleb(b, int64(s.offset))
		b = append(b, 0x0b)
		b = uleb(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

// readUleb reads an unsigned LEB128 of at most 64 bits; k is 0 if b does
// not start with one.
func readUleb(b []byte) (v uint64, k int) {
	for shift := 0; k < len(b) && shift < 64; shift += 7 {
		c := b[k]
		k++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, k
		}
	}
	return 0, 0
}

// readSleb32 reads a signed LEB128 of at most 32 bits (5 bytes); k is 0
// if b does not start with one.
func readSleb32(b []byte) (v int64, k int) {
	var shift uint
	for k < len(b) && k < 5 {
		c := b[k]
		k++
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				v |= -1 << shift
			}
			if v != int64(int32(v)) {
				return 0, 0
			}
			return v, k
		}
	}
	return 0, 0
}

func uleb(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
