package search

import (
	"unicode"
	"unicode/utf8"
)

// MaxToken bounds a token's bytes: longer ones are cut (in the index and in
// queries alike, so a long word still finds itself).
const MaxToken = 64

// A token is a normalised word and where it is in the text (bytes).
type token struct {
	term       string
	start, end int
}

// tokens cuts text into normalised tokens.
func tokens(text string) []token {
	var out []token
	eachToken(text, func(term []byte, start, end int) bool {
		out = append(out, token{string(term), start, end})
		return true
	})
	return out
}

// eachToken calls fn with each normalised token of text (cut to MaxToken
// bytes; term is only valid during the call) until fn returns false.
func eachToken(text string, fn func(term []byte, start, end int) bool) {
	var arr [4 * MaxToken]byte
	buf := arr[:0]
	start := -1
	more := true
	flush := func(end int) {
		if more && start >= 0 && len(buf) > 0 {
			more = fn(clipTerm(buf), start, end)
		}
		buf, start = buf[:0], -1
	}
	for i, r := range text {
		if !more {
			return
		}
		switch {
		case unicode.Is(unicode.Mn, r):
			// A combining mark (a decomposed accent): folded away.
			continue
		case isIdeograph(r):
			flush(i)
			start = i
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
			flush(i + utf8.RuneLen(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if start < 0 {
				start = i
			}
			if len(buf) <= MaxToken {
				buf = appendFolded(buf, unicode.ToLower(r))
			}
		default:
			flush(i)
		}
	}
	flush(len(text))
}

// isIdeograph: scripts written without spaces, indexed by character.
func isIdeograph(r rune) bool {
	return r >= 0x2E80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r))
}

// clipTerm cuts a term to MaxToken bytes on a rune boundary.
func clipTerm(s []byte) []byte {
	if len(s) <= MaxToken {
		return s
	}
	n := MaxToken
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// foldTable maps lower-case Latin letters with diacritics to their base
// letters.
var foldTable = func() map[rune]string {
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđ", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő",
		"r": "ŕŗř", "s": "śŝşšș", "t": "ţťŧț", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
		"ae": "æ", "oe": "œ", "ss": "ß", "th": "þ", "dh": "ð",
	}
	t := make(map[rune]string)
	for base, rs := range groups {
		for _, r := range rs {
			t[r] = base
		}
	}
	return t
}()

// appendFolded appends r's base letters, or r, to b.
func appendFolded(b []byte, r rune) []byte {
	if r >= 0xC0 {
		if s, ok := foldTable[r]; ok {
			return append(b, s...)
		}
	}
	return utf8.AppendRune(b, r)
}
