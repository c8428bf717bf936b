package pairing_test

import (
	"context"
	"fmt"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/pairing"
	"github.com/task-messenger/task-messenger/wasm/port"
)

func ExampleParseCode() {
	c, err := pairing.ParseCode("TML1 YBND RFG8 EJKM CPQX")
	fmt.Println(c, err)
	_, err = pairing.ParseCode("tml1-ybnd-rfg8-ejkm-cpq0")
	fmt.Println(err)
	_, err = pairing.ParseCode("tml1-ybnd-rfg8-ejkm-cpq")
	fmt.Println(err)
	// Output:
	// tml1-ybnd-rfg8-ejkm-cpqx <nil>
	// pairing: not a pairing code: '0' at position 24 is not a character of pairing codes (they have no 0, 2, l or v)
	// pairing: not a pairing code: 15 characters after "tml1", want 16 (4 groups of 4): one is missing or extra
}

// The showing device serves its offer on the port the new device opened to
// the rendezvous; the new device claims with the code it was shown.
func ExampleOffer() {
	ctx := context.Background()
	offer, _ := pairing.NewOffer(time.Now())
	code, _ := pairing.ParseCode(offer.Code.String()) // typed on the new device

	newDevice := identity.New(identity.Seed{7}).ID()
	rendezvous := code.Rendezvous().ID()
	claimEnd, serveEnd := port.Pipe(newDevice, rendezvous, 8) // a relay port in the app
	defer claimEnd.Close()

	served := make(chan error, 1)
	go func() {
		served <- offer.Serve(ctx, serveEnd, rendezvous, newDevice, func(_ context.Context, r pairing.Request) ([]byte, error) {
			return []byte("certificate and tasks for " + r.Label), nil
		})
	}()
	bundle, err := pairing.Claim(ctx, claimEnd, code, newDevice, rendezvous, pairing.Request{Device: newDevice, Label: "laptop"})
	fmt.Printf("%s %v %v\n", bundle, err, <-served)

	// The code is spent: a second claim is told so.
	claimEnd, serveEnd = port.Pipe(newDevice, rendezvous, 8)
	defer claimEnd.Close()
	go func() { served <- offer.Serve(ctx, serveEnd, rendezvous, newDevice, nil) }()
	_, err = pairing.Claim(ctx, claimEnd, code, newDevice, rendezvous, pairing.Request{Device: newDevice, Label: "again"})
	fmt.Println(err)
	fmt.Println(<-served)
	// Output:
	// certificate and tasks for laptop <nil> <nil>
	// pairing: code already used: a device was already linked with it; make a new code
	// pairing: code already used: a device was linked with it
}
