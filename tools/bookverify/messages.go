package bookverify

import (
	"fmt"
)

// Replication message types (docs/format.md, "Replication messages").
const (
	TypeHello = 1
	TypeHave  = 2
	TypeWant  = 3
	TypeData  = 4
	TypeBye   = 5
	// TypePreview (version 3): pages the author is writing, not yet
	// stored; a reader may show them, never store them.
	TypePreview = 7
)

// Bounds of the replication protocol.
const (
	MaxMessageSize = 4 << 20
	MaxHelloBooks  = 1 << 16
	MaxWantRanges  = 64
	MaxDataPages   = 4096
	MaxByeReason   = 1024
	// MaxVersion is the highest protocol version (docs/format.md,
	// "Versions"); a message carries 1 until its sender has the peer's hello.
	MaxVersion = 3
)

// OfferPrefix is the reserved key prefix of the hello entry that offers a
// peer's versions and capabilities (length = versions | capabilities<<16).
var OfferPrefix = [8]byte{0xff, 't', 'm', '-', 'v', 'e', 'r', 's'}

// A Message is one decoded replication message: Type says which fields
// are set.
type Message struct {
	Type uint64

	// hello
	Full    bool
	Books   []HelloBook
	Version uint64 // of the envelope

	// have, preview
	Upgrade *Upgrade
	Push    *Data // nil: no pages pushed (a have)

	// want
	Key    [32]byte
	Ranges [][2]uint64

	// data
	Data *Data

	// bye
	Reason string
}

// HelloBook is a reader's length of one book, by key prefix.
type HelloBook struct {
	Prefix [8]byte
	Length uint64
}

// An Upgrade is an author's head for a reader at length From, with the
// root at From and the consistency proof from From.
type Upgrade struct {
	Head     *Head
	From     uint64
	FromRoot Hash // 32 zero bytes when From is 0
	Proof    []Hash
}

// Data is pages [Start, Start+len(Pages)) proven against the head of
// length Length.
type Data struct {
	Key    [32]byte
	Start  uint64
	Length uint64
	Pages  [][]byte
	Proof  *RangeProof
}

// ParseMessage decodes a replication message [version, type, body]. It
// checks the format and bounds and each head's signature; proofs are for
// the caller (VerifyUpgrade, VerifyRange).
func ParseMessage(msg []byte) (*Message, error) {
	if len(msg) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrFormat, len(msg))
	}
	r := &reader{b: msg}
	m, err := readMessage(r)
	if err == nil {
		err = r.end("message")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if m.Upgrade != nil {
		if err := m.Upgrade.Head.Verify(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func readMessage(r *reader) (*Message, error) {
	if n, err := r.array("message"); err != nil || n != 3 {
		return nil, fmt.Errorf("message: not an array of 3: %v", err)
	}
	v, err := r.uint("version")
	if err != nil || v < 1 || v > MaxVersion {
		return nil, fmt.Errorf("version %d: %v", v, err)
	}
	t, err := r.uint("type")
	if err != nil {
		return nil, err
	}
	m := &Message{Type: t, Version: v}
	switch t {
	case TypeHello:
		return m, readHello(r, m)
	case TypeHave:
		return m, readPushed(r, m, "have")
	case TypePreview:
		return m, readPreview(r, m)
	case TypeWant:
		return m, readWant(r, m)
	case TypeData:
		m.Data, err = readData(r)
		return m, err
	case TypeBye:
		if n, err := r.array("bye"); err != nil || n != 1 {
			return nil, fmt.Errorf("bye: not an array of 1: %v", err)
		}
		if m.Reason, err = r.text("bye reason"); err == nil && len(m.Reason) > MaxByeReason {
			err = fmt.Errorf("bye: reason of %d bytes", len(m.Reason))
		}
		return m, err
	}
	return nil, fmt.Errorf("unknown type %d", t)
}

// readPushed reads the body of a have or a preview (what): [upgrade,
// pages pushed under its head, or null].
func readPushed(r *reader, m *Message, what string) error {
	if n, err := r.array(what); err != nil || n != 2 {
		return fmt.Errorf("%s: not an array of 2: %v", what, err)
	}
	var err error
	if m.Upgrade, err = readUpgrade(r); err != nil {
		return err
	}
	if r.null() {
		return nil
	}
	if m.Push, err = readData(r); err != nil {
		return err
	}
	if m.Push.Key != m.Upgrade.Head.Key || m.Push.Length != m.Upgrade.Head.Length {
		return fmt.Errorf("%s: pages pushed against another head", what)
	}
	return nil
}

// readPreview reads a preview (version 3): an upgrade from the reader's
// length (no consistency proof) and exactly the pages its head adds.
func readPreview(r *reader, m *Message) error {
	if m.Version < 3 {
		return fmt.Errorf("a preview in version %d", m.Version)
	}
	if err := readPushed(r, m, "preview"); err != nil {
		return err
	}
	u, p := m.Upgrade, m.Push
	switch {
	case p == nil:
		return fmt.Errorf("preview: no pages")
	case u.From == 0 || p.Start != u.From || p.Start+uint64(len(p.Pages)) != p.Length:
		return fmt.Errorf("preview: pages [%d, +%d) with a head from %d to %d", p.Start, len(p.Pages), u.From, p.Length)
	case len(u.Proof) != 0 || len(p.Proof.Tree) != 0:
		return fmt.Errorf("preview: a consistency proof")
	}
	return nil
}

func readHello(r *reader, m *Message) error {
	if n, err := r.array("hello"); err != nil || n != 2 {
		return fmt.Errorf("hello: not an array of 2: %v", err)
	}
	switch {
	case r.off < len(r.b) && r.b[r.off] == 0xf5:
		m.Full = true
	case r.off < len(r.b) && r.b[r.off] == 0xf4:
	default:
		return fmt.Errorf("hello: full is not a boolean")
	}
	r.off++
	if r.null() { // the first peers' empty list
		return nil
	}
	n, err := r.array("hello books")
	if err != nil {
		return err
	}
	if n > MaxHelloBooks {
		return fmt.Errorf("hello: %d books", n)
	}
	for range n {
		if k, err := r.array("hello book"); err != nil || k != 2 {
			return fmt.Errorf("hello book: not an array of 2: %v", err)
		}
		p, err := r.bytes("key prefix", 8)
		if err != nil {
			return err
		}
		l, err := r.uint("length")
		if err != nil {
			return err
		}
		if l > MaxLength {
			return fmt.Errorf("hello: length %d", l)
		}
		m.Books = append(m.Books, HelloBook{Prefix: [8]byte(p), Length: l})
	}
	return checkOffer(m)
}

// checkOffer: at most one offer entry, in a full hello only, offering a
// version at least.
func checkOffer(m *Message) error {
	offers := 0
	for _, b := range m.Books {
		if b.Prefix == OfferPrefix {
			offers++
			if uint16(b.Length) == 0 {
				return fmt.Errorf("hello: an offer of no version")
			}
		}
	}
	if offers > 1 || offers == 1 && !m.Full {
		return fmt.Errorf("hello: %d offers (only a full hello offers, once)", offers)
	}
	return nil
}

func readWant(r *reader, m *Message) error {
	if n, err := r.array("want"); err != nil || n != 2 {
		return fmt.Errorf("want: not an array of 2: %v", err)
	}
	key, err := r.bytes("want key", 32)
	if err != nil {
		return err
	}
	m.Key = [32]byte(key)
	n, err := r.array("want ranges")
	if err != nil {
		return err
	}
	if n == 0 || n > MaxWantRanges {
		return fmt.Errorf("want: %d ranges", n)
	}
	for range n {
		if k, err := r.array("range"); err != nil || k != 2 {
			return fmt.Errorf("range: not an array of 2: %v", err)
		}
		s, err := r.uint("range start")
		if err != nil {
			return err
		}
		e, err := r.uint("range end")
		if err != nil {
			return err
		}
		if s >= e || e > MaxLength {
			return fmt.Errorf("range [%d, %d)", s, e)
		}
		m.Ranges = append(m.Ranges, [2]uint64{s, e})
	}
	return nil
}

func readUpgrade(r *reader) (*Upgrade, error) {
	if n, err := r.array("upgrade"); err != nil || n != 4 {
		return nil, fmt.Errorf("upgrade: not an array of 4: %v", err)
	}
	start := r.off
	if err := skipHead(r); err != nil {
		return nil, err
	}
	h, err := ParseHead(r.b[start:r.off])
	if err != nil && h == nil {
		return nil, err
	}
	u := &Upgrade{Head: h}
	if u.From, err = r.uint("upgrade from"); err != nil {
		return nil, err
	}
	root, err := r.bytes("upgrade from root", 32)
	if err != nil {
		return nil, err
	}
	u.FromRoot = Hash(root)
	proof, err := r.hashes("upgrade proof", MaxProofHashes)
	if err != nil {
		return nil, err
	}
	for _, p := range proof {
		u.Proof = append(u.Proof, Hash(p))
	}
	if h.Length == 0 || u.From > h.Length {
		return nil, fmt.Errorf("upgrade from %d to %d", u.From, h.Length)
	}
	if u.From == 0 && (u.FromRoot != Hash{} || len(u.Proof) != 0) {
		return nil, fmt.Errorf("upgrade from 0 with a root or a proof")
	}
	return u, nil
}

// skipHead reads past a head: an array of 4 items (bytes, uint, bytes,
// bytes), for ParseHead to decode.
func skipHead(r *reader) error {
	if n, err := r.array("head"); err != nil || n != 4 {
		return fmt.Errorf("head: not an array of 4: %v", err)
	}
	if _, err := r.bytes("head key", 32); err != nil {
		return err
	}
	if _, err := r.uint("head length"); err != nil {
		return err
	}
	if _, err := r.bytes("head root", 32); err != nil {
		return err
	}
	_, err := r.bytes("head signature", 64)
	return err
}

func readData(r *reader) (*Data, error) {
	if n, err := r.array("data"); err != nil || n != 5 {
		return nil, fmt.Errorf("data: not an array of 5: %v", err)
	}
	key, err := r.bytes("data key", 32)
	if err != nil {
		return nil, err
	}
	d := &Data{Key: [32]byte(key)}
	if d.Start, err = r.uint("data start"); err != nil {
		return nil, err
	}
	if d.Length, err = r.uint("data length"); err != nil {
		return nil, err
	}
	n, err := r.array("data pages")
	if err != nil {
		return nil, err
	}
	if n == 0 || n > MaxDataPages || d.Start > MaxLength || d.Length > MaxLength || d.Start+n > d.Length {
		return nil, fmt.Errorf("data: %d pages at %d of %d", n, d.Start, d.Length)
	}
	for range n {
		p, err := r.bytes("page", -1)
		if err != nil {
			return nil, err
		}
		if len(p) > MaxPageSize {
			return nil, fmt.Errorf("page of %d bytes", len(p))
		}
		d.Pages = append(d.Pages, p)
	}
	if d.Proof, err = readRangeProof(r); err != nil {
		return nil, err
	}
	return d, nil
}

// VerifyUpgrade checks an upgrade against the head a reader holds (nil
// if none): from must be the held length, and the new head must extend the
// held one. At from 0 nothing is proven: the first head is taken on its
// signature, and FromRoot must be 32 zero bytes.
func VerifyUpgrade(held *Head, u *Upgrade) error {
	if held == nil || held.Length == 0 {
		if u.From != 0 || u.FromRoot != (Hash{}) || len(u.Proof) != 0 {
			return fmt.Errorf("%w: upgrade from %d for a reader with nothing", ErrProof, u.From)
		}
		return nil
	}
	if u.From != held.Length {
		return fmt.Errorf("%w: upgrade from %d, reader at %d", ErrProof, u.From, held.Length)
	}
	if u.Head.Length > held.Length && u.FromRoot != held.Root {
		return fmt.Errorf("%w: the author's root at %d is not the reader's: a fork", ErrProof, held.Length)
	}
	return VerifyConsistency(held, u.Head, u.Proof)
}
