package room

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// decodeJSON is decodeAt's encoding/json path: the reference decodeFast
// must agree with.
func decodeJSON(page []byte) (Message, error) {
	var m Message
	if err := json.NewDecoder(bytes.NewReader(page)).Decode(&m); err != nil {
		return m, err
	}
	return m, m.validate()
}

// fastSamples are pages as Message.Encode writes them: the ones
// decodeFast must take (true) and the ones it leaves to encoding/json.
func fastSamples() (take, leave [][]byte) {
	ana := identity.New(identity.Seed{1}).ID()
	bob := identity.New(identity.Seed{2}).ID()
	task, _ := NewTaskID()
	enc := func(m Message) []byte {
		b, err := m.Encode()
		if err != nil {
			panic(err)
		}
		return b
	}
	data := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	meta := Meta{Date: 1764900000000, Clock: 42}
	for _, text := range []string{"hi", `say "hi" \ back`, "two\nlines\tand\r", "<b>&amp;</b>", "ünïcödé ☃ 𝄞", "a\u2028b\u2029c", "nul\x00 and \x1f"} {
		take = append(take, enc(Message{Head: Head{By: ana, Mid: 1}, Type: TypeChat, Data: data(map[string]any{"text": text}), Meta: meta}))
	}
	take = append(take,
		enc(Message{Head: Head{By: ana, To: bob, Mid: 7}, Refs: Refs{Cause: &Ref{By: bob, Mid: 3}}, Type: TypeChat, Data: data(map[string]any{"text": "reply", "nonce": "n1"}), Meta: Meta{Date: MinDate, Clock: MaxClock}}),
		enc(Message{Head: Head{By: ana, Mid: 2}, Type: TypeJoin, Data: data(map[string]any{"via": bob.String(), "title": "plans"}), Meta: meta}),
		enc(Message{Head: Head{By: ana, Mid: 3}, Type: TypeTask, Data: data(map[string]any{"title": "plans"}), Meta: meta}),
		enc(Message{Head: Head{By: ana, Mid: 4}, Type: TypeSubtask, Data: data(map[string]any{"id": task.String(), "title": "sub"}), Meta: meta}),
		enc(Message{Head: Head{By: ana, Mid: 5}, Refs: Refs{Cause: &Ref{By: ana, Mid: 1}}, Type: TypeEdit, Data: data(map[string]any{"text": "fixed"}), Meta: meta}),
		enc(Message{Head: Head{By: ana, Mid: 6}, Type: "future-type", Meta: meta}),
	)
	leave = append(leave,
		enc(Message{Head: Head{By: ana, Mid: 8}, Type: TypeReceipt, Data: json.RawMessage(fmt.Sprintf(`{"of":{%q:{"received":3,"read":2}}}`, bob)), Meta: meta}),
		enc(Message{Head: Head{By: ana, Mid: 9}, Type: TypeTask, Data: json.RawMessage(`{"title":"t","parent":null}`), Meta: meta}),
		enc(Message{Head: Head{By: ana, Mid: 10}, Type: TypeChat, Data: data(map[string]any{"text": " \u2028"}), Meta: meta}), // empty: invalid
		enc(Message{Head: Head{By: ana, Mid: 11}, Type: TypeChat, Data: data(map[string]any{"text": "x", "files": []string{}}), Meta: meta}),
		[]byte(`{"head":["`+ana.String()+`","",1],"refs":{},"type":"chat","data":{"text":"x"},"meta":{"date":1764900000000,"clock":1}} `),
		[]byte(`{"head":["`+ana.String()+`","",1],"refs":{},"type":"chat","data":{"text":"x","text":"y"},"meta":{"date":1764900000000,"clock":1}}`),
		[]byte(`{"head":["`+ana.String()+`","",01],"refs":{},"type":"chat","data":{"text":"x"},"meta":{"date":1764900000000,"clock":1}}`),
		[]byte(`{"head":["`+ana.String()+`","",1],"refs":{},"type":"chat","data":{"text":"\ud834\udd1e"},"meta":{"date":1764900000000,"clock":1}}`),
		[]byte(`{"head":["`+ana.String()+`","",1],"refs":{},"type":"chat","data":{"text":"\xff"},"meta":{"date":1764900000000,"clock":1}}`),
	)
	return take, leave
}

func TestDecodeFast(t *testing.T) {
	take, leave := fastSamples()
	for _, page := range take {
		fast, ok := decodeFast(page)
		if !ok {
			t.Errorf("left to encoding/json: %s", page)
			continue
		}
		want, err := decodeJSON(page)
		if err != nil || !reflect.DeepEqual(fast, want) {
			t.Errorf("%s:\nfast %+v\njson %+v, %v", page, fast, want, err)
		}
	}
	for _, page := range leave {
		if m, ok := decodeFast(page); ok {
			t.Errorf("took %s as %+v", page, m)
		}
	}
}

// FuzzDecodeFast: what decodeFast takes, encoding/json decodes to the same
// message, and it validates.
func FuzzDecodeFast(f *testing.F) {
	take, leave := fastSamples()
	for _, p := range append(take, leave...) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		fast, ok := decodeFast(page)
		if !ok {
			return
		}
		want, err := decodeJSON(page)
		if err != nil {
			t.Fatalf("%q: fast took it, encoding/json: %v", page, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q:\nfast %+v\njson %+v", page, fast, want)
		}
	})
}

func BenchmarkDecodeMessage(b *testing.B) {
	ana := identity.New(identity.Seed{1}).ID()
	bob := identity.New(identity.Seed{2}).ID()
	m := Message{Head: Head{By: ana, To: bob, Mid: 1234}, Refs: Refs{Cause: &Ref{By: bob, Mid: 77}}, Type: TypeChat,
		Data: json.RawMessage(`{"text":"hello there, this is a message of ordinary length for a chat"}`), Meta: Meta{Date: 1764900000000, Clock: 99}}
	page, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dec  func([]byte) (Message, error)
	}{
		{"fast", func(p []byte) (Message, error) { return decodeAt(p, ana, 1234) }},
		{"json", decodeJSON},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.dec(page); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzTextOf: TextOf and FilesOf read data as json.Unmarshal does.
func FuzzTextOf(f *testing.F) {
	for _, s := range []string{`{"text":"hi"}`, `{"Text":"a","text":"b"}`, `{"text":"b","TEXT":"a"}`, `{"te\u0078t":"esc"}`,
		`{"text":1}`, `{}`, `{"files":"x"}`, `{"files":[{"name":"a"}]}`, ` {"text":"spaced"}`, `{"text":"a\ud800"}`, "{\"\u212aey\":\"\",\"text\":\"k\"}", `[]`, `x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d struct {
			Text string `json:"text"`
		}
		err := json.Unmarshal(data, &d)
		text, ok := TextOf(data)
		if ok != (err == nil) || ok && text != d.Text {
			t.Fatalf("TextOf(%q) = %q, %v; json.Unmarshal: %q, %v", data, text, ok, d.Text, err)
		}
		var fd struct {
			Files []FileRef `json:"files"`
		}
		want := fd.Files
		if json.Unmarshal(data, &fd) == nil {
			want = fd.Files
		}
		if got := FilesOf(data); !reflect.DeepEqual(got, want) {
			t.Fatalf("FilesOf(%q) = %v, want %v", data, got, want)
		}
	})
}

// TestIDMemo: the memo answers the text it decoded last, decodes any
// other, and keeps nothing of a text that does not decode.
func TestIDMemo(t *testing.T) {
	var m idMemo
	a, b := identity.ID{1}.String(), identity.ID{2}.String()
	for i, q := range []struct {
		text string
		want identity.ID
		bad  bool
	}{{a, identity.ID{1}, false}, {a, identity.ID{1}, false}, {b, identity.ID{2}, false}, {"0" + b[1:], identity.ID{}, true}, {b, identity.ID{2}, false}, {a, identity.ID{1}, false}} {
		got, err := m.decode(q.text)
		if (err != nil) != q.bad || got != q.want {
			t.Fatalf("decode %d: %x, %v; want %x (error %v)", i, got[:1], err, q.want[:1], q.bad)
		}
	}
}
