//go:build !js

package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// The messages, binary, each starting with its op and the sending node's
// name (16 hex digits); on tm.relay.dir, then the node's sequence number
// of the message (each node numbers its directory messages 1, 2, 3 …, so
// a receiver that misses one asks for the node's whole list):
//
//	tm.relay.dir  registered    op 1, node, seq, id (32), at (int64)
//	              unregistered  op 2, node, seq, id (32), at (int64)
//	              sync          op 3, node, seq, epoch (uint64), last (0/1), n (uint32), n × (id, at)
//	              heartbeat     op 6, node, seq, peers (uint32), leaving (0/1), URL (the rest)
//	tm.relay.to.  send          op 4, node, from (32), to (32), from's session stamp (int64), kind (1), payload (the rest)
//	              undelivered   op 5, node, sender (32), about (32), code length (1), code, detail (the rest)
//
// Integers are big-endian, seq a uint64. A message breaking these forms or
// the bounds (maxPayload, syncPart, maxDetail, maxURL) does not decode.
const (
	opRegistered   = 1
	opUnregistered = 2
	opSync         = 3
	opSend         = 4
	opUndelivered  = 5
	opHeartbeat    = 6
)

const (
	nameSize   = 16
	headSize   = 1 + nameSize
	entrySize  = identity.IDSize + 8
	maxPayload = relay.MaxFrameSize
	maxDetail  = 256
	maxURL     = 512
)

var errShort = errors.New("cluster: message too short")

func head(op byte, node string, n int) []byte {
	b := make([]byte, 0, headSize+n)
	b = append(b, op)
	return append(b, node...)
}

// dirHead is a directory message's head, seq left zero (setSeq).
func dirHead(op byte, node string, n int) []byte {
	return append(head(op, node, 8+n), make([]byte, 8)...)
}

// setSeq numbers a directory message.
func setSeq(b []byte, seq uint64) { binary.BigEndian.PutUint64(b[headSize:], seq) }

func encodeSession(op byte, node string, id identity.ID, at int64) []byte {
	b := dirHead(op, node, entrySize)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(at))
}

func encodeSync(node string, epoch uint64, peers []relay.RemotePeer, last bool) []byte {
	b := dirHead(opSync, node, 13+len(peers)*entrySize)
	b = binary.BigEndian.AppendUint64(b, epoch)
	if last {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(peers)))
	for _, p := range peers {
		b = append(b, p.ID[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(p.At))
	}
	return b
}

func encodeHeartbeat(node string, peers int, leaving bool, url string) []byte {
	url = clip(url, maxURL)
	b := dirHead(opHeartbeat, node, 5+len(url))
	b = binary.BigEndian.AppendUint32(b, uint32(min(peers, math.MaxUint32)))
	if leaving {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return append(b, url...)
}

func encodeSend(node string, from identity.ID, fromAt int64, to identity.ID, kind relay.Kind, payload []byte) []byte {
	b := head(opSend, node, 2*identity.IDSize+9+len(payload))
	b = append(b, from[:]...)
	b = append(b, to[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(fromAt))
	b = append(b, byte(kind))
	return append(b, payload...)
}

func encodeUndelivered(node string, sender, about identity.ID, code, detail string) []byte {
	code, detail = clip(code, 64), clip(detail, maxDetail)
	b := head(opUndelivered, node, 2*identity.IDSize+1+len(code)+len(detail))
	b = append(b, sender[:]...)
	b = append(b, about[:]...)
	b = append(b, byte(len(code)))
	b = append(b, code...)
	return append(b, detail...)
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// A dirMsg is a decoded tm.relay.dir message.
type dirMsg struct {
	op    byte
	node  string
	seq   uint64
	id    identity.ID // registered, unregistered
	at    int64
	epoch uint64 // sync
	last  bool
	peers []relay.RemotePeer
	// heartbeat
	count   int
	leaving bool
	url     string
}

// readHead checks a message's op (one of ops) and node name.
func readHead(b []byte, ops ...byte) (byte, string, []byte, error) {
	if len(b) < headSize {
		return 0, "", nil, errShort
	}
	op, node := b[0], string(b[1:headSize])
	ok := false
	for _, o := range ops {
		ok = ok || op == o
	}
	switch {
	case !ok:
		return 0, "", nil, fmt.Errorf("cluster: unknown op %d", op)
	case !validName(node):
		return 0, "", nil, errors.New("cluster: bad node name")
	}
	return op, node, b[headSize:], nil
}

func decodeDir(b []byte) (*dirMsg, error) {
	op, node, rest, err := readHead(b, opRegistered, opUnregistered, opSync, opHeartbeat)
	if err != nil {
		return nil, err
	}
	if len(rest) < 8 {
		return nil, errShort
	}
	d := &dirMsg{op: op, node: node, seq: binary.BigEndian.Uint64(rest)}
	rest = rest[8:]
	switch op {
	case opHeartbeat:
		return d, d.heartbeat(rest)
	case opRegistered, opUnregistered:
		if len(rest) != entrySize {
			return nil, fmt.Errorf("cluster: session message of %d bytes", len(b))
		}
		copy(d.id[:], rest)
		d.at = int64(binary.BigEndian.Uint64(rest[identity.IDSize:]))
		return d, nil
	}
	return d, d.sync(rest)
}

func (d *dirMsg) heartbeat(rest []byte) error {
	if len(rest) < 5 || len(rest)-5 > maxURL || rest[4] > 1 || !utf8.Valid(rest[5:]) {
		return errors.New("cluster: bad heartbeat")
	}
	d.count = int(binary.BigEndian.Uint32(rest))
	d.leaving = rest[4] == 1
	d.url = string(rest[5:])
	return nil
}

func (d *dirMsg) sync(rest []byte) error {
	if len(rest) < 13 {
		return errShort
	}
	d.epoch = binary.BigEndian.Uint64(rest)
	switch rest[8] {
	case 0:
	case 1:
		d.last = true
	default:
		return errors.New("cluster: bad sync flag")
	}
	n := binary.BigEndian.Uint32(rest[9:])
	rest = rest[13:]
	if n > syncPart || len(rest) != int(n)*entrySize {
		return fmt.Errorf("cluster: sync of %d sessions in %d bytes", n, len(rest))
	}
	d.peers = make([]relay.RemotePeer, n)
	for i := range d.peers {
		e := rest[i*entrySize:]
		copy(d.peers[i].ID[:], e)
		d.peers[i].At = int64(binary.BigEndian.Uint64(e[identity.IDSize:]))
	}
	return nil
}

// A toMsg is a decoded tm.relay.to.<node> message.
type toMsg struct {
	op           byte
	node         string // the node that sent it
	from, to     identity.ID
	fromAt       int64 // send: the sender's session stamp
	kind         relay.Kind
	payload      []byte
	code, detail string
}

func decodeTo(b []byte) (*toMsg, error) {
	op, node, rest, err := readHead(b, opSend, opUndelivered)
	if err != nil {
		return nil, err
	}
	if len(rest) < 2*identity.IDSize+1 {
		return nil, errShort
	}
	t := &toMsg{op: op, node: node}
	copy(t.from[:], rest)
	copy(t.to[:], rest[identity.IDSize:])
	rest = rest[2*identity.IDSize:]
	if op == opSend {
		if len(rest) < 9 {
			return nil, errShort
		}
		t.fromAt = int64(binary.BigEndian.Uint64(rest))
		t.kind = relay.Kind(rest[8])
		t.payload = rest[9:]
		if t.kind != relay.KindSignal && t.kind != relay.KindFrame {
			return nil, fmt.Errorf("cluster: send of kind %d", t.kind)
		}
		if len(t.payload) > maxPayload {
			return nil, fmt.Errorf("cluster: send of %d bytes", len(t.payload))
		}
		return t, nil
	}
	n := int(rest[0])
	rest = rest[1:]
	if n > len(rest) || len(rest)-n > maxDetail {
		return nil, errors.New("cluster: bad undelivered message")
	}
	t.code, t.detail = string(rest[:n]), string(rest[n:])
	if t.code != relay.CodeOffline && t.code != relay.CodeLimit || !utf8.ValidString(t.detail) {
		return nil, errors.New("cluster: bad undelivered message")
	}
	return t, nil
}
