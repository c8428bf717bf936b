package wasmbuild

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// module makes a module of a custom section, the data section of segs
// (in their order) and a trailing custom section.
func module(segs []segment) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	custom := func(name string) {
		body := append(uleb(nil, uint64(len(name))), name...)
		b = append(b, 0)
		b = uleb(b, uint64(len(body)))
		b = append(b, body...)
	}
	custom("before")
	body := writeSegments(segs)
	b = append(b, secData)
	b = uleb(b, uint64(len(body)))
	b = append(b, body...)
	custom("after")
	return b
}

// image is the memory a module's data section sets up, and its segments.
func image(t testing.TB, m []byte) ([]byte, []segment) {
	t.Helper()
	secs, err := Sections(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.ID != secData {
			continue
		}
		segs, err := readSegments(m[s.Body:s.End])
		if err != nil {
			t.Fatal(err)
		}
		var mem []byte
		for _, g := range segs {
			end := int(g.offset) + len(g.data)
			if end > 1<<24 {
				t.Skip("memory over 16 MiB") // fuzzed offsets
			}
			if end > len(mem) {
				mem = append(mem, make([]byte, end-len(mem))...)
			}
			copy(mem[g.offset:], g.data)
		}
		return mem, segs
	}
	t.Fatal("no data section")
	return nil, nil
}

// randomSegments makes n segments of nonzero bytes apart by random gaps,
// some short, some long, in a shuffled order (as Go's linker writes
// sections out of address order).
func randomSegments(r *rand.Rand, n int) []segment {
	var segs []segment
	off := uint32(r.IntN(100_000))
	for range n {
		data := make([]byte, 1+r.IntN(40))
		for i := range data {
			data[i] = byte(1 + r.IntN(255))
		}
		segs = append(segs, segment{offset: off, data: data})
		gap := 8 + r.IntN(30)
		if r.IntN(10) == 0 {
			gap = 2000 + r.IntN(100_000)
		}
		off += uint32(len(data) + gap)
	}
	r.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
	return segs
}

func TestPackDataSameMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 50, 3000} {
		in := module(randomSegments(r, n))
		out, err := PackData(in, PackGap)
		if err != nil {
			t.Fatalf("%d segments: %v", n, err)
		}
		want, inSegs := image(t, in)
		got, outSegs := image(t, out)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d segments: the packed module sets up other memory", n)
		}
		long := 0 // gaps of PackGap or more, which stay gaps
		for i := 1; i < len(inSegs); i++ {
			// image's readSegments sorted them
			if inSegs[i].offset-(inSegs[i-1].offset+uint32(len(inSegs[i-1].data))) >= PackGap {
				long++
			}
		}
		if wantSegs := min(n, long+1); len(outSegs) != wantSegs {
			t.Errorf("%d segments with %d long gaps packed into %d, want %d", n, long, len(outSegs), wantSegs)
		}
		// The other sections are kept as they were, in order.
		if !bytes.HasPrefix(out, in[:8+9]) || !bytes.HasSuffix(out, in[len(in)-7:]) {
			t.Errorf("%d segments: the custom sections around the data changed", n)
		}
	}
}

func TestPackDataRefuses(t *testing.T) {
	good := module([]segment{{offset: 10, data: []byte{1, 2}}, {offset: 40, data: []byte{3}}})
	if _, err := PackData(good, PackGap); err != nil {
		t.Fatal(err)
	}
	withData := func(body []byte) []byte {
		b := []byte("\x00asm\x01\x00\x00\x00")
		b = append(b, secData)
		b = uleb(b, uint64(len(body)))
		return append(b, body...)
	}
	for name, m := range map[string][]byte{
		"empty":           nil,
		"not wasm":        []byte("\x00asn\x01\x00\x00\x00"),
		"version 2":       []byte("\x00asm\x02\x00\x00\x00"),
		"no data section": []byte("\x00asm\x01\x00\x00\x00"),
		"truncated":       good[:len(good)-3],
		"section too big": append([]byte("\x00asm\x01\x00\x00\x00"), secData, 0xff, 0xff, 0x03, 0),
		"overlap":         module([]segment{{offset: 10, data: []byte{1, 2, 3}}, {offset: 12, data: []byte{4}}}),
		"passive":         withData([]byte{1, 1, 1, 7}),
		"memory 1":        withData([]byte{1, 2, 1, 0x41, 0, 0x0b, 1, 7}),
		"global offset":   withData([]byte{1, 0, 0x23, 0, 0x0b, 1, 7}),
		"negative offset": withData([]byte{1, 0, 0x41, 0x7f, 0x0b, 1, 7}),
		"long offset":     withData([]byte{1, 0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x0b, 1, 7}),
		"two-op offset":   withData([]byte{1, 0, 0x41, 1, 0x41, 0x0b, 1, 7}),
		"count too big":   withData([]byte{0xff, 0xff, 0x03, 0}),
		"trailing bytes":  withData([]byte{1, 0, 0x41, 1, 0x0b, 1, 7, 9}),
		"two data":        append(good, good[8:]...),
		"data count":      append(slices.Clone(good), secDataCount, 1, 2),
	} {
		if _, err := PackData(m, PackGap); err == nil {
			t.Errorf("%s: packed", name)
		}
	}
}

// BenchmarkPackData: a data section shaped like the module's, 100,000
// segments mostly 18 bytes apart, 3 MB in all.
func BenchmarkPackData(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var segs []segment
	off := uint32(100_000)
	for range 100_000 {
		data := make([]byte, 1+r.IntN(60))
		for i := range data {
			data[i] = byte(1 + r.IntN(255))
		}
		segs = append(segs, segment{offset: off, data: data})
		off += uint32(len(data) + 18)
	}
	m := module(segs)
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		if _, err := PackData(m, PackGap); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzPackData: any input is refused or packed into a module that sets
// up the same memory.
func FuzzPackData(f *testing.F) {
	f.Add(module([]segment{{offset: 10, data: []byte{1, 2}}, {offset: 4000, data: []byte{3}}, {offset: 30, data: []byte{5}}}), 16)
	f.Add(module(nil), 1)
	f.Fuzz(func(t *testing.T, in []byte, gap int) {
		gap = gap%5000 + 1
		if gap <= 0 {
			gap += 5000
		}
		out, err := PackData(in, gap)
		if err != nil {
			return
		}
		want, _ := image(t, in)
		got, _ := image(t, out)
		if !bytes.Equal(got, want) {
			t.Fatalf("packed module sets up other memory")
		}
	})
}
