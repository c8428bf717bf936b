// Package jsonhead reads the outline of JSON without decoding the rest:
// the type of an event (the page's events, {"type": …, …}, package app,
// pass through the tabs and the JS API, which look at the type of each,
// and a catch-up brings thousands of message events at once), and the
// elements of an array (the arguments of each call of the JS API).
package jsonhead

import (
	"bytes"
	"encoding/json"
)

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
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Elements returns the elements of raw, a JSON array, as json.Unmarshal
// into []json.RawMessage reads them (each without the space around it),
// but without its reflection: ok false if raw is not a valid JSON array.
// The elements share raw's bytes.
func Elements(raw []byte) (elems []json.RawMessage, ok bool) {
	if len(raw) < 2 || raw[0] != '[' || !json.Valid(raw) {
		return nil, false
	}
	elems = []json.RawMessage{}
	rest := skipSpace(raw[1:])
	for rest[0] != ']' {
		i, depth, inString := 0, 0, false
	scan: // valid JSON: the element ends at a , or ] outside strings and brackets
		for ; ; i++ {
			c := rest[i]
			switch {
			case inString && c == '\\':
				i++
			case inString:
				inString = c != '"'
			case c == '"':
				inString = true
			case c == '[' || c == '{':
				depth++
			case c == ']' || c == '}':
				if depth == 0 {
					break scan
				}
				depth--
			case c == ',' && depth == 0:
				break scan
			}
		}
		end := i
		for end > 0 && isSpace(rest[end-1]) {
			end--
		}
		elems = append(elems, rest[:end])
		if rest[i] == ']' {
			break
		}
		rest = skipSpace(rest[i+1:])
	}
	return elems, true
}
