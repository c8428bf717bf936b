// Package backup is a profile's backup: its export (journal.Export, the
// books) and, when the user chose a passphrase, a seal holding the
// profile's seed, so that an import on an empty browser restores the same
// identity and continues its own books.
//
// A Seal is versioned JSON:
//
//	{"v":1,"kdf":"scrypt","params":{"n":32768,"r":8,"p":1},
//	 "salt":"…16 bytes…","nonce":"…24 bytes…","ciphertext":"…80 bytes…"}
//
// The key is derived from the passphrase by a memory-hard KDF (scrypt as
// written; argon2id is read too) over the salt; the plaintext, seed ‖
// profile id (64 bytes), is sealed with XChaCha20-Poly1305 under that key
// and the nonce, with AdditionalData (the format name, the version and the
// profile id) as associated data. A wrong passphrase, a changed byte or a
// seal moved to another profile's export fails the same way:
// ErrWrongPassphrase. KDF parameters are bounded (MaxKDFMemory) before any
// work, so a hostile backup cannot make the page allocate more.
//
// The package is pure: no I/O, no goroutines. It is the same natively and
// under js/wasm, where the KDF is several times slower (see
// DefaultParams).
package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// Errors.
var (
	// ErrNotBackup means data that is not a task-messenger export: not
	// JSON, truncated, another format or version, or no profile.
	ErrNotBackup = errors.New("backup: not a task-messenger backup (truncated, damaged or another file)")
	// ErrBadSeal means a seal that is malformed: an unknown version or
	// KDF, parameters out of bounds, fields of the wrong size.
	ErrBadSeal = errors.New("backup: bad seal")
	// ErrWrongPassphrase means the seal did not open: the passphrase is
	// wrong, or the seal or the profile id beside it was changed.
	ErrWrongPassphrase = errors.New("wrong passphrase or damaged backup")
	// ErrNoPassphrase means an empty passphrase where one is required.
	ErrNoPassphrase = errors.New("backup: the passphrase is empty")
	// ErrNoSeal means a backup without a seal where the identity is needed.
	ErrNoSeal = errors.New("backup: this backup does not hold the identity (it was exported without a passphrase)")
)

// Version is the seal format version written and read.
const Version = 1

// KDF names.
const (
	KDFScrypt   = "scrypt"
	KDFArgon2id = "argon2id"
)

// Sizes of a seal's fields.
const (
	SaltSize       = 16
	NonceSize      = chacha20poly1305.NonceSizeX           // 24
	plainSize      = identity.SeedSize + identity.IDSize   // seed ‖ profile id
	CiphertextSize = plainSize + chacha20poly1305.Overhead // 80
	MaxKDFMemory   = 64 << 20                              // bytes a KDF may use
	maxPassphrase  = 1024                                  // bytes
	minScryptN     = 1 << 10                               // a sanity floor, not a strength claim
	maxScryptP     = 4                                     // bounds the work with the memory
	maxArgonTime   = 4                                     // passes
	maxArgonLanes  = 4                                     // threads (lanes)
	maxSealJSON    = 1024                                  // bytes of a seal's JSON
	adPrefix       = "taskmessenger-seal\x00"              // AdditionalData's start
	minArgonMemory = 8 * maxArgonLanes                     // KiB: argon2's own floor
)

// Params are a KDF's parameters: N, R, P for scrypt; T (passes), M (KiB)
// and P (lanes) for argon2id.
type Params struct {
	N int    `json:"n,omitempty"`
	R int    `json:"r,omitempty"`
	T uint32 `json:"t,omitempty"`
	M uint32 `json:"m,omitempty"`
	P int    `json:"p"`
}

// DefaultKDF and DefaultParams are what Seal uses: scrypt with N=2^15,
// r=8, p=1 uses 32 MiB and took 0.19 s natively (amd64) and 0.85 s as
// wasm (node) on a busy 2-core machine (BenchmarkKDF; docs/format.md).
const DefaultKDF = KDFScrypt

// DefaultParams are the parameters of DefaultKDF.
var DefaultParams = Params{N: 1 << 15, R: 8, P: 1}

// A Seal is a profile's seed sealed with a passphrase. See the package doc.
type Seal struct {
	V          int    `json:"v"`
	KDF        string `json:"kdf"`
	Params     Params `json:"params"`
	Salt       []byte `json:"salt"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// A Backup is an export with, optionally, the sealed identity.
type Backup struct {
	journal.Export
	Seal *Seal `json:"seal,omitempty"`
}

// Of exports every book of db, with db's seed sealed under passphrase
// when one is given (New); without, the backup holds the books only.
func Of(ctx context.Context, db *journal.DB, passphrase string) (*Backup, error) {
	ex, err := db.Export(ctx)
	if err != nil {
		return nil, err
	}
	if passphrase == "" {
		return &Backup{Export: *ex}, nil
	}
	b, err := New(ex, db.Identity().Seed(), passphrase)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return b, nil
}

// New returns ex with the seed sealed under passphrase. The seed must be
// ex's profile's.
func New(ex *journal.Export, seed identity.Seed, passphrase string) (*Backup, error) {
	if identity.New(seed).ID() != ex.Profile {
		return nil, errors.New("backup: the seed is not the export's profile's")
	}
	s, err := SealSeed(seed, passphrase)
	if err != nil {
		return nil, err
	}
	return &Backup{Export: *ex, Seal: s}, nil
}

// SealSeed seals seed under passphrase with DefaultKDF and DefaultParams.
func SealSeed(seed identity.Seed, passphrase string) (*Seal, error) {
	return sealWith(seed, passphrase, DefaultKDF, DefaultParams)
}

func sealWith(seed identity.Seed, passphrase, kdf string, p Params) (*Seal, error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	s := &Seal{V: Version, KDF: kdf, Params: p, Salt: make([]byte, SaltSize), Nonce: make([]byte, NonceSize)}
	if err := s.checkKDF(); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, err
	}
	key, err := s.key(passphrase)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	id := identity.New(seed).ID()
	plain := append(seed[:len(seed):len(seed)], id[:]...)
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, AdditionalData(s.V, id))
	clear(plain)
	clear(key)
	return s, nil
}

// AdditionalData is the AEAD's associated data of a seal of version v for
// profile: the format name, v and the profile id.
func AdditionalData(v int, profile identity.ID) []byte {
	ad := append([]byte(adPrefix), byte(v))
	return append(ad, profile[:]...)
}

func checkPassphrase(p string) error {
	switch {
	case p == "":
		return ErrNoPassphrase
	case len(p) > maxPassphrase:
		return fmt.Errorf("backup: a passphrase of %d bytes, at most %d", len(p), maxPassphrase)
	}
	return nil
}

// Check validates the seal's form and bounds, without the passphrase.
func (s *Seal) Check() error {
	if s.V != Version {
		return fmt.Errorf("%w: version %d, this build reads %d", ErrBadSeal, s.V, Version)
	}
	if err := s.checkKDF(); err != nil {
		return err
	}
	if len(s.Salt) != SaltSize || len(s.Nonce) != NonceSize || len(s.Ciphertext) != CiphertextSize {
		return fmt.Errorf("%w: salt, nonce and ciphertext of %d, %d and %d bytes (want %d, %d, %d)",
			ErrBadSeal, len(s.Salt), len(s.Nonce), len(s.Ciphertext), SaltSize, NonceSize, CiphertextSize)
	}
	return nil
}

func (s *Seal) checkKDF() error {
	p := s.Params
	switch s.KDF {
	case KDFScrypt:
		if p.T != 0 || p.M != 0 || p.N < minScryptN || p.N&(p.N-1) != 0 || p.R < 1 || p.P < 1 || p.P > maxScryptP ||
			p.N > MaxKDFMemory/128 || p.R > MaxKDFMemory/(128*p.N) {
			return fmt.Errorf("%w: scrypt n=%d r=%d p=%d out of bounds (n a power of 2 ≥ %d, 128·n·r ≤ %d MiB, 1 ≤ p ≤ %d)",
				ErrBadSeal, p.N, p.R, p.P, minScryptN, MaxKDFMemory>>20, maxScryptP)
		}
	case KDFArgon2id:
		if p.N != 0 || p.R != 0 || p.T < 1 || p.T > maxArgonTime || p.P < 1 || p.P > maxArgonLanes ||
			p.M < minArgonMemory || p.M > MaxKDFMemory>>10 {
			return fmt.Errorf("%w: argon2id t=%d m=%d KiB p=%d out of bounds (1 ≤ t ≤ %d, %d ≤ m ≤ %d KiB, 1 ≤ p ≤ %d)",
				ErrBadSeal, p.T, p.M, p.P, maxArgonTime, minArgonMemory, MaxKDFMemory>>10, maxArgonLanes)
		}
	default:
		return fmt.Errorf("%w: unknown kdf %q (scrypt or argon2id)", ErrBadSeal, s.KDF)
	}
	return nil
}

// key derives the AEAD key; the seal must be checked.
func (s *Seal) key(passphrase string) ([]byte, error) {
	p := s.Params
	if s.KDF == KDFArgon2id {
		return argon2.IDKey([]byte(passphrase), s.Salt, p.T, p.M, uint8(p.P), chacha20poly1305.KeySize), nil
	}
	return scrypt.Key([]byte(passphrase), s.Salt, p.N, p.R, p.P, chacha20poly1305.KeySize)
}

// Open returns the seed sealed for profile, or ErrWrongPassphrase.
func (s *Seal) Open(passphrase string, profile identity.ID) (identity.Seed, error) {
	if err := s.Check(); err != nil {
		return identity.Seed{}, err
	}
	if err := checkPassphrase(passphrase); err != nil {
		return identity.Seed{}, err
	}
	key, err := s.key(passphrase)
	if err != nil {
		return identity.Seed{}, fmt.Errorf("%w: %v", ErrBadSeal, err)
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return identity.Seed{}, err
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, AdditionalData(s.V, profile))
	if err != nil {
		return identity.Seed{}, ErrWrongPassphrase
	}
	defer clear(plain)
	seed := identity.Seed(plain[:identity.SeedSize])
	if !bytes.Equal(plain[identity.SeedSize:], profile[:]) || identity.New(seed).ID() != profile {
		// Only a sealer with the passphrase can write this: a broken seal.
		return identity.Seed{}, fmt.Errorf("%w: the sealed seed is not the profile's", ErrBadSeal)
	}
	return seed, nil
}

// Decode reads a backup's JSON: an export (format and version checked,
// a profile id) and its seal if any (Check'ed). The books are verified by
// the journal's Import, not here.
func Decode(data []byte) (*Backup, error) {
	var raw struct {
		journal.Export
		Seal json.RawMessage `json:"seal"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBackup, err)
	}
	ex := raw.Export
	if ex.Format != journal.ExportFormat || ex.Version != 1 || ex.Profile.IsZero() {
		return nil, fmt.Errorf("%w: want format %q version 1 with a profile", ErrNotBackup, journal.ExportFormat)
	}
	b := &Backup{Export: ex}
	if len(raw.Seal) == 0 || string(raw.Seal) == "null" {
		return b, nil
	}
	if len(raw.Seal) > maxSealJSON {
		return nil, fmt.Errorf("%w: a seal of %d bytes", ErrBadSeal, len(raw.Seal))
	}
	b.Seal = new(Seal)
	if err := json.Unmarshal(raw.Seal, b.Seal); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSeal, err)
	}
	if err := b.Seal.Check(); err != nil {
		return nil, err
	}
	return b, nil
}

// Unseal opens the backup's seal for its profile: the seed of b.Profile.
func (b *Backup) Unseal(passphrase string) (identity.Seed, error) {
	if b.Seal == nil {
		return identity.Seed{}, ErrNoSeal
	}
	return b.Seal.Open(passphrase, b.Profile)
}
