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
