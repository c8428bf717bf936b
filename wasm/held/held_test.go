package held_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

func statement(mirror *identity.Key) held.Statement {
	s := held.Statement{Book: identity.New(identity.Seed{7}).ID(), Length: 4, Time: 1700000000000}
	s.Root[0] = 1
	s.Sign(mirror)
	return s
}

// TestRoundTrip: a signed statement encodes, decodes and verifies as
// from its mirror only.
func TestRoundTrip(t *testing.T) {
	mirror := identity.New(identity.Seed{1})
	s := statement(mirror)
	b, err := held.Encode([]held.Statement{s})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := held.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Book != s.Book || ss[0].Length != s.Length || ss[0].Root != s.Root || ss[0].Time != s.Time || !bytes.Equal(ss[0].Sig, s.Sig) {
		t.Fatalf("decoded %+v, want %+v", ss, s)
	}
	if err := ss[0].Verify(mirror.ID()); err != nil {
		t.Fatal(err)
	}
	if err := ss[0].Verify(identity.New(identity.Seed{2}).ID()); !errors.Is(err, held.ErrBadSignature) {
		t.Fatalf("verified as another mirror's: %v", err)
	}
}

// TestTampered: a statement changed after it was signed does not verify.
func TestTampered(t *testing.T) {
	mirror := identity.New(identity.Seed{1})
	for name, change := range map[string]func(*held.Statement){
		"book":   func(s *held.Statement) { s.Book[0] ^= 1 },
		"length": func(s *held.Statement) { s.Length++ },
		"root":   func(s *held.Statement) { s.Root[1] ^= 1 },
		"time":   func(s *held.Statement) { s.Time++ },
	} {
		s := statement(mirror)
		change(&s)
		if err := s.Verify(mirror.ID()); !errors.Is(err, held.ErrBadSignature) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

// TestDecodeBounds: messages out of form or bounds are refused.
func TestDecodeBounds(t *testing.T) {
	mirror := identity.New(identity.Seed{1})
	many := make([]held.Statement, held.MaxStatements+1)
	for i := range many {
		many[i] = statement(mirror)
	}
	if _, err := held.Encode(many); !errors.Is(err, held.ErrBadMessage) {
		t.Errorf("encoded %d statements: %v", len(many), err)
	}
	for name, msg := range map[string]string{
		"not json":  `{`,
		"version 2": `{"v":2,"held":[]}`,
		"empty":     `{"v":1,"held":[]}`,
		"short root": `{"v":1,"held":[{"book":"` + mirror.ID().String() + `","length":1,"root":"AQ==","time":1,"sig":"` +
			strings.Repeat("A", 86) + `=="}]}`,
		"too long": `{"v":1,"held":[` + strings.Repeat(" ", held.MaxMessage) + `]}`,
	} {
		if _, err := held.Decode([]byte(msg)); !errors.Is(err, held.ErrBadMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := held.Encode([]held.Statement{statement(identity.New(identity.Seed{1}))})
	f.Add(b)
	f.Add([]byte(`{"v":1,"held":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := held.Decode(b)
		if err != nil {
			return
		}
		if len(ss) == 0 || len(ss) > held.MaxStatements {
			t.Fatalf("%d statements decoded", len(ss))
		}
		for _, s := range ss {
			_ = s.Verify(identity.ID{})
		}
	})
}

// TestMaxFits: MaxStatements statements of the largest numbers fit in
// MaxMessage.
func TestMaxFits(t *testing.T) {
	mirror := identity.New(identity.Seed{1})
	ss := make([]held.Statement, held.MaxStatements)
	for i := range ss {
		ss[i] = held.Statement{Book: mirror.ID(), Length: ^uint64(0), Time: -1 << 63}
		ss[i].Sign(mirror)
	}
	b, err := held.Encode(ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > held.MaxMessage {
		t.Fatalf("%d bytes, more than %d", len(b), held.MaxMessage)
	}
	if _, err := held.Decode(b); err != nil {
		t.Fatal(err)
	}
}
