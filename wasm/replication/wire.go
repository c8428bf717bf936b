package replication

import (
	"github.com/task-messenger/task-messenger/wasm/internal/cborwire"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// The hot messages by hand. A have goes out with every append and data
// with every batch of pages a catch-up takes, so they are encoded and
// decoded without the general encoder's reflection (which cost a have
// 5.4 µs natively, a third of its signature's check, and 20 µs in a
// browser).
// appendHave and appendData write the bytes the general encoder writes
// for the same structs; readFast reads that form only and reports false
// for anything else, which DecodeVersion then gives the general decoder:
// what a peer may send, and what it decodes to, stays the general
// decoder's (wire_test.go and FuzzReadFast check both ways).

// appendHave appends h as the general encoder writes it: [upgrade, push],
// the push null if there is none.
func appendHave(dst []byte, h *Have) []byte {
	dst = journal.AppendUpgrade(append(dst, 0x82), &h.Upgrade)
	if h.Push == nil {
		return append(dst, cborwire.Null)
	}
	return appendData(dst, h.Push)
}

// appendData appends d as the general encoder writes it: [key, start,
// length, pages, proof], nil slices as null.
func appendData(dst []byte, d *Data) []byte {
	dst = append(dst, 0x85)
	dst = cborwire.AppendBytes(dst, d.Key)
	dst = cborwire.AppendUint(dst, d.Start)
	dst = cborwire.AppendUint(dst, d.Length)
	if d.Pages == nil {
		dst = append(dst, cborwire.Null)
	} else {
		dst = cborwire.AppendHead(dst, cborwire.Array, uint64(len(d.Pages)))
		for _, p := range d.Pages {
			dst = cborwire.AppendBytes(dst, p)
		}
	}
	return journal.AppendRangeProof(dst, &d.Proof)
}

// readFast decodes the body of a have, a preview or a data message in the
// form appendHave and appendData write, to what the general decoder makes
// of it; false for any other type or form.
func readFast(t Type, body []byte) (interface{ check() error }, bool) {
	switch t {
	case TypeHave:
		h := new(Have)
		return h, readHave(body, h)
	case TypePreview: // as a have, but its push is never null
		p := new(Preview)
		return p, readHave(body, (*Have)(p)) && p.Push != nil
	case TypeData:
		d := new(Data)
		rest, ok := readData(body, d)
		return d, ok && len(rest) == 0
	}
	return nil, false
}

// readHave reads the whole of b as a have.
func readHave(b []byte, h *Have) bool {
	n, b, ok := cborwire.ReadArray(b, 2)
	if !ok || n != 2 {
		return false
	}
	if h.Upgrade, b, ok = journal.ReadUpgrade(b); !ok {
		return false
	}
	if len(b) == 1 && b[0] == cborwire.Null {
		return true
	}
	h.Push = new(Data)
	b, ok = readData(b, h.Push)
	return ok && len(b) == 0
}

// readData reads a data message's body from the front of b and returns
// what follows it. Every page is a copy of its own, as the general decoder
// makes it.
func readData(b []byte, d *Data) (rest []byte, ok bool) {
	n, b, ok := cborwire.ReadArray(b, 5)
	if !ok || n != 5 {
		return nil, false
	}
	if d.Key, b, ok = cborwire.ReadCopy(b); !ok {
		return nil, false
	}
	if d.Start, b, ok = cborwire.ReadUint(b); !ok {
		return nil, false
	}
	if d.Length, b, ok = cborwire.ReadUint(b); !ok {
		return nil, false
	}
	if n, b, ok = cborwire.ReadArray(b, MaxDataPages); !ok {
		return nil, false
	}
	d.Pages = make([][]byte, n)
	for i := range d.Pages {
		if d.Pages[i], b, ok = cborwire.ReadCopy(b); !ok {
			return nil, false
		}
	}
	if d.Proof, b, ok = journal.ReadRangeProof(b); !ok {
		return nil, false
	}
	return b, true
}
