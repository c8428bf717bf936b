package replication

import (
	"errors"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Version is the protocol version in every message.
const Version = 1

// Bounds on messages: a message over any of them ends the session.
const (
	// MaxMessageSize is the largest encoded message.
	MaxMessageSize = 4 << 20
	// MaxHelloBooks is the most books one hello may list.
	MaxHelloBooks = 1 << 16
	// MaxWantRanges is the most ranges one want may ask for.
	MaxWantRanges = 64
	// MaxDataPages is the most pages one data message may carry.
	MaxDataPages = 4096
	// MaxServe is the most pages a peer may have asked for and not yet received.
	MaxServe = 1 << 20
	// MaxBooks is the most books a session follows on a peer's announcement.
	MaxBooks = 1 << 16
	// PrefixSize is the length of the key prefixes a hello lists.
	PrefixSize = 8
)

// Type is a message type.
type Type uint8

// Message types. See the package documentation for their meaning.
const (
	TypeHello  Type = 1
	TypeHave   Type = 2
	TypeWant   Type = 3
	TypeData   Type = 4
	TypeBye    Type = 5
	TypeForked Type = 6
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeHave:
		return "have"
	case TypeWant:
		return "want"
	case TypeData:
		return "data"
	case TypeBye:
		return "bye"
	case TypeForked:
		return "forked"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// ErrProtocol means the peer sent something the protocol does not allow:
// malformed, oversized, out of order or failing verification. The session
// ends with it.
var ErrProtocol = errors.New("replication: protocol violation")

// envelope is every message on the wire: [version, type, body].
type envelope struct {
	_    struct{} `cbor:",toarray"`
	V    uint
	T    Type
	Body cbor.RawMessage
}

// Hello lists the replicas a peer holds of the other's books, with their
// lengths, by key prefix. Full is set on the hello sent at connect, which
// lists them all; later hellos list only books that changed.
type Hello struct {
	_     struct{} `cbor:",toarray"`
	Full  bool
	Books []HelloBook
}

// MarshalCBOR implements cbor.Marshaler: no books is an empty array, never null.
func (h Hello) MarshalCBOR() ([]byte, error) {
	type plain Hello
	p := plain(h)
	if p.Books == nil {
		p.Books = []HelloBook{}
	}
	return encMode.Marshal(p)
}

// HelloBook is one entry of a Hello.
type HelloBook struct {
	_      struct{} `cbor:",toarray"`
	Prefix []byte
	Length uint64
}

// Have is an author's new head for the reader, as an upgrade from the
// length the reader has, with small appends pushed along.
type Have struct {
	_       struct{} `cbor:",toarray"`
	Upgrade journal.Upgrade
	Push    *Data `cbor:",omitempty"`
}

// Want asks for page ranges of a book.
type Want struct {
	_      struct{} `cbor:",toarray"`
	Key    []byte
	Ranges []journal.Range
}

// Data carries pages [Start, Start+len(Pages)) of a book with their proof
// against the head of length Length.
type Data struct {
	_      struct{} `cbor:",toarray"`
	Key    []byte
	Start  uint64
	Length uint64
	Pages  [][]byte
	Proof  journal.RangeProof
}

// Bye says why a peer ends the session.
type Bye struct {
	_      struct{} `cbor:",toarray"`
	Reason string
}

// Forked is a reader's proof that the author signed two heads of one of
// its books that cannot both hold (journal.Fork): the reader follows the
// book no further, and tells the author why.
type Forked struct {
	_    struct{} `cbor:",toarray"`
	Key  []byte
	Fork journal.Fork
}

var encMode, decMode = journal.Codec(MaxHelloBooks)

// Encode encodes a message body of type t.
func Encode(t Type, body any) ([]byte, error) {
	b, err := encMode.Marshal(body)
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(envelope{V: Version, T: t, Body: b})
}

// Decode decodes a message from the wire and checks every bound. It returns
// a *Hello, *Have, *Want, *Data, *Bye or *Forked.
func Decode(msg []byte) (any, error) {
	if len(msg) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes, at most %d", ErrProtocol, len(msg), MaxMessageSize)
	}
	var env envelope
	if err := decMode.Unmarshal(msg, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrProtocol, err)
	}
	if env.V != Version {
		return nil, fmt.Errorf("%w: version %d, this peer speaks %d", ErrProtocol, env.V, Version)
	}
	var body interface{ check() error }
	switch env.T {
	case TypeHello:
		body = new(Hello)
	case TypeHave:
		body = new(Have)
	case TypeWant:
		body = new(Want)
	case TypeData:
		body = new(Data)
	case TypeBye:
		body = new(Bye)
	case TypeForked:
		body = new(Forked)
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrProtocol, env.T)
	}
	if err := checkNulls(env.T, env.Body); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, env.T, err)
	}
	if err := decMode.Unmarshal(env.Body, body); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, env.T, err)
	}
	if err := body.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, env.T, err)
	}
	return body, nil
}

func (h *Hello) check() error {
	if len(h.Books) > MaxHelloBooks {
		return fmt.Errorf("%d books", len(h.Books))
	}
	for _, b := range h.Books {
		if len(b.Prefix) != PrefixSize {
			return fmt.Errorf("key prefix of %d bytes", len(b.Prefix))
		}
		if b.Length > journal.MaxLength {
			return fmt.Errorf("length %d", b.Length)
		}
	}
	return nil
}

func (h *Have) check() error {
	if h.Upgrade.Head.Length == 0 || h.Upgrade.From > h.Upgrade.Head.Length {
		return fmt.Errorf("upgrade from %d to %d", h.Upgrade.From, h.Upgrade.Head.Length)
	}
	if h.Upgrade.From == 0 && (h.Upgrade.FromRoot != journal.Hash{} || len(h.Upgrade.Proof) != 0) {
		return errors.New("upgrade from 0 with a root or a proof (the root at 0 is 32 zero bytes, the proof empty)")
	}
	if h.Push == nil {
		return nil
	}
	if err := h.Push.check(); err != nil {
		return err
	}
	if k, _ := identity.IDFromBytes(h.Push.Key); k != h.Upgrade.Head.Key || h.Push.Length != h.Upgrade.Head.Length {
		return errors.New("pushed pages of another head")
	}
	return nil
}

func (w *Want) check() error {
	if _, err := keyOf(w.Key); err != nil {
		return err
	}
	if len(w.Ranges) == 0 || len(w.Ranges) > MaxWantRanges {
		return fmt.Errorf("%d ranges", len(w.Ranges))
	}
	for _, r := range w.Ranges {
		if r.Start >= r.End || r.End > journal.MaxLength {
			return fmt.Errorf("range [%d, %d)", r.Start, r.End)
		}
	}
	return nil
}

func (d *Data) check() error {
	if _, err := keyOf(d.Key); err != nil {
		return err
	}
	n := uint64(len(d.Pages))
	if n == 0 || n > MaxDataPages || d.Start > journal.MaxLength || d.Length > journal.MaxLength || d.Start+n > d.Length {
		return fmt.Errorf("%d pages at %d of %d", n, d.Start, d.Length)
	}
	for _, p := range d.Pages {
		if len(p) > journal.MaxPageSize {
			return fmt.Errorf("page of %d bytes", len(p))
		}
	}
	return nil
}

func (f *Forked) check() error {
	key, err := keyOf(f.Key)
	if err != nil {
		return err
	}
	if f.Fork.Old.Key != key {
		return errors.New("evidence of another book")
	}
	return f.Fork.Verify()
}

func (b *Bye) check() error {
	if len(b.Reason) > 1024 {
		return errors.New("reason too long")
	}
	return nil
}

func keyOf(b []byte) (identity.ID, error) {
	if len(b) != identity.IDSize {
		return identity.ID{}, fmt.Errorf("key of %d bytes", len(b))
	}
	return identity.ID(b), nil
}

// checkNulls refuses CBOR undefined anywhere, and null anywhere in a message body but
// where the format allows null: a hello's book list (read as no books, as
// the first peers sent it) and a have's push (no pages pushed). body is
// well formed: the envelope decoder checked it (definite lengths, no tags,
// nesting bounded).
func checkNulls(t Type, body []byte) error {
	var path []int
	rest, err := walkNulls(body, &path, func(path []int) error {
		if len(path) == 1 && path[0] == 1 && (t == TypeHello || t == TypeHave) {
			return nil
		}
		return fmt.Errorf("null at body%v: only a hello's books and a have's push may be null", path)
	})
	if err == nil && len(rest) != 0 {
		err = errors.New("trailing bytes")
	}
	return err
}

// maxWalkDepth bounds walkNulls' recursion (the decoder allows 10 levels).
const maxWalkDepth = 16

// walkNulls reads one CBOR item from b, calling null with the path (array
// indexes) of every null in it, and returns what follows. Undefined is an
// error.
func walkNulls(b []byte, path *[]int, null func([]int) error) ([]byte, error) {
	if len(*path) > maxWalkDepth {
		return nil, errors.New("nested too deep")
	}
	if len(b) == 0 {
		return nil, errors.New("truncated")
	}
	major, info := b[0]>>5, b[0]&0x1f
	b = b[1:]
	var arg uint64
	switch {
	case info < 24:
		arg = uint64(info)
	case info <= 27:
		n := 1 << (info - 24)
		if len(b) < n {
			return nil, errors.New("truncated")
		}
		for _, c := range b[:n] {
			arg = arg<<8 | uint64(c)
		}
		b = b[n:]
	default:
		return nil, fmt.Errorf("additional information %d", info)
	}
	switch major {
	case 0, 1: // integers
	case 2, 3: // byte and text strings
		if arg > uint64(len(b)) {
			return nil, errors.New("truncated")
		}
		b = b[arg:]
	case 4, 5: // arrays, maps (2 items a pair)
		n := arg
		if major == 5 {
			n *= 2
		}
		if n > uint64(len(b)) { // every item takes a byte at least
			return nil, errors.New("truncated")
		}
		for i := range n {
			*path = append(*path, int(i))
			var err error
			b, err = walkNulls(b, path, null)
			*path = (*path)[:len(*path)-1]
			if err != nil {
				return nil, err
			}
		}
	case 6:
		return nil, errors.New("tag")
	case 7:
		switch info {
		case 22: // null
			if err := null(slices.Clone(*path)); err != nil {
				return nil, err
			}
		case 23:
			return nil, fmt.Errorf("undefined at body%v", *path)
		}
	}
	return b, nil
}
