//go:build !js

package boltstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/task-messenger/task-messenger/relay/mirror/boltstore"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// A batch written with a condition, then read back after a restart.
func Example() {
	dir, err := os.MkdirTemp("", "mirror")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mirror.db")
	ctx := context.Background()

	s, err := boltstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	var b store.Batch
	b.Expect(store.TableBooks, []byte("book"), nil) // only if the book is new
	b.Put(store.TableBooks, []byte("book"), []byte("record 1"))
	b.Put(store.TablePages, []byte("book/0"), []byte("ciphertext"))
	if err := s.Write(ctx, &b); err != nil {
		log.Fatal(err)
	}
	fmt.Println("again:", s.Write(ctx, &b))
	s.Close()

	s, err = boltstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	rec, _ := store.GetOne(ctx, s, store.TableBooks, []byte("book"))
	fmt.Printf("%s\n", rec)
	// Output:
	// again: store: conflict: a key does not hold the value expected: table books key 626f6f6b was expected absent
	// record 1
}
