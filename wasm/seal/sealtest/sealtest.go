// Package sealtest helps tests and benchmarks seal books as the room
// does, without a room.
package sealtest

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/seal"
)

// BookSealer returns a journal.Sealer that seals every page under a key
// of its book (a fixed secret, epoch 1), derived once per book as the
// room's key cache does. Not safe for appends to several books at once.
func BookSealer(tb testing.TB) func(key identity.ID, name string, index uint64, page []byte) ([]byte, error) {
	secret := make([]byte, seal.KeySize)
	keys := make(map[identity.ID]*seal.Key)
	return func(key identity.ID, _ string, index uint64, page []byte) ([]byte, error) {
		k := keys[key]
		if k == nil {
			var err error
			if k, err = seal.BookKey(secret, 1, key); err != nil {
				tb.Fatal(err)
			}
			keys[key] = k
		}
		return k.Seal(index, page)
	}
}
