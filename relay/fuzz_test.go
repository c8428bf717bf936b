package relay

import (
	"reflect"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func FuzzDecode(f *testing.F) {
	id := key(1).ID()
	for _, fr := range []*Frame{
		{Type: FrameChallenge, Nonce: make([]byte, 32)},
		{Type: FrameHello, ID: id, Sig: make([]byte, identity.SignatureSize), Host: Host{name: "127.0.0.1", port: "8080"}},
		{Type: FrameHello, ID: id, Sig: make([]byte, identity.SignatureSize), Host: Host{name: "[::1]"}},
		{Type: FrameHello, ID: id, Sig: make([]byte, identity.SignatureSize), Host: Host{name: "relay.example.com", port: "443"}},
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

// FuzzParseHost: a parsed host is canonical (parsing its string gives it
// back), and it is never something a CSP, a header or the signed hello
// could be confused by.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8080", "localhost", "[::1]:8080", "Relay.Example.COM", "[0:0::1]", "[fe80::1%eth0]:1",
		"a:b:c", "x:0", "x:080", "x:65535", "-x", "a..b", "[::1]x", "", "[", "ä.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			return
		}
		c := h.String()
		h2, err := ParseHost(c)
		if err != nil || h2 != h || h2.String() != c {
			t.Fatalf("%q → %q → %v %v", s, c, h2, err)
		}
		if len(c) > len(s) && !strings.HasPrefix(s, "[") {
			t.Fatalf("%q grew to %q", s, c)
		}
		if strings.ContainsAny(c, " ;,'\"\n\r\t/\\@*") {
			t.Fatalf("%q → %q has a separator", s, c)
		}
	})
}
