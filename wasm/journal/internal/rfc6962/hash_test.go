package rfc6962

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestSameAsTlog checks the hashes against tlog's on every length around
// SHA-256's block and padding boundaries and on random data.
func TestSameAsTlog(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1100)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for n := range len(data) {
		if got, want := recordHash(data[:n]), tlog.RecordHash(data[:n]); got != want {
			t.Fatalf("recordHash of %d bytes = %x, want %x", n, got, want)
		}
	}
	ff := make([]byte, 200) // every bit set: no carry hides in a zero
	for i := range ff {
		ff[i] = 0xff
	}
	for n := range len(ff) {
		if got, want := recordHash(ff[:n]), tlog.RecordHash(ff[:n]); got != want {
			t.Fatalf("recordHash of %d bytes of 0xff = %x, want %x", n, got, want)
		}
	}
	for range 1000 {
		var a, b tlog.Hash
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		if got, want := nodeHash(a, b), tlog.NodeHash(a, b); got != want {
			t.Fatalf("nodeHash(%x, %x) = %x, want %x", a, b, got, want)
		}
		if got, want := NodeHash(a, b), tlog.NodeHash(a, b); got != want {
			t.Fatalf("NodeHash(%x, %x) = %x, want %x", a, b, got, want)
		}
	}
	var zero, ones tlog.Hash
	for i := range ones {
		ones[i] = 0xff
	}
	for _, c := range [][2]tlog.Hash{{zero, zero}, {ones, ones}, {zero, ones}} {
		if nodeHash(c[0], c[1]) != tlog.NodeHash(c[0], c[1]) {
			t.Fatalf("nodeHash(%x, %x) differs from tlog's", c[0], c[1])
		}
	}
	if RecordHash(data) != tlog.RecordHash(data) {
		t.Fatal("RecordHash differs from tlog's")
	}
}

func FuzzRecordHash(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 55))
	f.Add(make([]byte, 63))
	f.Add(make([]byte, 64))
	f.Add(make([]byte, 127))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := recordHash(data), tlog.RecordHash(data); got != want {
			t.Fatalf("recordHash(%x) = %x, want %x", data, got, want)
		}
		if len(data) >= 64 {
			var a, b tlog.Hash
			copy(a[:], data)
			copy(b[:], data[32:])
			if nodeHash(a, b) != tlog.NodeHash(a, b) {
				t.Fatalf("nodeHash(%x, %x) differs from tlog's", a, b)
			}
		}
	})
}

// BenchmarkRecordHash hashes a 200-byte page (a sealed message's size)
// here and with tlog (crypto/sha256): in the browser the first is what
// the journal uses.
func BenchmarkRecordHash(b *testing.B) {
	page := make([]byte, 200)
	b.Run("rfc6962", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			recordHash(page)
		}
	})
	b.Run("tlog", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			tlog.RecordHash(page)
		}
	})
}

func BenchmarkNodeHash(b *testing.B) {
	var l, r tlog.Hash
	b.Run("rfc6962", func(b *testing.B) {
		for b.Loop() {
			nodeHash(l, r)
		}
	})
	b.Run("tlog", func(b *testing.B) {
		for b.Loop() {
			tlog.NodeHash(l, r)
		}
	})
}
