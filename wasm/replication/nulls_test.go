package replication_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// cb builds CBOR from hex pieces and byte strings.
func cb(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b, err := hex.DecodeString(p)
			if err != nil {
				panic(err)
			}
			out = append(out, b...)
		case []byte:
			out = append(out, p...)
		}
	}
	return out
}

// bstr encodes a byte string of fewer than 65,536 bytes.
func bstr(b []byte) []byte {
	switch {
	case len(b) < 24:
		return append([]byte{0x40 | byte(len(b))}, b...)
	case len(b) < 256:
		return append([]byte{0x58, byte(len(b))}, b...)
	}
	return append([]byte{0x59, byte(len(b) >> 8), byte(len(b))}, b...)
}

// TestDecodeNulls: null is allowed on the wire only where docs/format.md
// says "null means none" (a hello's book list, a have's push); anywhere
// else it is refused. Empty lists are sent as empty arrays.
func TestDecodeNulls(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, _ := bookFor(t, ana, bob, "nulls")
	book.Append(ctx, []byte("a"))
	head, err := journal.Marshal(book.Head())
	if err != nil {
		t.Fatal(err)
	}
	key := bstr(book.Key().Bytes())
	zero := bstr(make([]byte, 32))
	upgrade := cb("84", head, "00", zero, "80")

	ok := map[string][]byte{
		"hello [true, null]":     cb("830101", "82f5f6"),
		"hello [true, []]":       cb("830101", "82f580"),
		"have without push":      cb("830102", "82", upgrade, "f6"),
		"data with empty proofs": cb("830104", "85", key, "00", "02", "81", bstr([]byte("a")), "828080"),
	}
	for name, msg := range ok {
		if _, err := replication.Decode(msg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	refused := map[string][]byte{
		"bye [null]":                cb("830105", "81f6"),
		"hello [null, []]":          cb("830101", "82f680"),
		"hello book length null":    cb("830101", "82f5", "81", "82", bstr(make([]byte, 8)), "f6"),
		"hello [true, undefined]":   cb("830101", "82f5f7"),
		"have upgrade proof null":   cb("830102", "82", "84", head, "00", zero, "f6", "f6"),
		"have null upgrade":         cb("830102", "82f6f6"),
		"data proof null":           cb("830104", "85", key, "00", "02", "81", bstr([]byte("a")), "f6"),
		"data proof [null, []]":     cb("830104", "85", key, "00", "02", "81", bstr([]byte("a")), "82f680"),
		"data null page":            cb("830104", "85", key, "00", "02", "81f6", "828080"),
		"want range [0, null]":      cb("830103", "82", key, "81", "8200f6"),
		"body null":                 cb("830105", "f6"),
		"data with a tagged length": cb("830104", "85", key, "00", "c102", "81", bstr([]byte("a")), "828080"),
	}
	for name, msg := range refused {
		_, err := replication.Decode(msg)
		if !errors.Is(err, replication.ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		} else if strings.HasPrefix(name, "data with") || strings.Contains(name, "undefined") {
			continue
		} else if !strings.Contains(err.Error(), "null") {
			t.Errorf("%s: refused for another reason: %v", name, err)
		}
	}

	// Empty lists go out as empty arrays.
	msg, err := replication.Encode(replication.TypeHello, &replication.Hello{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := cb("830101", "82f580"); !bytes.Equal(msg, want) {
		t.Fatalf("hello with no books: %x, want %x", msg, want)
	}
}

// TestDecodeHaveFromZero: an upgrade from 0 carries 32 zero bytes as the
// root at 0 and no proof, as docs/format.md says; anything else is refused.
func TestDecodeHaveFromZero(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	book, _ := bookFor(t, ana, bob, "zero")
	book.Append(ctx, []byte("a"))
	head, err := journal.Marshal(book.Head())
	if err != nil {
		t.Fatal(err)
	}
	zero, one := bstr(make([]byte, 32)), bstr(bytes.Repeat([]byte{1}, 32))
	if _, err := replication.Decode(cb("830102", "82", "84", head, "00", zero, "80", "f6")); err != nil {
		t.Fatalf("upgrade from 0: %v", err)
	}
	for name, msg := range map[string][]byte{
		"a root at 0": cb("830102", "82", "84", head, "00", one, "80", "f6"),
		"a proof":     cb("830102", "82", "84", head, "00", zero, "81", one, "f6"),
	} {
		if _, err := replication.Decode(msg); !errors.Is(err, replication.ErrProtocol) {
			t.Errorf("upgrade from 0 with %s: %v, want ErrProtocol", name, err)
		}
	}
}
