package jsonhead

import (
	"encoding/json"
	"testing"
)

func TestType(t *testing.T) {
	for _, c := range []struct {
		raw  string
		typ  string
		isOK bool
	}{
		{`{"type":"message","task":"x","message":{"type":"chat"}}`, "message", true},
		{` { "type" : "peer" , "peer": "p"}`, "peer", true},
		{`{"type":"book"}`, "book", true},
		{`{"task":"x","type":"message"}`, "", false}, // not first: the caller decodes it all
		{`{"type":3}`, "", false},
		{`{"type":null}`, "", false},
		{`["type","message"]`, "", false},
		{`"type"`, "", false},
		{``, "", false},
		{`{"type"`, "", false},
		{`{"typ\u0065":"x"}`, "", false}, // escapes: the caller decodes it all
		{`{"type":"a\"b"}`, "", false},
		{"{\"type\":\"a\nb\"}", "", false}, // a control character: not JSON
		{"\n{\t\"type\"\r\n:\"task\",\"task\":1}", "task", true},
	} {
		typ, ok := Type([]byte(c.raw))
		if typ != c.typ || ok != c.isOK {
			t.Errorf("Type(%s) = %q, %v; want %q, %v", c.raw, typ, ok, c.typ, c.isOK)
		}
	}
}

func BenchmarkType(b *testing.B) {
	raw := []byte(`{"type":"message","message":{"head":["abc","",10001],"refs":{},"type":"chat","data":{"text":"catch-up 1806 8192"},"meta":{"date":1796216540190,"clock":10002},"id":"abc/10001","key":"00000000000000010002.de3d.00000000000000010001"},"task":"fzdwuyrkwno56mwbakakzwmmge"}`)
	for b.Loop() {
		if _, ok := Type(raw); !ok {
			b.Fatal("no type")
		}
	}
}

// FuzzElements: an array is split as json.Unmarshal into
// []json.RawMessage splits it, and what it refuses is refused.
func FuzzElements(f *testing.F) {
	for _, s := range []string{`[]`, ` [ ] `, `["a",1,{"b":[2,"]"]},null]`, `[ "x\"]" , [ [] , {} ] ]`, `["\\"]`, `[1,]`, `[`, `{}`, `null`, `"x"`, "[\t1\n,\r2 ]", `[[1],[2]`, `[1 2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want []json.RawMessage
		werr := json.Unmarshal(raw, &want)
		got, ok := Elements(raw)
		if ok && werr != nil {
			t.Fatalf("Elements(%q) took what json.Unmarshal refuses: %v", raw, werr)
		}
		if !ok {
			return // the caller decodes it (app.parseArgs: json.Unmarshal, and its error)
		}
		if len(got) != len(want) || (want == nil) != (got == nil) {
			t.Fatalf("Elements(%q) = %q, json.Unmarshal: %q", raw, got, want)
		}
		for i := range got {
			if string(got[i]) != string(want[i]) {
				t.Fatalf("Elements(%q)[%d] = %q, json.Unmarshal: %q", raw, i, got[i], want[i])
			}
		}
	})
}
