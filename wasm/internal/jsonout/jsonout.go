// Package jsonout writes JSON values by hand, byte for byte as
// encoding/json's Marshal writes them, for the formats written for every
// message (a message's page, an event to the page): Marshal finds a
// struct's fields by reflection and checks and compacts what a
// MarshalJSON method returns, each time. Tests compare every function
// with Marshal, on random and fuzzed input.
package jsonout

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// String appends s as a JSON string, escaped as Marshal escapes it: ", \
// and control characters; <, > and & (as \u003c, \u003e, \u0026); U+2028
// and U+2029; each byte of invalid UTF-8 as \ufffd.
func String(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe(b) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, <, > and &
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// safe reports whether Marshal writes the ASCII byte b in a string as it is.
func safe(b byte) bool {
	return b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}

// Raw appends raw, a JSON value, as Marshal writes a json.RawMessage:
// compacted, with <, >, &, U+2028 and U+2029 escaped; an error if raw is
// not valid JSON. Raw that needs neither (the usual case) is checked and
// copied in one pass.
func Raw(dst, raw []byte) ([]byte, error) {
	if raw == nil {
		return append(dst, "null"...), nil // as RawMessage.MarshalJSON
	}
	plain := len(raw) > 0
	for _, b := range raw {
		if b <= ' ' || b == '<' || b == '>' || b == '&' || b >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain && json.Valid(raw) {
		return append(dst, raw...), nil
	}
	start := len(dst)
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil {
		return dst, err
	}
	out := buf.Bytes()
	if !needsHTMLEscape(out[start:]) {
		return out, nil
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, out[start:])
	return append(out[:start], esc.Bytes()...), nil
}

// needsHTMLEscape reports whether b holds <, >, &, U+2028 or U+2029 (a
// loop: bytes.ContainsAny and bytes.Contains would link 6 KB more code
// into the browser's module).
func needsHTMLEscape(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '<' || c == '>' || c == '&':
			return true
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9): // U+2028, U+2029
			return true
		}
	}
	return false
}

// Uint appends n in decimal.
func Uint(dst []byte, n uint64) []byte { return strconv.AppendUint(dst, n, 10) }

// Int appends n in decimal.
func Int(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
