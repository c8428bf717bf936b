package replication

import (
	"bytes"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/task-messenger/task-messenger/wasm/internal/cborwire"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// structEnvelope is the envelope as the cbor package reads and writes it:
// the reference the hand-written head (appendEnvelopeHead, splitEnvelope)
// must agree with byte for byte.
type structEnvelope struct {
	_    struct{} `cbor:",toarray"`
	V    uint
	T    Type
	Body cbor.RawMessage
}

// refDecMode reads a structEnvelope with the limits messages are read
// with, one level deeper: the envelope's own.
var refDecMode = func() cbor.DecMode {
	o := journal.DecOptions(MaxHelloBooks)
	o.MaxNestedLevels++
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

func TestEnvelopeSameAsStruct(t *testing.T) {
	for _, v := range []uint{1, 2, 23, 24, 255, 256, 65535, 65536, 1 << 32} {
		for _, typ := range []Type{TypeHello, TypeHave, TypeData, TypeBye, 24, 255} {
			msg, err := EncodeVersion(v, typ, &Bye{Reason: "x"})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := encMode.Marshal(&Bye{Reason: "x"})
			want, _ := encMode.Marshal(structEnvelope{V: v, T: typ, Body: body})
			if !bytes.Equal(msg, want) {
				t.Fatalf("v%d type %d: %x, the cbor package writes %x", v, typ, msg, want)
			}
			gv, gt, gb, err := splitEnvelope(msg)
			if err != nil || gv != uint64(v) || gt != uint64(typ) || !bytes.Equal(gb, body) {
				t.Fatalf("v%d type %d: read back %d %d %x, %v", v, typ, gv, gt, gb, err)
			}
		}
	}
}

// FuzzEnvelope: splitEnvelope (with the body's own well-formedness check,
// which its decoder makes) accepts the envelopes the cbor package reads,
// with the same version, type and body, but those whose version or type
// is not an unsigned integer (the cbor package reads a simple value into
// a uint; no encoder of ours writes one).
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte{0x83, 0x01, 0x04, 0x40})
	f.Add([]byte{0x98, 0x03, 0x18, 0x01, 0x19, 0x00, 0x04, 0x81, 0xf6})
	f.Add([]byte{0x83, 0x01, 0x19, 0x01, 0x00, 0x40})
	f.Add([]byte{0x83, 0x01, 0x04, 0x40, 0x00})
	f.Add([]byte{0x9f, 0x01, 0x04, 0x40, 0xff})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var ref structEnvelope
		refErr := refDecMode.Unmarshal(msg, &ref)
		v, typ, body, err := splitEnvelope(msg)
		if err == nil {
			err = decMode.Wellformed(body)
		}
		if err == nil && typ > 255 {
			err = errTestType
		}
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("%x: split accepts it, cbor %v", msg, refErr)
		case err != nil && refErr == nil && !notUints(msg):
			t.Fatalf("%x: split %v, cbor accepts it", msg, err)
		case err == nil && (uint64(ref.V) != v || uint64(ref.T) != typ || !bytes.Equal(ref.Body, body)):
			t.Fatalf("%x: split %d %d %x, cbor %d %d %x", msg, v, typ, body, ref.V, ref.T, ref.Body)
		}
	})
}

// notUints reports whether the version or the type of an envelope is not
// an unsigned integer.
func notUints(msg []byte) bool {
	_, _, rest, err := cborwire.ReadHead(msg)
	for range 2 {
		var major byte
		if major, _, rest, err = cborwire.ReadHead(rest); err != nil || major != 0 {
			return true
		}
	}
	return false
}

var errTestType = bytesErr("type over 255")

type bytesErr string

func (e bytesErr) Error() string { return string(e) }
