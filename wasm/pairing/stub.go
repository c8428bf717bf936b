// Package pairing: a PLACEHOLDER with the API of branch pairing (no
// key exchange: the secret half travels in clear), so that the app
// builds and its tests run until that branch is merged. Deleted by the
// merge of branch pairing.
package pairing

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// Errors.
var (
	ErrBadCode   = errors.New("pairing: not a pairing code")
	ErrWrongCode = errors.New("pairing: wrong code")
	ErrExpired   = errors.New("pairing: the code expired")
	ErrCodeSpent = errors.New("pairing: the code was used")
)

// Lifetime of an offer.
const Lifetime = 10 * time.Minute

var zb32 = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// A Code is a pairing code.
type Code [10]byte

func (c Code) String() string {
	raw := zb32.EncodeToString(c[:])
	return "tml1-" + raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
}

// Rendezvous is the showing device's key.
func (c Code) Rendezvous() *identity.Key {
	seed, _ := hkdf.Key(sha256.New, c[:5], []byte("taskmessenger/pairing/rendezvous/v1"), "", identity.SeedSize)
	return identity.New(identity.Seed(seed))
}

// ParseCode reads a code.
func ParseCode(s string) (Code, error) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if !strings.HasPrefix(s, "tml1") || len(s) != 20 {
		return Code{}, fmt.Errorf("%w: a pairing code is tml1-xxxx-xxxx-xxxx-xxxx", ErrBadCode)
	}
	var c Code
	if n, err := zb32.Decode(c[:], []byte(s[4:])); err != nil || n != 10 {
		return Code{}, fmt.Errorf("%w: %v", ErrBadCode, err)
	}
	return c, nil
}

// A Request is what the new device asks for.
type Request struct {
	Device identity.ID
	Label  string
}

// An Offer is a code being shown.
type Offer struct {
	Code    Code
	Expires time.Time

	mu    sync.Mutex
	fails int
	spent bool
}

// NewOffer makes an offer valid for Lifetime from now.
func NewOffer(now time.Time) (*Offer, error) {
	var c Code
	if _, err := rand.Read(c[:]); err != nil {
		return nil, err
	}
	return &Offer{Code: c, Expires: now.Add(Lifetime)}, nil
}

type claimMsg struct {
	Secret []byte      `json:"secret"`
	Device identity.ID `json:"device"`
	Label  string      `json:"label"`
}

type answerMsg struct {
	Err    string `json:"err,omitempty"`
	Bundle []byte `json:"bundle,omitempty"`
}

// Serve answers one claim on p.
func (o *Offer) Serve(ctx context.Context, p port.Port, self, peer identity.ID, grant func(context.Context, Request) ([]byte, error)) error {
	b, err := p.Recv(ctx)
	if err != nil {
		return err
	}
	var m claimMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	o.mu.Lock()
	switch {
	case time.Now().After(o.Expires):
		err = ErrExpired
	case o.spent:
		err = ErrCodeSpent
	case string(m.Secret) != string(o.Code[5:]):
		if o.fails++; o.fails >= 3 {
			o.spent = true
		}
		err = ErrWrongCode
	default:
		o.spent = true
	}
	o.mu.Unlock()
	if err != nil {
		out, _ := json.Marshal(answerMsg{Err: err.Error()})
		_ = p.Send(ctx, out)
		return err
	}
	bundle, err := grant(ctx, Request{Device: m.Device, Label: m.Label})
	if err != nil {
		out, _ := json.Marshal(answerMsg{Err: "refused: " + err.Error()})
		_ = p.Send(ctx, out)
		return err
	}
	out, _ := json.Marshal(answerMsg{Bundle: bundle})
	return p.Send(ctx, out)
}

// Claim asks the offer behind p for req.
func Claim(ctx context.Context, p port.Port, code Code, self, peer identity.ID, req Request) ([]byte, error) {
	b, _ := json.Marshal(claimMsg{Secret: code[5:], Device: req.Device, Label: req.Label})
	if err := p.Send(ctx, b); err != nil {
		return nil, err
	}
	b, err := p.Recv(ctx)
	if err != nil {
		return nil, err
	}
	var a answerMsg
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	for _, e := range []error{ErrWrongCode, ErrExpired, ErrCodeSpent} {
		if a.Err == e.Error() {
			return nil, e
		}
	}
	if a.Err != "" {
		return nil, errors.New("pairing: " + a.Err)
	}
	return a.Bundle, nil
}
