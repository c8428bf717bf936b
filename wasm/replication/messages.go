package replication

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/cborwire"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Version is the highest protocol version this package speaks. Version 1:
// only an author serves its books. Version 2: a peer that holds the whole
// of another author's book may serve it too (Config.Serve, CapServe).
// Version 3: an author may preview the pages it is writing (TypePreview,
// Config.Previews) before they are stored. Two
// peers speak the highest version both offer in their first hello (Offer);
// a peer whose hello offers nothing speaks version 1 only.
const Version = 3

// Offer is what a peer speaks: its protocol versions (bit v-1 set for
// version v) and capabilities. A full hello carries it as a reserved entry
// of its book list (OfferPrefix), which a version-1 peer ignores as a book
// it does not write: so the first hello stays a version-1 hello, decodable
// by every peer, and version-1 peers keep talking version 1.
type Offer struct {
	Versions uint16
	Caps     Caps
}

// Caps are the capabilities a peer offers.
type Caps uint32

// CapServe: the peer may serve books it holds but does not author.
const CapServe Caps = 1

// OfferPrefix is the reserved key prefix of the hello entry that carries an
// Offer; the entry's length is Versions | Caps<<16. No book key starts with
// it but by a 2^-64 chance, which an author cannot steer (book keys are
// hashes of its seed and the name).
var OfferPrefix = [PrefixSize]byte{0xff, 't', 'm', '-', 'v', 'e', 'r', 's'}

// Speaks reports whether the offer includes version v.
func (o Offer) Speaks(v uint) bool { return v >= 1 && v <= 16 && o.Versions&(1<<(v-1)) != 0 }

// Agree returns the highest version both offers include, or 0.
func Agree(a, b Offer) uint {
	for v := uint(16); v >= 1; v-- {
		if a.Speaks(v) && b.Speaks(v) {
			return v
		}
	}
	return 0
}

// offerV1 is what a hello without an offer means: version 1, nothing else.
var offerV1 = Offer{Versions: 1}

// Offer returns the offer a hello carries, or version 1's if none.
func (h *Hello) Offer() Offer {
	for _, b := range h.Books {
		if [PrefixSize]byte(b.Prefix) == OfferPrefix {
			return Offer{Versions: uint16(b.Length), Caps: Caps(b.Length >> 16)}
		}
	}
	return offerV1
}

// AddOffer appends the offer's reserved entry to a full hello.
func (h *Hello) AddOffer(o Offer) {
	h.Books = append(h.Books, HelloBook{Prefix: OfferPrefix[:], Length: uint64(o.Versions) | uint64(o.Caps)<<16})
}

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
	// TypePreview (version 3): pages the author is writing, not yet
	// stored; see Preview.
	TypePreview Type = 7
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
	case TypePreview:
		return "preview"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// ErrProtocol means the peer sent something the protocol does not allow:
// malformed, oversized, out of order or failing verification. The session
// ends with it.
var ErrProtocol = errors.New("replication: protocol violation")

// Every message on the wire is the CBOR array [version, type, body]: the
// envelope. Its head (the array's, the version's and the type's) is
// written and read here, and the body encoded straight after it and
// decoded in place, so that a message's pages are not copied once more
// for the envelope each way.

// appendEnvelopeHead appends the head of a message's envelope: the array
// of three, the version and the type (deterministic CBOR: shortest form).
func appendEnvelopeHead(dst []byte, v uint, t Type) []byte {
	dst = append(dst, 0x83)
	dst = cborwire.AppendUint(dst, uint64(v))
	return cborwire.AppendUint(dst, uint64(t))
}

// splitEnvelope reads the head of a message's envelope and returns the
// version, the type and the body: the rest of msg, not copied (its
// decoder checks it is one item, with nothing after it).
func splitEnvelope(msg []byte) (v, t uint64, body []byte, err error) {
	major, n, rest, err := cborwire.ReadHead(msg)
	if err != nil || major != cborwire.Array || n != 3 {
		return 0, 0, nil, errors.New("not an array of version, type and body")
	}
	if major, v, rest, err = cborwire.ReadHead(rest); err != nil || major != cborwire.Uint {
		return 0, 0, nil, errors.New("version is not an unsigned integer")
	}
	if major, t, rest, err = cborwire.ReadHead(rest); err != nil || major != cborwire.Uint {
		return 0, 0, nil, errors.New("type is not an unsigned integer")
	}
	if len(rest) == 0 {
		return 0, 0, nil, errors.New("no body")
	}
	return v, t, rest, nil
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

// A Preview (version 3) is a have of pages the author is writing, sent as
// the write begins: the new head (an upgrade from the reader's length, the
// pages' start, without a consistency proof) and the pages it adds, proven
// under it. The reader may check and show them (journal.Book.Preview) and
// must not store them: the author's write may fail, and then it signs
// other pages at those indexes. The have sent once they are stored is
// what a reader stores.
type Preview Have

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

// Encode encodes a message body of type t as version 1 (the version of
// every message sent before the peer's hello).
func Encode(t Type, body any) ([]byte, error) { return EncodeVersion(1, t, body) }

// EncodeVersion encodes a message body of type t as version v.
func EncodeVersion(v uint, t Type, body any) ([]byte, error) {
	dst := appendEnvelopeHead(make([]byte, 0, sizeHint(body)), v, t)
	switch b := body.(type) { // the hot messages, by hand (wire.go)
	case *Have:
		return appendHave(dst, b), nil
	case *Preview:
		return appendHave(dst, (*Have)(b)), nil
	case *Data:
		return appendData(dst, b), nil
	}
	buf := bytes.NewBuffer(dst)
	if err := bufMode.MarshalToBuffer(body, buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// bufMode is encMode, encoding into a buffer given.
var bufMode = encMode.(cbor.UserBufferEncMode)

// sizeHint is about the size of a message with body, pages and proofs
// counted, for its buffer to be allocated once.
func sizeHint(body any) int {
	if p, ok := body.(*Preview); ok {
		body = (*Have)(p)
	}
	n := 128
	data := func(d *Data) {
		for _, p := range d.Pages {
			n += len(p) + 9
		}
		n += d.Proof.Size() * (tlog.HashSize + 2)
	}
	switch b := body.(type) {
	case *Data:
		data(b)
	case *Have:
		// The head (key, root, signature, length), the root at From and
		// their framing: 180 bytes.
		n += 192 + len(b.Upgrade.Proof)*(tlog.HashSize+2)
		if b.Push != nil {
			data(b.Push)
		}
	}
	return n
}

// Decode decodes a message from the wire and checks every bound. It returns
// a *Hello, *Have, *Want, *Data, *Bye, *Forked or *Preview.
func Decode(msg []byte) (any, error) {
	_, m, err := DecodeVersion(msg)
	return m, err
}

// DecodeVersion is Decode, also returning the message's version (1 to
// Version; a session also checks it is the one agreed).
func DecodeVersion(msg []byte) (uint, any, error) {
	if len(msg) > MaxMessageSize {
		return 0, nil, fmt.Errorf("%w: message of %d bytes, at most %d", ErrProtocol, len(msg), MaxMessageSize)
	}
	v, t, raw, err := splitEnvelope(msg)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: envelope: %v", ErrProtocol, err)
	}
	if v < 1 || v > Version {
		return 0, nil, fmt.Errorf("%w: version %d, this peer speaks 1 to %d", ErrProtocol, v, Version)
	}
	if t > math.MaxUint8 {
		return 0, nil, fmt.Errorf("%w: unknown message type %d", ErrProtocol, t)
	}
	typ := Type(t)
	if typ == TypePreview && v < 3 {
		return 0, nil, fmt.Errorf("%w: a preview in version %d (previews are version 3)", ErrProtocol, v)
	}
	body, ok := readFast(typ, raw)
	if !ok {
		if body, err = decodeGeneral(typ, raw); err != nil {
			return 0, nil, err
		}
	}
	if err := body.check(); err != nil {
		return 0, nil, fmt.Errorf("%w: %s: %v", ErrProtocol, typ, err)
	}
	return uint(v), body, nil
}

// decodeGeneral decodes a message body of type typ with the general
// decoder, which checks the body's CBOR strictly (journal.DecOptions).
func decodeGeneral(typ Type, raw []byte) (interface{ check() error }, error) {
	var body interface{ check() error }
	switch typ {
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
	case TypePreview:
		body = new(Preview)
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrProtocol, typ)
	}
	if err := checkNulls(typ, raw); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, typ, err)
	}
	if err := decMode.Unmarshal(raw, body); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, typ, err)
	}
	return body, nil
}

func (h *Hello) check() error {
	if len(h.Books) > MaxHelloBooks {
		return fmt.Errorf("%d books", len(h.Books))
	}
	offers := 0
	for _, b := range h.Books {
		if len(b.Prefix) != PrefixSize {
			return fmt.Errorf("key prefix of %d bytes", len(b.Prefix))
		}
		if b.Length > journal.MaxLength {
			return fmt.Errorf("length %d", b.Length)
		}
		if [PrefixSize]byte(b.Prefix) == OfferPrefix {
			offers++
		}
	}
	switch {
	case offers > 1:
		return fmt.Errorf("%d offers of versions", offers)
	case offers == 1 && !h.Full:
		return errors.New("an offer of versions in a later hello (only the first, full hello offers)")
	case offers == 1 && h.Offer().Versions == 0:
		return errors.New("an offer of no version")
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

func (p *Preview) check() error {
	if err := (*Have)(p).check(); err != nil {
		return err
	}
	up, d := &p.Upgrade, p.Push
	switch {
	case d == nil || len(d.Pages) == 0:
		return errors.New("a preview of no pages")
	case up.From == 0 || d.Start != up.From || d.Start+uint64(len(d.Pages)) != up.Head.Length:
		return fmt.Errorf("a preview of pages [%d, +%d) with a head from %d to %d", d.Start, len(d.Pages), up.From, up.Head.Length)
	case len(up.Proof) != 0 || len(d.Proof.Tree) != 0:
		return errors.New("a preview with a consistency proof")
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
// untrusted and not yet checked by the decoder: anything but one well
// formed item of definite lengths, no tags, nested at most maxWalkDepth,
// is an error here too (the decoder then checks it again, strictly).
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
	info := byte(0)
	if len(b) > 0 {
		info = b[0] & 0x1f
	}
	major, arg, b, err := cborwire.ReadHead(b)
	if err != nil {
		return nil, err
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
