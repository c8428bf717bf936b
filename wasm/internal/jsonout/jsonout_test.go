package jsonout

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// samples are strings and raw values that exercise every escape.
var samples = []string{
	"", "plain text", `"quoted" \ back`, "<b>&amp;</b>", "tab\tnew\nline\rret\bbs\fff", "\x00\x01\x1f\x7f",
	"é ü 日本 🙂", "\u2028\u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80", `{"a": [1, 2, {"b": "<x>"}], "c": null}`,
	" [ true , false ] ", `"\u003c\u2028"`, "12.5e3", `{"text":"hello"}`, `{"text":"a\u2028b"}`, "{\"t\":\"\u2029\"}",
}

func TestStringAsMarshal(t *testing.T) {
	for _, s := range samples {
		checkString(t, s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(3) == 0 {
				const tricky = "\"\\<>&\n\x00 a\xe2\x80\xa8\xa9"
				b[i] = tricky[r.IntN(len(tricky))]
			}
		}
		checkString(t, string(b))
	}
}

func checkString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := String([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("String(%q) = %s, want %s", s, got[1:], want)
	}
}

func TestRawAsMarshal(t *testing.T) {
	checkRaw(t, nil)
	for _, s := range samples {
		checkRaw(t, []byte(s))
	}
}

func checkRaw(t *testing.T, raw []byte) {
	t.Helper()
	want, werr := json.Marshal(json.RawMessage(raw))
	got, gerr := Raw([]byte("x"), raw)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("Raw(%q): error %v, Marshal's %v", raw, gerr, werr)
	}
	if werr == nil && (!bytes.Equal(got[1:], want) || got[0] != 'x') {
		t.Fatalf("Raw(%q) = %s, want %s", raw, got[1:], want)
	}
	if werr != nil && string(got) != "x" {
		t.Fatalf("Raw(%q) failed but changed dst: %q", raw, got)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkString(t, s)
		checkRaw(t, []byte(s))
	})
}

func BenchmarkString(b *testing.B) {
	s := "a chat message of about sixty bytes, as people write them <3"
	var buf []byte
	for b.Loop() {
		buf = String(buf[:0], s)
	}
}
