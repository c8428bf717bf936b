package relay

import (
	"reflect"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func FuzzDecode(f *testing.F) {
	id := key(1).ID()
	host := func(s string) Host {
		h, err := ParseHost(s)
		if err != nil {
			f.Fatal(err)
		}
		return h
	}
	for _, fr := range []*Frame{
		{Type: FrameChallenge, Nonce: make([]byte, 32)},
		{Type: FrameHello, ID: id, Sig: make([]byte, identity.SignatureSize), Host: host("127.0.0.1:8080")},
		{Type: FrameHello, ID: id, Sig: make([]byte, identity.SignatureSize), Host: host("[::1]")},
		{Type: FrameHello, ID: id, Sig: make([]byte, identity.SignatureSize), Host: host("relay.example.com:443")},
		{Type: FrameWelcome},
		{Type: FrameSend, ID: id, Kind: KindSignal, Payload: []byte("offer")},
		{Type: FrameRecv, ID: id, Kind: KindFrame, Payload: []byte{}},
		{Type: FrameWatch, IDs: []identity.ID{id, key(2).ID()}},
		{Type: FrameWatch},
		{Type: FramePresence, ID: id, Online: true},
		{Type: FrameError, Code: CodeOffline, ID: id, Detail: "not connected"},
		{Type: FrameError, Code: CodeLimit, Detail: "frames per second"},
	} {
		b, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x9f, 0xff})
	f.Add([]byte{0x81, 0x09})
	f.Add([]byte{0x82, 0x06, 0xf6})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			return
		}
		b2, err := Encode(fr)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", fr, err)
		}
		fr2, err := Decode(b2)
		if err != nil {
			t.Fatalf("cannot decode the encoding of %+v: %v", fr, err)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, fr2)
		}
		if len(b2) > len(b) {
			t.Fatalf("canonical encoding (%d bytes) longer than the input (%d)", len(b2), len(b))
		}
	})
}
