package held_test

import (
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// A mirror signs that it holds a book; the author, given the message on
// the mirror's port, checks it against the mirror's id (and then the root
// against its own book's tree hash).
func Example() {
	mirror := identity.New(identity.Seed{2})
	s := held.Statement{Book: identity.New(identity.Seed{1}).ID(), Length: 5}
	s.Sign(mirror)
	msg, _ := held.Encode([]held.Statement{s})

	got, err := held.Decode(msg)
	fmt.Println(len(got), err)
	fmt.Println(got[0].Length, got[0].Verify(mirror.ID()))
	fmt.Println(got[0].Verify(identity.New(identity.Seed{3}).ID()) != nil)
	// Output:
	// 1 <nil>
	// 5 <nil>
	// true
}
