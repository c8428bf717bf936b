package room

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// decodeFast decodes a page written exactly as Message.Encode writes it
// (encoding/json's compact form, fields in order) whose data holds only
// string fields, as most pages are, and which validates: about ten times
// faster than encoding/json, which catch-up and every timeline spend most
// of their time in. Anything else — other spacing, field order or case,
// unknown or repeated fields, escapes encoding/json might read otherwise,
// data with other values (files, receipts), or a message validate refuses
// — it leaves (ok false) to decodeAt's encoding/json path, so what it
// accepts is decoded exactly as that path decodes it (FuzzDecodeFast).
func decodeFast(page []byte) (m Message, ok bool) {
	p := fastParser{b: page}
	if !p.lit(`{"head":[`) {
		return m, false
	}
	var err error
	by, ok := p.str()
	if !ok {
		return m, false
	}
	if m.Head.By, err = lastBy.decode(by); err != nil {
		return m, false
	}
	if !p.lit(",") {
		return m, false
	}
	to, ok := p.str()
	if !ok {
		return m, false
	}
	if to != "" {
		if m.Head.To, err = lastTo.decode(to); err != nil {
			return m, false
		}
	}
	if !p.lit(",") {
		return m, false
	}
	if m.Head.Mid, ok = p.uint(); !ok || !p.lit(`],"refs":{`) {
		return m, false
	}
	if p.lit(`"cause":[`) {
		s, ok := p.str()
		if !ok {
			return m, false
		}
		c := &Ref{}
		if c.By, err = lastCause.decode(s); err != nil || !p.lit(",") {
			return m, false
		}
		if c.Mid, ok = p.uint(); !ok || !p.lit("]") {
			return m, false
		}
		m.Refs.Cause = c
	}
	if !p.lit(`},"type":`) {
		return m, false
	}
	if m.Type, ok = p.str(); !ok {
		return m, false
	}
	var fields []fastField
	if p.lit(`,"data":`) {
		start := p.i
		if fields, ok = p.stringObject(); !ok {
			return m, false
		}
		m.Data = json.RawMessage(bytes.Clone(page[start:p.i])) // as encoding/json: not the page's memory
	}
	if !p.lit(`,"meta":{"date":`) {
		return m, false
	}
	date, ok := p.uint()
	if !ok || date > MaxDate || !p.lit(`,"clock":`) {
		return m, false
	}
	m.Meta.Date = int64(date)
	if m.Meta.Clock, ok = p.uint(); !ok || !p.lit("}}") || p.i != len(page) {
		return m, false
	}
	if m.checkFields() != nil || m.Type == TypeReceipt || checkStringData(m.Type, fields) != nil {
		return m, false
	}
	if slices.ContainsFunc(fields, func(f fastField) bool { return f.name == "files" }) {
		return m, false
	}
	return m, true
}

// stringFields reads data as decodeFast reads a message's: an object of
// at most a few string fields with distinct names, compact as
// encoding/json writes it; ok false for anything else.
func stringFields(data []byte) ([]fastField, bool) {
	p := fastParser{b: data}
	fields, ok := p.stringObject()
	return fields, ok && p.i == len(data)
}

// TextOf returns data's text, as json.Unmarshal of data into a struct{
// Text string `json:"text"` } reads it (a field named "text" in any case;
// the last of them), and false where that fails. Data of string fields
// (a chat message's) is read without encoding/json's reflection: search
// indexes every message shown.
func TextOf(data json.RawMessage) (string, bool) {
	if fields, ok := stringFields(data); ok {
		text := ""
		for _, f := range fields {
			if strings.EqualFold(f.name, "text") {
				text = f.value
			}
		}
		return text, true
	}
	var d struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(data, &d) != nil {
		return "", false
	}
	return d.Text, true
}

// A fastField is a data field decodeFast read: a name and a string.
type fastField struct{ name, value string }

// checkStringData is checkData for data whose fields are all strings, as
// decodeFast read them (names unique).
func checkStringData(typ string, fields []fastField) error {
	for name, kind := range dataFields[typ] {
		var v *string
		for i := range fields {
			if fields[i].name == name {
				v = &fields[i].value
			}
		}
		if err := checkDataField(name, kind, v); err != nil {
			return err
		}
	}
	return nil
}

// fastParser reads the compact JSON encoding/json writes, refusing (false)
// anything else.
type fastParser struct {
	b []byte
	i int
}

// lit reads s.
func (p *fastParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// str reads a string: valid UTF-8, the escapes encoding/json writes (\",
// \\, \n, \r, \t, \uXXXX but surrogates), no control characters.
func (p *fastParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, utf8.ValidString(s)
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// escaped reads the rest of a string from its first escape at p.i,
// unescaping it; the string began at start.
func (p *fastParser) escaped(start int) (string, bool) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), utf8.Valid(out)
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		switch p.b[p.i+1] {
		case '"', '\\', '/':
			out = append(out, p.b[p.i+1])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4(p.i + 2)
			if !ok || utf16.IsSurrogate(r) {
				return "", false
			}
			out = utf8.AppendRune(out, r)
			p.i += 4
		default:
			return "", false
		}
		p.i += 2
	}
	return "", false
}

// hex4 reads four hex digits at i.
func (p *fastParser) hex4(i int) (rune, bool) {
	if len(p.b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// uint reads an unsigned integer: digits, no leading zero, at most 19 of
// them (so below 2^64).
func (p *fastParser) uint() (uint64, bool) {
	start := p.i
	var n uint64
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' && p.i-start < 19 {
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	switch {
	case p.i == start, p.b[start] == '0' && p.i-start > 1:
		return 0, false
	case p.i < len(p.b) && ('0' <= p.b[p.i] && p.b[p.i] <= '9' || p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		return 0, false
	}
	return n, true
}

// stringObject reads an object of string fields with distinct names (at
// most a few: data's).
func (p *fastParser) stringObject() ([]fastField, bool) {
	if !p.lit("{") {
		return nil, false
	}
	var fields []fastField
	if p.lit("}") {
		return fields, true
	}
	for len(fields) < 8 {
		name, ok := p.str()
		if !ok || !p.lit(":") {
			return nil, false
		}
		value, ok := p.str()
		if !ok {
			return nil, false
		}
		for _, f := range fields {
			if f.name == name {
				return nil, false
			}
		}
		fields = append(fields, fastField{name, value})
		if p.lit("}") {
			return fields, true
		}
		if !p.lit(",") {
			return nil, false
		}
	}
	return nil, false
}

// The IDs decodeFast decoded last, one memo per field: the pages of a
// catch-up or a timeline come book by book, each naming its author and
// most the same cause's, and decoding an ID's 52 characters took about
// 1 µs in the browser.
var lastBy, lastTo, lastCause idMemo

// An idMemo remembers one decoded ID; safe for concurrent use.
type idMemo struct{ p atomic.Pointer[decodedID] }

type decodedID struct {
	text string
	id   identity.ID
}

// decode is identity.DecodeID, answered from the memo when text is the
// text it decoded last.
func (m *idMemo) decode(text string) (identity.ID, error) {
	if d := m.p.Load(); d != nil && d.text == text {
		return d.id, nil
	}
	id, err := identity.DecodeID(text)
	if err == nil {
		m.p.Store(&decodedID{strings.Clone(text), id}) // not a slice of the page
	}
	return id, err
}
