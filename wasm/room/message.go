package room

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsonout"
)

// Message types. A reply is a chat message with refs.cause set. Types this
// version does not know are kept and shown as they are.
const (
	TypeChat    = "chat"    // a chat message, or a reply: data {text, nonce?} (nonce: SendOnce's key, ignored by readers)
	TypeJoin    = "join"    // the first page of a member's book: who joins which task
	TypeMember  = "member"  // a member announces another member
	TypeTask    = "task"    // a task was created
	TypeRename  = "rename"  // a task was renamed
	TypeSubtask = "subtask" // a subtask was added
	TypeReceipt = "receipt" // how far the author holds and read each author's messages: data {of: {id: {received, read}}} (receiptpage.go); not shown
	TypeInvalid = "invalid" // a page that is not a message (kept, shown as such)
)

// MaxMessage bounds a message's encoding.
const MaxMessage = 64 << 10

// A Message is the original's standard format:
//
//	{ head: [by, to, mid], refs: { cause }, type, data, meta: { date, clock } }
//
// by and to are peer ids; mid numbers the author's messages in the task
// (the same in each of the author's books of the task, one per reader);
// refs.cause is [by, mid] of the message replied to; meta.date is the
// author's wall clock (Unix ms, shown, never trusted for order) and
// meta.clock a Lamport clock: 1 + the highest clock the author had seen in
// the task (its own included) when it wrote.
type Message struct {
	Head Head            `json:"head"`
	Refs Refs            `json:"refs"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	Meta Meta            `json:"meta"`

	Raw    []byte `json:"-"`                // the page, for TypeInvalid
	Reason string `json:"reason,omitempty"` // why a page is TypeInvalid; never in a page
}

// Head is [by, to, mid].
type Head struct {
	By, To identity.ID
	Mid    uint64
}

// Refs are a message's references.
type Refs struct {
	Cause *Ref `json:"cause,omitempty"`
}

// Ref names a message: [by, mid].
type Ref struct {
	By  identity.ID
	Mid uint64
}

// Meta is what a message says about itself.
type Meta struct {
	Date  int64  `json:"date"`
	Clock uint64 `json:"clock"`
}

// MarshalJSON writes [by, to, mid]; to is "" when the message is for
// every member.
func (h Head) MarshalJSON() ([]byte, error) { return h.appendJSON(nil), nil }

func (h Head) appendJSON(b []byte) []byte {
	b = append(b, '[', '"')
	b = append(b, h.By.String()...) // z-base-32: nothing to escape
	b = append(b, '"', ',', '"')
	if !h.To.IsZero() {
		b = append(b, h.To.String()...)
	}
	b = append(b, '"', ',')
	return append(jsonout.Uint(b, h.Mid), ']')
}

// UnmarshalJSON reads [by, to, mid].
func (h *Head) UnmarshalJSON(b []byte) error {
	var v [3]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("head: %w", err)
	}
	var err error
	if h.By, err = refID(v[0]); err != nil {
		return fmt.Errorf("head by: %w", err)
	}
	if string(v[1]) != `""` {
		if h.To, err = refID(v[1]); err != nil {
			return fmt.Errorf("head to: %w", err)
		}
	}
	return json.Unmarshal(v[2], &h.Mid)
}

// MarshalJSON writes [by, mid].
func (r Ref) MarshalJSON() ([]byte, error) { return r.appendJSON(nil), nil }

func (r Ref) appendJSON(b []byte) []byte {
	b = append(b, '[', '"')
	b = append(b, r.By.String()...)
	b = append(b, '"', ',')
	return append(jsonout.Uint(b, r.Mid), ']')
}

// UnmarshalJSON reads [by, mid].
func (r *Ref) UnmarshalJSON(b []byte) error {
	var v [2]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("ref: %w", err)
	}
	var err error
	if r.By, err = refID(v[0]); err != nil {
		return fmt.Errorf("ref by: %w", err)
	}
	return json.Unmarshal(v[1], &r.Mid)
}

// refID reads a peer id in a message. The key is not checked (a costly
// curve decoding, for every message read): a message's by is compared
// with its book's verified author (Decode), to and cause only name peers.
func refID(raw json.RawMessage) (identity.ID, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return identity.ID{}, err
	}
	return identity.DecodeID(s)
}

// Encode returns the message as a page.
func (m *Message) Encode() ([]byte, error) {
	b, err := m.AppendJSON(make([]byte, 0, 256+len(m.Data)))
	if err == nil && len(b) > MaxMessage {
		err = fmt.Errorf("room: message of %d bytes, at most %d", len(b), MaxMessage)
	}
	return b, err
}

// AppendJSON appends m's JSON object, byte for byte as json.Marshal
// writes it (the fields in order, data compacted; TestAppendJSONAsMarshal),
// without its reflection: a page is encoded for every message sent and
// hashed (digest) for every message read. An error if Data is not JSON.
func (m *Message) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"head":`...)
	b = m.Head.appendJSON(b)
	b = append(b, `,"refs":{`...)
	if c := m.Refs.Cause; c != nil {
		b = append(b, `"cause":`...)
		b = c.appendJSON(b)
	}
	b = append(b, `},"type":`...)
	b = jsonout.String(b, m.Type)
	if len(m.Data) > 0 {
		var err error
		b = append(b, `,"data":`...)
		if b, err = jsonout.Raw(b, m.Data); err != nil {
			return nil, fmt.Errorf("room: a message's data: %w", err)
		}
	}
	b = append(b, `,"meta":{"date":`...)
	b = jsonout.Int(b, m.Meta.Date)
	b = append(b, `,"clock":`...)
	b = jsonout.Uint(b, m.Meta.Clock)
	b = append(b, '}')
	if m.Reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonout.String(b, m.Reason)
	}
	return append(b, '}'), nil
}

// ErrNotMessage means a page that does not decode as a message.
var ErrNotMessage = errors.New("room: not a message")

// Bounds a message must keep to be shown as what it says it is.
const (
	// MinDate and MaxDate bound meta.date (Unix ms): 2000-01-01 to
	// 3000-01-01, so every date makes a valid JavaScript Date.
	MinDate = 946684800000
	MaxDate = 32503680000000
	// MaxClock bounds meta.clock: the largest integer a JavaScript number
	// holds exactly, far from a 64-bit wrap.
	MaxClock = 1<<53 - 1
	// MaxClockStep bounds how far a member's message mid may claim to be
	// above the highest clock of the task's other authors (plus mid): one
	// beyond is shown as invalid and never advances the task's clock, so
	// a member cannot ratchet the clock with its own messages.
	MaxClockStep = 1 << 32
	// maxType bounds a message type's bytes.
	maxType = 32
)

// Decode reads a page written by author. A page that is not a message, or
// claims another author, or breaks a bound (see validate), comes back as
// TypeInvalid with the page in Raw, the reason in Reason and an error
// saying why: kept and shown, never dropped.
func Decode(page []byte, author identity.ID) (Message, error) {
	return decodeAt(page, author, 0)
}

// decodeAt is Decode of the page at index mid of one of author's books of
// a task (a message's mid is its page index); mid 0: not checked.
func decodeAt(page []byte, author identity.ID, mid uint64) (Message, error) {
	var m Message
	err := func() error {
		if len(page) > MaxMessage {
			return fmt.Errorf("%d bytes", len(page))
		}
		if fm, ok := decodeFast(page); ok && fm.Head.By == author && (mid == 0 || fm.Head.Mid == mid) {
			m = fm
			return nil
		}
		d := json.NewDecoder(bytes.NewReader(page))
		if err := d.Decode(&m); err != nil {
			return err
		}
		if m.Head.By != author {
			return fmt.Errorf("claims author %s in a book by %s", m.Head.By.Short(), author.Short())
		}
		if mid != 0 && m.Head.Mid != mid {
			return fmt.Errorf("mid %d on page %d", m.Head.Mid, mid)
		}
		return m.validate()
	}()
	if err != nil {
		return Message{Head: Head{By: author, Mid: mid}, Type: TypeInvalid, Raw: page, Reason: clip(err.Error())}, fmt.Errorf("%w: %v", ErrNotMessage, err)
	}
	return m, nil
}

// validate checks a decoded message's types and ranges, so that every
// message shown can be rendered: a date within [MinDate, MaxDate], a clock
// within [1, MaxClock], a short type, data a JSON object with the fields
// its type needs of the right kinds, a well formed cause.
func (m *Message) validate() error {
	if err := m.checkFields(); err != nil {
		return err
	}
	return checkData(m.Type, m.Data)
}

// checkFields is validate but for data.
func (m *Message) checkFields() error {
	switch {
	case m.Type == "" || m.Type == TypeInvalid:
		return fmt.Errorf("type %q", clip(m.Type))
	case len(m.Type) > maxType || !utf8.ValidString(m.Type):
		return fmt.Errorf("type of %d bytes, at most %d", len(m.Type), maxType)
	case m.Meta.Date < MinDate || m.Meta.Date > MaxDate:
		return fmt.Errorf("date %d out of range [%d, %d]", m.Meta.Date, MinDate, MaxDate)
	case m.Meta.Clock < 1 || m.Meta.Clock > MaxClock:
		return fmt.Errorf("clock %d out of range [1, %d]", m.Meta.Clock, uint64(MaxClock))
	case m.Refs.Cause != nil && m.Refs.Cause.Mid < 1:
		return errors.New("refs.cause names no message")
	case m.Reason != "":
		return errors.New("a field only the reader sets")
	case m.Type == TypeReceipt && m.Refs.Cause != nil:
		return errors.New("a receipt replies to nothing")
	case (m.Type == TypeEdit || m.Type == TypeDelete) && m.Refs.Cause == nil:
		return fmt.Errorf("an %s names no message (refs.cause)", m.Type)
	}
	return nil
}

// dataFields are the fields each known type needs in data, by kind: "text"
// a non-empty bounded string, "title" a title, "id" a peer id, "task" a
// task id, "task?" a task id or null, "id?" a peer id or absent.
var dataFields = map[string]map[string]string{
	TypeChat:    {"text": "text"},
	TypeJoin:    {"via": "id", "title": "title?"},
	TypeMember:  {"id": "id", "via": "id?", "invite": "title?"},
	TypeTask:    {"title": "title", "parent": "task?"},
	TypeRename:  {"title": "title"},
	TypeSubtask: {"id": "task", "title": "title"},
	TypeRemove:  {"id": "id"},
	TypeAllow:   {"id": "id"},
	TypeEdit:    {"text": "text"}, // edits.go
	TypeName:    {"name": "name"}, // names.go
}

// checkData checks that data is a JSON object (or absent) and that the
// fields its type needs have the right kinds.
func checkData(typ string, data json.RawMessage) error {
	var obj map[string]json.RawMessage
	if len(data) == 0 {
		obj = map[string]json.RawMessage{}
	} else if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return errors.New("data is not an object")
	}
	if typ == TypeReceipt {
		return checkReceipt(obj["of"])
	}
	if raw, ok := obj["files"]; ok && typ == TypeChat {
		if err := checkFiles(raw); err != nil {
			return err
		}
	}
	for name, kind := range dataFields[typ] {
		var v *string
		if raw, ok := obj[name]; ok && string(raw) != "null" {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return fmt.Errorf("data.%s is not a string", name)
			}
			v = &s
		}
		if err := checkDataField(name, kind, v); err != nil {
			return err
		}
	}
	return nil
}

// checkDataField checks data field name of the kind dataFields gives: v
// is its string, nil if it is absent or null.
func checkDataField(name, kind string, v *string) error {
	if v == nil {
		if strings.HasSuffix(kind, "?") {
			return nil
		}
		return fmt.Errorf("data.%s missing", name)
	}
	s := *v
	var err error
	switch strings.TrimSuffix(kind, "?") {
	case "text":
		err = checkText(s)
	case "title":
		if len(s) > MaxTitle || !utf8.ValidString(s) {
			err = errors.New("bad title")
		}
	case "id":
		_, err = identity.DecodeID(s)
	case "task":
		_, err = ParseTaskID(s)
	case "name":
		_, err = checkName(s)
	}
	if err != nil {
		return fmt.Errorf("data.%s: %v", name, err)
	}
	return nil
}

// Key is a message's place in every timeline: by clock, then author, then mid.
type Key struct {
	Clock uint64
	By    identity.ID
	Mid   uint64
}

// Key returns the message's key.
func (m *Message) Key() Key { return Key{m.Meta.Clock, m.Head.By, m.Head.Mid} }

// Compare orders keys: -1, 0 or +1.
func (k Key) Compare(o Key) int {
	switch {
	case k.Clock != o.Clock:
		if k.Clock < o.Clock {
			return -1
		}
		return 1
	case k.By != o.By:
		return bytes.Compare(k.By[:], o.By[:])
	case k.Mid != o.Mid:
		if k.Mid < o.Mid {
			return -1
		}
		return 1
	}
	return 0
}

// String writes the key as "clock.by.mid" with the clock and mid in 20
// decimal digits and by in hex, so that keys compare as strings in the
// timeline's order: the JS API's message key.
func (k Key) String() string {
	b := make([]byte, 0, 20+1+2*len(k.By)+1+20)
	b = appendPadded(b, k.Clock)
	b = append(b, '.')
	b = hex.AppendEncode(b, k.By[:])
	b = append(b, '.')
	return string(appendPadded(b, k.Mid))
}

// appendPadded appends n in decimal, zero-padded to 20 digits (as
// fmt's %020d: every uint64 fits), so that keys sort as text.
func appendPadded(b []byte, n uint64) []byte {
	var d [20]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:]...)
}

// ParseKey reads a key written by Key.String.
func ParseKey(s string) (Key, error) {
	var k Key
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return k, fmt.Errorf("room: bad message key %q: want clock.by.mid", clip(s))
	}
	var err1, err3 error
	k.Clock, err1 = strconv.ParseUint(parts[0], 10, 64)
	k.Mid, err3 = strconv.ParseUint(parts[2], 10, 64)
	by, err2 := hex.DecodeString(parts[1])
	if len(by) != identity.IDSize {
		err2 = errors.Join(err2, errors.New("by is not a peer id in hex"))
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return k, fmt.Errorf("room: bad message key %q: %w", clip(s), err)
	}
	copy(k.By[:], by)
	return k, nil
}

// String names a message in its task: "by/mid", what replies point at.
func (r Ref) String() string {
	return string(strconv.AppendUint(append([]byte(r.By.String()), '/'), r.Mid, 10))
}

// ParseRef reads a message id written by Ref.String.
func ParseRef(s string) (Ref, error) {
	by, mid, ok := strings.Cut(s, "/")
	id, err := identity.ParseID(by)
	n, err2 := strconv.ParseUint(mid, 10, 64)
	if !ok || err != nil || err2 != nil {
		return Ref{}, fmt.Errorf("room: bad message id %q: want by/mid", clip(s))
	}
	return Ref{By: id, Mid: n}, nil
}

// Ref returns the message's id.
func (m *Message) Ref() Ref { return Ref{By: m.Head.By, Mid: m.Head.Mid} }
