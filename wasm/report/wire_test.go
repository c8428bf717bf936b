package report

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func testID(n byte) identity.ID {
	var s identity.Seed
	s[0] = n
	return identity.New(s).ID()
}

func sampleFrames() []*Frame {
	id, key := testID(1), testID(2)
	return []*Frame{
		{Type: TypeChallenge, Body: &Challenge{Nonce: make([]byte, NonceSize)}},
		{Type: TypeHello, At: 1, Body: &Hello{ID: id, Sig: make([]byte, identity.SignatureSize), Alias: "ana", Agent: "go"}},
		{Type: TypeWelcome, Body: &Welcome{Books: []Known{{Key: key, Length: 3}, {Key: id, Length: 1, Head: 5}}}},
		{Type: TypeBooks, Body: &Books{Books: []BookInfo{{Key: key, Name: "notes", Author: id, Writable: true, Head: []byte{1}, Have: []Span{{0, 3}}, Genesis: []byte{2}}}}},
		{Type: TypeBook, Body: &Book{Key: key, Event: "append", Writable: true, Head: []byte{1}, Start: 1, Pages: [][]byte{[]byte("a"), {}}, Proof: []byte{3}, Skipped: &Span{0, 1}}},
		{Type: TypeBook, Body: &Book{Key: key, Event: "follow", Peer: id}},
		{Type: TypeBook, Body: &Book{Key: key, Event: "put", Head: []byte{1}, Start: 0, Pages: [][]byte{[]byte("genesis"), []byte("sealed"), []byte("sealed too")}, Plain: [][]byte{nil, []byte("plain"), nil}}},
		{Type: TypeSync, Body: &Sync{Peer: id, Send: true, Type: "data", Book: key, Start: 1, End: 2, Bytes: 10, Pages: 1, Hashes: 2}},
		{Type: TypePort, Body: &Port{Peer: id, Open: true, Transport: "webrtc"}},
		{Type: TypeApp, Body: &App{Peer: id, Type: "join", Bytes: 5}},
		{Type: TypeError, Body: &Error{Text: "boom"}},
		{Type: TypeDropped, Body: &Dropped{Count: 1, Total: 2}},
		{Type: TypeCommand, Body: &Command{ID: 1, Op: OpImport, Data: []byte(`{"a":1}`)}},
		{Type: TypeResult, Body: &Result{ID: 1, Data: []byte(`[1]`)}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range sampleFrames() {
		b, err := Encode(f)
		if err != nil {
			t.Fatalf("%s: %v", f.Type, err)
		}
		g, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f.Type, err)
		}
		if !reflect.DeepEqual(f, g) {
			t.Fatalf("%s: round trip\n%+v\n%+v", f.Type, f.Body, g.Body)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	id := testID(1).String()
	tests := []struct {
		frame string
		err   error
	}{
		{`{"v":1,"type":"error","body":{"text":"x"}}`, ErrVersion},
		{`{"v":3,"type":"error","body":{"text":"x"}}`, ErrVersion},
		{`{"v":2,"type":"hello","body":{"id":"` + id + `"}}`, ErrBadFrame},
		{`{"v":2,"type":"hello","body":{"id":"` + id + `","sig":"AAAA"}}`, ErrBadFrame},
		{`{"v":2,"type":"challenge","body":{"nonce":"AAAA"}}`, ErrBadFrame},
		{`{"v":2,"type":"challenge","body":{}}`, ErrBadFrame},
		{`{"v":2,"type":"welcome","body":{"books":[{"key":"` + id + `","length":5,"head":4}]}}`, ErrBadFrame},
		{`{"v":2,"type":"error","body":{"text":"x"}} {}`, ErrBadFrame},
		{`{"v":2,"type":"error","body":{"text":"x"},"more":1}`, ErrBadFrame},
		{`{"v":2,"type":"sync","body":{"peer":"` + id + `","type":"gossip"}}`, ErrBadFrame},
		{`{"v":2,"type":"sync","body":{"peer":"` + id + `","type":"want","start":5,"end":4}}`, ErrBadFrame},
		{`{"v":2,"type":"port","body":{"peer":"` + id + `","transport":"pigeon"}}`, ErrBadFrame},
		{`{"v":2,"type":"hello","body":{}}`, ErrBadFrame},
		{`{"v":2,"type":"book","body":{"key":"` + id + `","event":"put","pages":["AA=="]}}`, ErrBadFrame},
		{`{"v":2,"type":"command","body":{"id":1,"op":"import"}}`, ErrBadFrame},
		{`{"v":2,"type":"result","body":{"id":1,"error":"x","data":1}}`, ErrBadFrame},
		{`{"v":2,"type":"error","body":{"text":"` + strings.Repeat("x", MaxFrameSize) + `"}}`, ErrTooLarge},
	}
	for _, tc := range tests {
		if _, err := Decode([]byte(tc.frame)); !errors.Is(err, tc.err) {
			t.Errorf("%.60s: %v, want %v", tc.frame, err, tc.err)
		}
	}
	if _, err := Encode(&Frame{Type: TypeHello, Body: &Error{}}); !errors.Is(err, ErrBadFrame) {
		t.Errorf("body of another type: %v", err)
	}
}

// TestPlainBounds: a book frame's plaintexts are one per page (or none),
// none for the genesis, each at most as long as its page, and count
// toward MaxPageBytes with the pages; anything else is refused both ways.
func TestPlainBounds(t *testing.T) {
	key := testID(2)
	page := []byte("a sealed page")
	big := make([]byte, MaxPageBytes/4)
	tests := map[string]*Book{
		"fewer plaintexts than pages":            {Start: 1, Pages: [][]byte{page, page}, Plain: [][]byte{[]byte("x")}},
		"more plaintexts than pages":             {Start: 1, Pages: [][]byte{page}, Plain: [][]byte{nil, nil}},
		"plaintexts without pages":               {Start: 1, Plain: [][]byte{[]byte("x")}},
		"a plaintext of the genesis":             {Start: 0, Pages: [][]byte{page, page}, Plain: [][]byte{[]byte("x"), nil}},
		"a plaintext over its page":              {Start: 1, Pages: [][]byte{page}, Plain: [][]byte{append(page, 'x')}},
		"pages and plaintexts over MaxPageBytes": {Start: 1, Pages: [][]byte{big, big, big}, Plain: [][]byte{big, big, nil}},
	}
	for name, b := range tests {
		b.Key, b.Event, b.Head = key, "put", []byte{1}
		if _, err := Encode(&Frame{Type: TypeBook, Body: b}); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: encoded (%v)", name, err)
		}
		body, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		frame := `{"v":2,"type":"book","at":1,"body":` + string(body) + `}`
		if _, err := Decode([]byte(frame)); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: decoded (%v)", name, err)
		}
	}
	ok := &Book{Key: key, Event: "put", Head: []byte{1}, Start: 1, Pages: [][]byte{big, big, big}, Plain: [][]byte{big, nil, nil}}
	if _, err := Encode(&Frame{Type: TypeBook, Body: ok}); err != nil {
		t.Fatalf("pages and a plaintext within MaxPageBytes: %v", err)
	}
}

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(3)
	for i := range 5 {
		q.push(item{at: int64(i)})
	}
	items, dropped, total := q.drain(nil)
	if len(items) != 3 || items[0].at != 2 || items[2].at != 4 || dropped != 2 || total != 2 {
		t.Fatalf("%d items from %d, dropped %d of %d", len(items), items[0].at, dropped, total)
	}
	q.push(item{at: 9})
	items, dropped, total = q.drain(items[:0])
	if len(items) != 1 || items[0].at != 9 || dropped != 0 || total != 2 {
		t.Fatalf("after drain: %d items, dropped %d of %d", len(items), dropped, total)
	}
}

func TestClipText(t *testing.T) {
	if s := clipText("héllo", 2); s != "h" {
		t.Fatalf("%q", s)
	}
	if s := clipText("a\xffb", 10); s != "a\uFFFDb" {
		t.Fatalf("%q", s)
	}
}

func TestAllocsPush(t *testing.T) {
	q := newQueue(16)
	it := item{at: 1, book: &bookItem{}}
	if n := testing.AllocsPerRun(1000, func() { q.push(it) }); n != 0 {
		t.Fatalf("push allocates %.1f times", n)
	}
}

func FuzzDecode(f *testing.F) {
	for _, fr := range sampleFrames() {
		b, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":2,"type":"book","body":{"key":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			return
		}
		b2, err := Encode(fr)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", fr.Body, err)
		}
		fr2, err := Decode(b2)
		if err != nil {
			t.Fatalf("cannot decode the encoding of %+v: %v", fr.Body, err)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr.Body, fr2.Body)
		}
	})
}

func TestPeerURL(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:8081/peer":  "ws://127.0.0.1:8081/peer",
		"http://127.0.0.1:8081":     "ws://127.0.0.1:8081/peer",
		"https://127.0.0.1:9/":      "wss://127.0.0.1:9/peer",
		"ws://127.0.0.1:8081/other": "ws://127.0.0.1:8081/other",
		"":                          "",
		"ws://localhost:80/peer":    "ws://localhost/peer",
		"https://d.example:443":     "wss://d.example/peer",
		"wss://d.example:8443/peer": "wss://d.example:8443/peer",
	} {
		if got := peerURL(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestHelloMessage: the signed bytes are the context, the nonce and the
// host, lowercase: a signature for one nonce or one server verifies for
// no other.
func TestHelloMessage(t *testing.T) {
	var seed identity.Seed
	key := identity.New(seed)
	nonce := make([]byte, NonceSize)
	nonce[0] = 1
	msg := HelloMessage(nonce, "LocalHost:8081")
	if want := "taskmessenger/devtools/v2\n" + string(nonce) + "localhost:8081"; string(msg) != want {
		t.Fatalf("%q", msg)
	}
	sig := key.Sign(msg)
	other := append([]byte(nil), nonce...)
	other[0] = 2
	for _, m := range [][]byte{HelloMessage(other, "localhost:8081"), HelloMessage(nonce, "localhost:8082"), HelloMessage(nonce, "evil.example")} {
		if key.ID().Verify(m, sig) {
			t.Fatalf("signature verifies for %q", m)
		}
	}
}
