package replication

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
)

// generalBody encodes body with the general encoder (the journal's types
// through their MarshalCBOR, which journal's TestWireFastSameBytes checks
// against their wire structs).
func generalBody(tb testing.TB, body any) []byte {
	var buf bytes.Buffer
	if err := bufMode.MarshalToBuffer(body, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// wireMessages are haves, previews and data messages over every width of
// their integers and page sizes, and with the nil slices a peer never
// sends (written as null, which only the general decoder reads, and
// refuses).
func wireMessages() []struct {
	t    Type
	body any
} {
	head := journal.Head{Key: [32]byte{1}, Length: 70000, Root: journal.Hash{2}, Sig: bytes.Repeat([]byte{3}, 64)}
	up := journal.Upgrade{Head: head, From: 300, FromRoot: journal.Hash{4}, Proof: []journal.Hash{{5}, {6}}}
	var pages [][]byte
	for _, n := range []int{0, 1, 23, 24, 255, 256, 1024, 65536} {
		pages = append(pages, bytes.Repeat([]byte{byte(n)}, n))
	}
	data := func(start, length uint64, pages [][]byte) *Data {
		return &Data{Key: head.Key[:], Start: start, Length: length, Pages: pages, Proof: journal.RangeProof{Left: []journal.Hash{{7}}, Tree: []journal.Hash{{8}, {9}}}}
	}
	msgs := []struct {
		t    Type
		body any
	}{
		{TypeHave, &Have{Upgrade: up}},
		{TypeHave, &Have{Upgrade: journal.Upgrade{Head: head}}},
		{TypeHave, &Have{Upgrade: up, Push: data(69999, 70000, pages[4:5])}},
		{TypePreview, &Preview{Upgrade: journal.Upgrade{Head: head, From: 69990}, Push: data(69990, 70000, pages)}},
		{TypeData, data(0, 24, pages)},
		{TypeData, data(1<<32, 1<<40, pages[:1])},
		{TypeData, &Data{Key: head.Key[:], Start: 1, Length: 2, Pages: [][]byte{{1}}}},
		{TypeData, &Data{Key: head.Key[:], Length: 3}},                             // no pages: null
		{TypeData, &Data{Key: head.Key[:], Length: 3, Pages: [][]byte{nil}}},       // a null page
		{TypeData, &Data{Length: 3, Pages: [][]byte{{1}}}},                         // no key: null
		{TypeHave, &Have{Upgrade: journal.Upgrade{Head: journal.Head{Length: 1}}}}, // no signature: null
		{TypePreview, &Preview{Upgrade: journal.Upgrade{Head: head, From: 69990}}}, // no push: null, a have's only
	}
	for _, n := range []int{23, 24, 255, 256, 4096, 4097} {
		msgs = append(msgs, struct {
			t    Type
			body any
		}{TypeData, data(0, uint64(n), make([][]byte, n))})
	}
	return msgs
}

// TestWireSameAsGeneral: the hot messages written by hand are the bytes
// the general encoder writes, and read by hand to what the general decoder
// reads, when it reads them; what the general decoder refuses (cut short,
// followed by a byte, of indefinite length, with a null) is not read by
// hand either.
func TestWireSameAsGeneral(t *testing.T) {
	for i, m := range wireMessages() {
		want := generalBody(t, m.body)
		got, err := EncodeVersion(Version, m.t, m.body)
		if err != nil {
			t.Fatal(err)
		}
		if body := got[3:]; !bytes.Equal(body, want) {
			t.Fatalf("message %d (%s): by hand %x, general %x", i, m.t, body, want)
		}
		sameAsGeneral(t, m.t, want)
		sameAsGeneral(t, m.t, want[:len(want)-1])                // cut short
		sameAsGeneral(t, m.t, append(want, 0))                   // a byte after it
		sameAsGeneral(t, m.t, append([]byte{0x9f}, want[1:]...)) // of indefinite length
	}
}

// sameAsGeneral checks that body, if it is read by hand, is read as the
// general decoder reads it, and that it is read by hand if the general
// decoder reads it and the hand's encoder writes it so.
func sameAsGeneral(tb testing.TB, t Type, body []byte) {
	fast, ok := readFast(t, body)
	general, err := decodeGeneral(t, body)
	if ok {
		if err != nil || !reflect.DeepEqual(fast, general) {
			tb.Fatalf("%s %x: by hand %+v, general %+v (%v)", t, body, fast, general, err)
		}
		return
	}
	if err != nil || (t != TypeHave && t != TypePreview && t != TypeData) {
		return
	}
	if again, err := EncodeVersion(Version, t, general); err == nil && bytes.Equal(again[3:], body) {
		tb.Fatalf("%s %x: the general decoder reads it, not by hand", t, body)
	}
}

// FuzzReadFast: whatever the hand-written reader accepts, the general
// decoder accepts as the same message.
func FuzzReadFast(f *testing.F) {
	for _, m := range wireMessages() {
		if b := generalBody(f, m.body); len(b) < 2048 { // small inputs mutate faster
			f.Add(byte(m.t), b)
		}
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		sameAsGeneral(t, Type(typ), body)
	})
}
