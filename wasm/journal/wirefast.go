package journal

import (
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/cborwire"
)

// Heads, upgrades and range proofs by hand. A replica receives an upgrade
// with every append (a have) and a range proof with every batch of pages,
// so they are written and read without the general encoder's reflection
// (wasm/internal/cborwire). The Append functions write the bytes the
// general encoder writes for the wire structs (they are MarshalCBOR's
// implementation); the Read functions read that form only, and report
// false for anything else, which the general decoder then accepts or
// refuses: what is accepted, and as what, stays the general decoder's
// (wirefast_test.go and FuzzWireFast check both ways).

// unmarshalWire decodes all of b into v: by hand (read) if b is in the
// form the Append functions write, else with the general decoder.
func unmarshalWire[T any](v *T, b []byte, read func([]byte) (T, []byte, bool), general func([]byte) (T, error)) error {
	got, rest, ok := read(b)
	if !ok || len(rest) != 0 {
		var err error
		if got, err = general(b); err != nil {
			return err
		}
	}
	*v = got
	return nil
}

// appendHead appends h as wireHead encodes: [key, length, root, sig].
func appendHead(dst []byte, h *Head) []byte {
	dst = append(dst, 0x84)
	dst = cborwire.AppendBytes(dst, h.Key[:])
	dst = cborwire.AppendUint(dst, h.Length)
	dst = cborwire.AppendBytes(dst, h.Root[:])
	return cborwire.AppendBytes(dst, h.Sig)
}

// appendHashes appends hs as hashesToWire's array (empty, never null, for none).
func appendHashes(dst []byte, hs []Hash) []byte {
	dst = cborwire.AppendHead(dst, cborwire.Array, uint64(len(hs)))
	for i := range hs {
		dst = cborwire.AppendBytes(dst, hs[i][:])
	}
	return dst
}

// AppendUpgrade appends u's encoding, as u.MarshalCBOR makes it.
func AppendUpgrade(dst []byte, u *Upgrade) []byte {
	dst = append(dst, 0x84)
	dst = appendHead(dst, &u.Head)
	dst = cborwire.AppendUint(dst, u.From)
	dst = cborwire.AppendBytes(dst, u.FromRoot[:])
	return appendHashes(dst, u.Proof)
}

// AppendRangeProof appends p's encoding, as p.MarshalCBOR makes it.
func AppendRangeProof(dst []byte, p *RangeProof) []byte {
	dst = append(dst, 0x82)
	dst = appendHashes(dst, p.Left)
	return appendHashes(dst, p.Tree)
}

// readHead reads a head as appendHead writes it, with the sizes
// wireHead.head checks.
func readHead(b []byte) (h Head, rest []byte, ok bool) {
	n, b, ok := cborwire.ReadArray(b, 4)
	if !ok || n != 4 {
		return Head{}, nil, false
	}
	if b, ok = cborwire.ReadFixed(b, h.Key[:]); !ok {
		return Head{}, nil, false
	}
	if h.Length, b, ok = cborwire.ReadUint(b); !ok || h.Length > MaxLength {
		return Head{}, nil, false
	}
	if b, ok = cborwire.ReadFixed(b, h.Root[:]); !ok {
		return Head{}, nil, false
	}
	if h.Sig, b, ok = cborwire.ReadCopy(b); !ok || len(h.Sig) != identity.SignatureSize {
		return Head{}, nil, false
	}
	return h, b, true
}

// readHashes reads an array of at most max hashes, as hashesFromWire
// gives them (nil for none).
func readHashes(b []byte, max int) (hs []Hash, rest []byte, ok bool) {
	n, b, ok := cborwire.ReadArray(b, max)
	if !ok {
		return nil, nil, false
	}
	if n == 0 {
		return nil, b, true
	}
	hs = make([]Hash, n)
	for i := range hs {
		if b, ok = cborwire.ReadFixed(b, hs[i][:]); !ok {
			return nil, nil, false
		}
	}
	return hs, b, true
}

// ReadUpgrade reads an upgrade as AppendUpgrade writes it from the front of
// b, with every check UnmarshalCBOR makes, and returns what follows it; or
// false, and b is for the general decoder (Upgrade.UnmarshalCBOR).
func ReadUpgrade(b []byte) (u Upgrade, rest []byte, ok bool) {
	n, b, ok := cborwire.ReadArray(b, 4)
	if !ok || n != 4 {
		return Upgrade{}, nil, false
	}
	if u.Head, b, ok = readHead(b); !ok {
		return Upgrade{}, nil, false
	}
	if u.From, b, ok = cborwire.ReadUint(b); !ok {
		return Upgrade{}, nil, false
	}
	if b, ok = cborwire.ReadFixed(b, u.FromRoot[:]); !ok {
		return Upgrade{}, nil, false
	}
	if u.Proof, b, ok = readHashes(b, MaxProofHashes); !ok {
		return Upgrade{}, nil, false
	}
	return u, b, true
}

// ReadRangeProof reads a range proof as AppendRangeProof writes it, as
// ReadUpgrade reads an upgrade.
func ReadRangeProof(b []byte) (p RangeProof, rest []byte, ok bool) {
	n, b, ok := cborwire.ReadArray(b, 2)
	if !ok || n != 2 {
		return RangeProof{}, nil, false
	}
	if p.Left, b, ok = readHashes(b, MaxProofHashes); !ok {
		return RangeProof{}, nil, false
	}
	if p.Tree, b, ok = readHashes(b, MaxProofHashes-len(p.Left)); !ok {
		return RangeProof{}, nil, false
	}
	return p, b, true
}
