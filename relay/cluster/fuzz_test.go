//go:build !js

package cluster

import (
	"bytes"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

const fuzzNode = "0123456789abcdef"

// FuzzDecode: any bytes decode to a message or an error, never a panic,
// and a message decoded encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	var id identity.ID
	id[0] = 7
	for _, b := range [][]byte{
		encodeSession(opRegistered, fuzzNode, id, 42),
		encodeSync(fuzzNode, 3, []relay.RemotePeer{{ID: id, At: 5}}, true),
		encodeHeartbeat(fuzzNode, 9, false, "ws://127.0.0.1:8080/relay"),
		encodeSend(fuzzNode, id, 9, id, relay.KindFrame, []byte("payload")),
		encodeUndelivered(fuzzNode, id, id, relay.CodeOffline, "not connected"),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := decodeDir(b); err == nil {
			var again []byte
			switch d.op {
			case opRegistered, opUnregistered:
				again = encodeSession(d.op, d.node, d.id, d.at)
			case opSync:
				again = encodeSync(d.node, d.epoch, d.peers, d.last)
			case opHeartbeat:
				again = encodeHeartbeat(d.node, d.count, d.leaving, d.url)
			}
			setSeq(again, d.seq)
			if !bytes.Equal(again, b) {
				t.Fatalf("directory message %x re-encodes as %x", b, again)
			}
		}
		if m, err := decodeTo(b); err == nil {
			var again []byte
			if m.op == opSend {
				again = encodeSend(m.node, m.from, m.fromAt, m.to, m.kind, m.payload)
			} else {
				again = encodeUndelivered(m.node, m.from, m.to, m.code, m.detail)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("forwarded message %x re-encodes as %x", b, again)
			}
		}
	})
}
