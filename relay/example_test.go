package relay_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

func Example() {
	srv := relay.NewServer(nil, relay.DefaultLimits())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")

	ctx := context.Background()
	ana, err := relay.Dial(ctx, url, identity.New(identity.Seed{1}))
	if err != nil {
		panic(err)
	}
	defer ana.Close()
	bob, err := relay.Dial(ctx, url, identity.New(identity.Seed{2}))
	if err != nil {
		panic(err)
	}
	defer bob.Close()

	ana.Watch(ctx, bob.ID())
	ev := <-ana.Events()
	fmt.Println("bob online:", ev.Online)

	ana.Send(ctx, bob.ID(), relay.KindSignal, []byte("offer"))
	ev = <-bob.Events()
	fmt.Println(ev.From == ana.ID(), ev.Kind == relay.KindSignal, string(ev.Payload))

	bob.Close()
	ev = <-ana.Events()
	fmt.Println("bob online:", ev.Online)
	// Output:
	// bob online: true
	// true true offer
	// bob online: false
}

// The bytes a client signs to register with the relay at
// ws://127.0.0.1:8080/relay: bound to that relay's host.
func ExampleHelloMessage() {
	host, err := relay.ParseHost("127.0.0.1:8080")
	if err != nil {
		panic(err)
	}
	nonce := make([]byte, 32) // the relay's challenge
	nonce[31] = 1
	fmt.Printf("%q\n", relay.HelloMessage(host, nonce))
	// Output:
	// "taskmessenger/relay/v2\n127.0.0.1:8080\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
}

func ExampleParseHost() {
	for _, s := range []string{"LocalHost:8080", "[0:0::1]:8080", "relay.example.com", "evil.example/x"} {
		h, err := relay.ParseHost(s)
		fmt.Println(h, err)
	}
	// Output:
	// localhost:8080 <nil>
	// [::1]:8080 <nil>
	// relay.example.com <nil>
	//  relay: bad host "evil.example/x": not a host name
}
