// Package seal encrypts the pages of a book end to end (issue #13): a
// page's payload is sealed with XChaCha20-Poly1305 under a key derived for
// that book, while the book's genesis, heads and Merkle tree are over the
// sealed bytes, so anyone can verify a book and only a holder of the key
// can read it.
//
// A sealed page is
//
//	0x01 (version) ‖ epoch (4 bytes, big-endian) ‖ nonce (24 bytes, random) ‖ ciphertext and tag (len(plain) + 16)
//
// The epoch says which secret sealed it (a task's secret changes when a
// member is removed: Epoch tells a reader which one to open it with). Its
// additional data binds it to its place: the book key, the page's index
// and the epoch, so a page moved to another book or index, or relabelled,
// does not open.
// The nonce is never derived from the index: two writers of one book (a
// fork: the same seed on two devices writing the same index) would reuse
// it. It is a random 16-byte prefix, drawn when a Key is made, then a
// 64-bit counter of the pages that Key sealed: unique within a Key, and
// two Keys (two devices, two tabs, two runs) share a prefix with
// probability 2^-128 per pair. One random draw per key, not per page: the
// browser's getRandomValues is a call out of WebAssembly.
//
// Keys are derived with HKDF-SHA256 from a secret (a task secret shared by
// its members, or for private books a key of the profile's seed) and the
// book key: each book has its own key, and knowing one book's key tells
// nothing of another's.
package seal

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Version is the first byte of a sealed page.
const Version = 1

// header is the version, the epoch and the nonce.
const header = 1 + 4 + chacha20poly1305.NonceSizeX

// Overhead is how many bytes sealing adds to a page.
const Overhead = header + chacha20poly1305.Overhead

// KeySize is the size of a key and of a secret.
const KeySize = chacha20poly1305.KeySize

// Errors of Open.
var (
	// ErrNotSealed: too short, or of another version.
	ErrNotSealed = errors.New("seal: not a sealed page")
	// ErrOpen: the page does not open with this key at this place: another
	// key (a reader without the task's secret, a removed member), another
	// book or index, or changed bytes.
	ErrOpen = errors.New("seal: the page does not open with this key (not a member's, or damaged)")
)

// A Key seals and opens the pages of one book, for one epoch of its
// secret.
type Key struct {
	book   identity.ID
	epoch  uint32
	prefix [16]byte      // random, per Key: the nonce's first bytes
	count  atomic.Uint64 // pages sealed: the nonce's last 8 bytes
	aead   interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
}

// BookKey derives the key of book from secret (KeySize bytes), the
// secret's epoch-th.
func BookKey(secret []byte, epoch uint32, book identity.ID) (*Key, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("seal: a secret of %d bytes, want %d", len(secret), KeySize)
	}
	k, err := hkdf.Key(sha256.New, secret, []byte("taskmessenger/page/v1"), string(book[:]), KeySize)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, err
	}
	key := &Key{book: book, epoch: epoch, aead: aead}
	if _, err := rand.Read(key.prefix[:]); err != nil {
		return nil, fmt.Errorf("seal: nonce prefix: %w", err)
	}
	return key, nil
}

// additional is the additional data of page index: the book key, the
// index and the epoch, big-endian.
func (k *Key) additional(ad *[adSize]byte, index uint64) []byte {
	copy(ad[:], k.book[:])
	binary.BigEndian.PutUint64(ad[len(k.book):], index)
	binary.BigEndian.PutUint32(ad[len(k.book)+8:], k.epoch)
	return ad[:]
}

// adSize is the size of a page's additional data.
const adSize = len(identity.ID{}) + 8 + 4

// Seal returns page index of the book, sealed.
func (k *Key) Seal(index uint64, plain []byte) ([]byte, error) {
	out := make([]byte, header, Overhead+len(plain))
	out[0] = Version
	binary.BigEndian.PutUint32(out[1:5], k.epoch)
	copy(out[5:], k.prefix[:])
	binary.BigEndian.PutUint64(out[5+len(k.prefix):header], k.count.Add(1))
	var ad [adSize]byte
	return k.aead.Seal(out, out[5:header], plain, k.additional(&ad, index)), nil
}

// Epoch returns the epoch of the secret that sealed a page.
func Epoch(sealed []byte) (uint32, error) {
	if len(sealed) < Overhead || sealed[0] != Version {
		return 0, ErrNotSealed
	}
	return binary.BigEndian.Uint32(sealed[1:5]), nil
}

// Open returns the payload of the sealed page index of the book.
func (k *Key) Open(index uint64, sealed []byte) ([]byte, error) {
	epoch, err := Epoch(sealed)
	if err != nil {
		return nil, err
	}
	if epoch != k.epoch {
		return nil, fmt.Errorf("%w: sealed in epoch %d, the key is of %d", ErrOpen, epoch, k.epoch)
	}
	var ad [adSize]byte
	plain, err := k.aead.Open(nil, sealed[5:header], sealed[header:], k.additional(&ad, index))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// NewSecret returns a new random secret.
func NewSecret() ([]byte, error) {
	s := make([]byte, KeySize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("seal: secret: %w", err)
	}
	return s, nil
}

// PrivateSecret returns the secret of a profile's private books (its
// tasks book, its logs, its audit book): derived from its seed, so that a
// profile restored from its seed alone reads them again, and nobody else
// can.
func PrivateSecret(k *identity.Key) []byte {
	s := k.DeriveSeed("private-pages", "v1")
	return s[:]
}
