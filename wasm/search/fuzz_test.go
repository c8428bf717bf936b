package search

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSearch: any text and query (a peer's message, what the user types)
// is indexed and searched without a panic; every result has a word
// starting with each token of the query, and a one-line snippet of valid
// UTF-8 when the text is.
func FuzzSearch(f *testing.F) {
	f.Add("Meeting tomorrow at noon", "mee tom")
	f.Add("Café\u0301 \u202e東京 ß", "cafe 東")
	f.Add("\xff\xfe broken \x00", "bro")
	f.Add(strings.Repeat("é", 200), strings.Repeat("e", 70))
	f.Fuzz(func(t *testing.T, text, q string) {
		ix := New()
		ix.Add(Doc{Task: "t", ID: "a/1", Text: text, Date: 1})
		ix.Add(Doc{Task: "t", ID: "a/2", Text: "filler words", Date: 2})
		rs, err := ix.Search(q, Options{})
		if err != nil {
			if len(q) <= MaxQuery {
				t.Fatalf("Search(%q): %v", q, err)
			}
			return
		}
		for _, r := range rs {
			var words []string
			for _, tk := range tokens(r.Text) {
				words = append(words, tk.term)
			}
			for _, qt := range tokens(q) {
				ok := false
				for _, w := range words {
					ok = ok || strings.HasPrefix(w, qt.term)
				}
				if !ok {
					t.Fatalf("%q found by %q without a word starting with %q", r.Text, q, qt.term)
				}
			}
			if strings.ContainsAny(r.Snippet, "\n\r\u202e") || (utf8.ValidString(r.Text) && !utf8.ValidString(r.Snippet)) {
				t.Fatalf("snippet %q of %q", r.Snippet, r.Text)
			}
		}
	})
}
