package identity

import (
	"bytes"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// keyCacheMax bounds the decoded keys kept by Verify and Check.
const keyCacheMax = 1024

// A decodedKey is a key A decoded once: -A, and whether A is of small
// order (ID.Check refuses those).
type decodedKey struct {
	minusA *edwards25519.Point // immutable
	small  bool
}

// keyCache holds recently decoded keys: decoding a key (a square root in
// the field) is a tenth of a verification, and a replica verifies many
// heads, and checks many messages, of one book key.
var keyCache = struct {
	sync.Mutex
	m map[ID]decodedKey // guarded by the mutex
}{m: make(map[ID]decodedKey)}

// decodeKey returns the key id decoded, or false if id is not a curve
// point.
func decodeKey(id ID) (decodedKey, bool) {
	keyCache.Lock()
	k, ok := keyCache.m[id]
	keyCache.Unlock()
	if ok {
		return k, true
	}
	a, err := new(edwards25519.Point).SetBytes(id[:])
	if err != nil {
		return decodedKey{}, false
	}
	k.small = new(edwards25519.Point).MultByCofactor(a).Equal(edwards25519.NewIdentityPoint()) == 1
	k.minusA = a.Negate(a)
	keyCache.Lock()
	if len(keyCache.m) >= keyCacheMax {
		for k := range keyCache.m { // evict any one
			delete(keyCache.m, k)
			break
		}
	}
	keyCache.m[id] = k
	keyCache.Unlock()
	return k, true
}

// verify is crypto/ed25519.Verify (RFC 8032, cofactorless, canonical S
// only) with the key decoded once per key (minusKey), and a hot key's
// table: it accepts exactly the signatures the standard library accepts
// (verify_test.go checks, both ways).
func verify(id ID, msg, sig []byte) bool {
	if len(sig) != SignatureSize || sig[63]&224 != 0 {
		return false
	}
	key, ok := decodeKey(id)
	if !ok {
		return false
	}
	return verifyWith(id, key, hotTable(id, key), msg, sig)
}

// verifyWith is verify's check of the equation, with the key's table of
// multiples or (nil) without.
func verifyWith(id ID, key decodedKey, table *multiples, msg, sig []byte) bool {
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(id[:])
	h.Write(msg)
	var d [sha512.Size]byte
	h.Sum(d[:0])
	k, err := new(edwards25519.Scalar).SetUniformBytes(d[:])
	if err != nil {
		return false
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	// [S]B = R + [k]A, so R = [k](-A) + [S]B.
	if table == nil {
		var r edwards25519.Point
		r.VarTimeDoubleScalarBaseMult(k, key.minusA, s)
		return bytes.Equal(sig[:32], r.Bytes())
	}
	var r extended
	r.setIdentity()
	table.addMul(&r, k)
	baseMultiples().addMul(&r, s)
	enc, ok := r.bytes()
	return ok && bytes.Equal(sig[:32], enc[:])
}

// Hot keys. A replica verifies the head of every append it receives, all
// signed by the book's one key. For a key verified often, a table of
// multiples of -A (multiples.go: 98 KB) makes [k](-A) 51 additions, where
// the double-and-add of VarTimeDoubleScalarBaseMult doubles 253 times;
// [S]B is taken from the base point's table alike (43 additions), and R
// is encoded with math/big's inversion. A verification then costs about a
// third (BenchmarkVerify: 47 → 15.6 µs natively, 355 → 107 µs in wasm),
// and building a table about twenty. So a key gets one only when it is
// verified tableAfter times within hotWindow verifications (of any key),
// and at most maxTables keys have one: a new one takes the place of the
// table least recently used only if that one went unused for hotWindow
// verifications. Many keys verified in turn (a mirror catching up a
// thousand books) verify as before rather than build tables that never
// pay.
const (
	tableAfter = 4
	hotWindow  = 256
	maxTables  = 16
)

// hotTables are the hot keys' tables and the counts that make a key hot.
type hotTables struct {
	sync.Mutex
	tick   uint64           // verifications so far
	uses   map[ID]int       // verifications of keys without a table, in this window
	tables map[ID]*hotEntry // at most maxTables
}

var hot = &hotTables{uses: make(map[ID]int), tables: make(map[ID]*hotEntry)}

// A hotEntry is a key's table and the tick of its last use.
type hotEntry struct {
	table *multiples
	last  uint64
}

// hotTable returns id's table of multiples of -A, building it when the
// key is hot (see above); nil otherwise.
func hotTable(id ID, key decodedKey) *multiples {
	hot.Lock()
	hot.tick++
	if hot.tick%hotWindow == 0 {
		clear(hot.uses)
	}
	if e := hot.tables[id]; e != nil {
		e.last = hot.tick
		hot.Unlock()
		return e.table
	}
	hot.uses[id]++
	due := hot.uses[id] >= tableAfter && hot.roomLocked()
	hot.Unlock()
	if !due {
		return nil
	}
	t := newMultiples(key.minusA, keyWindow) // outside the lock: 0.3 ms natively, 2 ms in a browser
	hot.Lock()
	defer hot.Unlock()
	delete(hot.uses, id)
	if hot.roomLocked() {
		hot.tables[id] = &hotEntry{table: t, last: hot.tick}
	}
	return t
}

// roomLocked makes room for a table if it can: it reports whether fewer
// than maxTables keys have one, after taking the table least recently
// used away if it went unused for hotWindow verifications. Called with
// hot's lock held.
func (h *hotTables) roomLocked() bool {
	if len(h.tables) < maxTables {
		return true
	}
	var lru ID
	var oldest *hotEntry
	for id, e := range h.tables {
		if oldest == nil || e.last < oldest.last {
			lru, oldest = id, e
		}
	}
	if h.tick-oldest.last < hotWindow {
		return false
	}
	delete(h.tables, lru)
	return true
}
