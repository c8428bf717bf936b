// Package jsonhead reads the type of an event's JSON without reading the
// rest of it: the page's events ({"type": …, …}, package app) pass
// through the tabs and the JS API, which look at the type of each, and a
// catch-up brings thousands of message events at once.
package jsonhead

import "bytes"

// Type returns the value of the key "type" when the object's first key is
// "type", written plainly, and its value a string without escapes; ok is
// false otherwise (not an object, another key first, escapes, another kind
// of value), and the caller decodes the whole of it. Only the bytes up to
// that value are read, so the rest is not checked.
func Type(raw []byte) (typ string, ok bool) {
	rest, ok := expect(raw, '{')
	if !ok {
		return "", false
	}
	rest = skipSpace(rest)
	if !bytes.HasPrefix(rest, []byte(`"type"`)) {
		return "", false
	}
	if rest, ok = expect(rest[len(`"type"`):], ':'); !ok {
		return "", false
	}
	if rest, ok = expect(rest, '"'); !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	for _, c := range rest[:end] {
		if c < 0x20 {
			return "", false // not JSON
		}
	}
	return string(rest[:end]), true
}

// expect skips white space, then c.
func expect(b []byte, c byte) ([]byte, bool) {
	b = skipSpace(b)
	if len(b) == 0 || b[0] != c {
		return nil, false
	}
	return b[1:], true
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
