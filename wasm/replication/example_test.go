package replication_test

import (
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/replication"
)

// Two peers speak the highest version both offer; a hello without an
// offer (a version-1 peer's) offers version 1 alone.
func ExampleAgree() {
	v2 := replication.Offer{Versions: 0b11, Caps: replication.CapServe}
	old := (&replication.Hello{Full: true}).Offer()
	fmt.Println(replication.Agree(v2, v2), replication.Agree(v2, old))

	hello := &replication.Hello{Full: true}
	hello.AddOffer(v2)
	msg, _ := replication.Encode(replication.TypeHello, hello)
	fmt.Printf("%x\n", msg)
	// Output:
	// 2 1
	// 83010182f5818248ff746d2d766572731a00010003
}
