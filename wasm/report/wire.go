package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Version is the protocol version in every envelope. Version 2 added the
// challenge and the hello's signature, and the welcome's head lengths.
const Version = 2

// Bounds of the protocol. A frame over any of them is refused whole.
const (
	// MaxFrameSize bounds every frame but results and commands.
	MaxFrameSize = 1 << 20
	// MaxResultSize bounds a command (an import carries an export) and its
	// result (an export).
	MaxResultSize = 64 << 20
	// MaxPages is the most pages one book frame carries.
	MaxPages = 256
	// MaxPageBytes bounds the pages of one book frame, before base64.
	MaxPageBytes = 512 << 10
	// MaxBooks is the most books one books frame lists.
	MaxBooks = 256
	// MaxText bounds free text: aliases, error messages, names of types.
	MaxText = 1024
	// MaxProof bounds a CBOR head, upgrade, range proof or fork evidence.
	MaxProof = 16 << 10
	// NonceSize is the size of a challenge's nonce.
	NonceSize = 32
)

// helloContext separates the hello's signature from every other signature
// of the peer's key.
const helloContext = "taskmessenger/devtools/v2\n"

// HelloMessage is what a reporter signs with its identity key to prove
// its id: the context, the server's nonce and the host it connected to
// (the URL's host, lowercase, with the port if the URL has one), so a
// signature answers one challenge of one server only.
func HelloMessage(nonce []byte, host string) []byte {
	b := make([]byte, 0, len(helloContext)+len(nonce)+len(host))
	return append(append(append(b, helloContext...), nonce...), strings.ToLower(host)...)
}

// Type names a frame.
type Type string

// Frame types. Peer to server unless noted.
const (
	TypeChallenge Type = "challenge" // server → peer, first frame: the nonce to sign
	TypeHello     Type = "hello"     // first peer frame: who the peer is, signed
	TypeWelcome   Type = "welcome"   // server → peer, answers hello
	TypeBooks     Type = "books"     // the peer's books, at connect
	TypeBook      Type = "book"      // pages and heads of one book
	TypeSync      Type = "sync"      // a replication message sent or received
	TypePort      Type = "port"      // a port to a peer opened, closed or changed transport
	TypeApp       Type = "app"       // an application message on a port (join, joined)
	TypeError     Type = "error"     // an error the peer met
	TypeDropped   Type = "dropped"   // events the reporter's queue dropped
	TypeCommand   Type = "command"   // server → peer: export, import or reset
	TypeResult    Type = "result"    // the answer to a command
)

// Commands the server may send.
const (
	OpExport = "export"
	OpImport = "import"
	OpReset  = "reset"
)

// Span is the half-open page range [start, end), as a JSON array.
type Span [2]uint64

// A Frame is one decoded frame: Body is a pointer to the struct of its
// Type (*Hello for TypeHello, and so on).
type Frame struct {
	Type Type
	At   int64 // the sender's clock, Unix milliseconds
	Body any
}

// Challenge is the server's first frame: a fresh random nonce the hello
// signs.
type Challenge struct {
	Nonce []byte `json:"nonce"`
}

// Hello is the peer's first frame: its id and Sig, the id's signature of
// HelloMessage(the challenge's nonce, the server's host).
type Hello struct {
	ID    identity.ID `json:"id"`
	Sig   []byte      `json:"sig"`
	Alias string      `json:"alias,omitempty"`
	Agent string      `json:"agent,omitempty"` // what runs the peer, e.g. "go1.26 js/wasm"
}

// Welcome answers a hello. Books lists, for books the peer authors, what
// the server has verified: the peer reports pages from Length on, with a
// consistency proof from Head.
type Welcome struct {
	Books []Known `json:"books"`
}

// Known is what the server verified of a book: Length, the pages it holds
// verified (the peer sends the pages from there), and Head, the verified
// head's length (the peer's consistency proof starts there; 0 means
// Length). Length <= Head.
type Known struct {
	Key    identity.ID `json:"key"`
	Length uint64      `json:"length"`
	Head   uint64      `json:"head,omitempty"`
}

// Books lists the peer's books at connect, in one frame or more: Done
// marks the last, so the server forgets the books the peer no longer has.
type Books struct {
	Books []BookInfo `json:"books"`
	Done  bool       `json:"done,omitempty"`
}

// BookInfo is one book of a Books frame.
type BookInfo struct {
	Key      identity.ID `json:"key"`
	Name     string      `json:"name,omitempty"`
	Author   identity.ID `json:"author,omitzero"`
	Writable bool        `json:"writable,omitempty"` // the peer authors it
	Head     []byte      `json:"head,omitempty"`     // CBOR journal.Head; none for an empty replica
	Have     []Span      `json:"have,omitempty"`     // pages held
	Forked   bool        `json:"forked,omitempty"`
	Genesis  []byte      `json:"genesis,omitempty"` // page 0, when held
}

// Book reports pages and heads of one book. Every field but Key and Event
// is optional: a head alone, pages with their head, fork evidence.
type Book struct {
	Key      identity.ID `json:"key"`
	Event    string      `json:"event"` // what caused it: a journal.EventType, or "backfill"
	Writable bool        `json:"writable,omitempty"`
	// Head is the CBOR journal.Head the pages are reported against.
	Head []byte `json:"head,omitempty"`
	// Upgrade is the CBOR journal.Upgrade from the length last reported
	// (or welcomed) to Head: authors only.
	Upgrade []byte `json:"upgrade,omitempty"`
	// Start is the index of Pages[0].
	Start uint64   `json:"start,omitempty"`
	Pages [][]byte `json:"pages,omitempty"`
	// Plain is, when the reporter could open some of Pages (sealed pages,
	// Config.Open), their plaintexts: as many as Pages, nil where the
	// reporter cannot open the page (or it is not sealed), each at most as
	// long as its page; empty when it opened none. It is the tab's own
	// view of its pages, for people: nothing proves it is what the sealed
	// page holds.
	Plain [][]byte `json:"plain,omitempty"`
	// Proof is the CBOR journal.RangeProof of Pages against Head: authors
	// only (only authors can prove).
	Proof []byte `json:"proof,omitempty"`
	// Skipped are pages not reported: older than the reporter's backfill at connect.
	Skipped *Span `json:"skipped,omitempty"`
	// Fork is the CBOR journal.Fork evidence, for event "fork".
	Fork []byte `json:"fork,omitempty"`
	// Peer is the expected author, for event "follow".
	Peer identity.ID `json:"peer,omitzero"`
}

// Sync is one replication message (replication.Event).
type Sync struct {
	Peer   identity.ID `json:"peer"` // the other end of the session
	Send   bool        `json:"send,omitempty"`
	Type   string      `json:"type"` // hello, have, want, data, bye
	Book   identity.ID `json:"book,omitzero"`
	Start  uint64      `json:"start,omitempty"`
	End    uint64      `json:"end,omitempty"`
	Bytes  int         `json:"bytes,omitempty"`
	Pages  int         `json:"pages,omitempty"`
	Hashes int         `json:"hashes,omitempty"`
}

// Port says a port to a peer opened (or changed transport) or closed.
type Port struct {
	Peer      identity.ID `json:"peer"`
	Open      bool        `json:"open,omitempty"`
	Transport string      `json:"transport,omitempty"` // webrtc or relay
}

// App is an application message on a port, such as join and joined.
type App struct {
	Peer  identity.ID `json:"peer"`
	Send  bool        `json:"send,omitempty"`
	Type  string      `json:"type"`
	Bytes int         `json:"bytes,omitempty"`
}

// Error is an error the peer met.
type Error struct {
	Text string `json:"text"`
}

// Dropped counts events the reporter's queue dropped since the last
// Dropped frame, and in all.
type Dropped struct {
	Count uint64 `json:"count"`
	Total uint64 `json:"total"`
}

// Command asks the peer to run Op. Data is the export to import.
type Command struct {
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Result answers the command with the same ID: Error, or Data (the export,
// for export).
type Result struct {
	ID    uint64          `json:"id"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// newBody returns a pointer to the body struct of t.
func newBody(t Type) (checker, bool) {
	switch t {
	case TypeChallenge:
		return new(Challenge), true
	case TypeHello:
		return new(Hello), true
	case TypeWelcome:
		return new(Welcome), true
	case TypeBooks:
		return new(Books), true
	case TypeBook:
		return new(Book), true
	case TypeSync:
		return new(Sync), true
	case TypePort:
		return new(Port), true
	case TypeApp:
		return new(App), true
	case TypeError:
		return new(Error), true
	case TypeDropped:
		return new(Dropped), true
	case TypeCommand:
		return new(Command), true
	case TypeResult:
		return new(Result), true
	}
	return nil, false
}

// limit returns the largest frame of type t.
func limit(t Type) int {
	if t == TypeCommand || t == TypeResult {
		return MaxResultSize
	}
	return MaxFrameSize
}

// Encode encodes a frame. It checks the body's bounds, so what Encode
// returns Decode accepts.
func Encode(f *Frame) ([]byte, error) {
	c, ok := f.Body.(checker)
	if !ok {
		return nil, fmt.Errorf("%w: body %T", ErrBadFrame, f.Body)
	}
	if want, ok := newBody(f.Type); !ok || reflect.TypeOf(want) != reflect.TypeOf(c) {
		return nil, fmt.Errorf("%w: body %T for type %q", ErrBadFrame, f.Body, f.Type)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	// The envelope by hand: json.Marshal would scan the body once more.
	b := make([]byte, 0, len(body)+64)
	b = fmt.Appendf(b, `{"v":%d,"type":%q,"at":%d,"body":`, Version, f.Type, f.At)
	b = append(append(b, body...), '}')
	if len(b) > limit(f.Type) {
		return nil, fmt.Errorf("%w: %s frame of %d bytes, at most %d", ErrTooLarge, f.Type, len(b), limit(f.Type))
	}
	return b, nil
}

// Decode decodes and checks one frame: the envelope's version and type,
// the body's fields (unknown fields are refused) and bounds. The body must
// come after the type (Encode writes v, type, at, body), so the frame is
// read in one pass.
func Decode(b []byte) (*Frame, error) {
	if len(b) > MaxResultSize {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrTooLarge, len(b))
	}
	f, err := decode(b)
	if err != nil {
		return nil, err
	}
	if len(b) > limit(f.Type) {
		return nil, fmt.Errorf("%w: %s frame of %d bytes, at most %d", ErrTooLarge, f.Type, len(b), limit(f.Type))
	}
	if err := f.Body.(checker).check(); err != nil {
		return nil, err
	}
	return f, nil
}

// decode reads the envelope key by key and the body straight into its
// struct.
func decode(b []byte) (*Frame, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: not a JSON object", ErrBadFrame)
	}
	f := &Frame{}
	v, seen := 0, map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: envelope: %v", ErrBadFrame, err)
		}
		key, _ := t.(string)
		if seen[key] {
			return nil, fmt.Errorf("%w: envelope: %q twice", ErrBadFrame, clip(key))
		}
		seen[key] = true
		switch key {
		case "v":
			if err = d.Decode(&v); err == nil && v != Version {
				return nil, fmt.Errorf("%w: version %d, this build speaks %d", ErrVersion, v, Version)
			}
		case "type":
			err = d.Decode(&f.Type)
		case "at":
			err = d.Decode(&f.At)
		case "body":
			body, ok := newBody(f.Type)
			if !ok {
				return nil, fmt.Errorf("%w: body of unknown type %q", ErrBadFrame, clip(string(f.Type)))
			}
			if err := d.Decode(body); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrBadFrame, f.Type, err)
			}
			f.Body = body
		default:
			return nil, fmt.Errorf("%w: envelope: unknown field %q", ErrBadFrame, clip(key))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: envelope: %s: %v", ErrBadFrame, key, err)
		}
	}
	if _, err := d.Token(); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrBadFrame, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the frame", ErrBadFrame)
	}
	switch {
	case !seen["v"]:
		return nil, fmt.Errorf("%w: no version", ErrVersion)
	case f.Body == nil:
		return nil, fmt.Errorf("%w: no body", ErrBadFrame)
	}
	return f, nil
}
