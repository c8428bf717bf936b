package search

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bytes of text a snippet shows before and after its first match.
const (
	snippetBefore = 48
	snippetAfter  = 160
)

// snippet is the part of text around its first word that starts with
// one of terms, on one line, with
// "…" where it is cut.
func snippet(text string, terms []string) string {
	at := 0
	eachToken(text, func(term []byte, start, _ int) bool {
		for _, q := range terms {
			if len(term) >= len(q) && string(term[:len(q)]) == q {
				at = start
				return false
			}
		}
		return true
	})
	start := runeStart(text, max(0, at-snippetBefore))
	end := runeStart(text, min(len(text), at+snippetAfter))
	if start > 0 {
		// Begin at a word if one starts close by.
		if i := strings.IndexAny(text[start:at], " \n\t"); i >= 0 {
			start += i + 1
		}
	}
	out := clean(text[start:end])
	if start > 0 {
		out = "…" + out
	}
	if end < len(text) {
		out += "…"
	}
	return out
}

// runeStart moves i back to the start of a rune.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// clean puts text on one line: control, format (bidi) and space
// characters become one space each run.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) || r == utf8.RuneError {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}
