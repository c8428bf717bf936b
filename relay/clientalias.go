package relay

import (
	"context"

	"github.com/task-messenger/task-messenger/relay/client"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// The client lives in package relay/client, which the browser links
// without the server; these names are for the server's tests and tools.

// A Client is a connection to the relay (client.Client).
type Client = client.Client

// An Event is a frame the relay sent to the client (client.Event).
type Event = client.Event

// Dial connects to the relay at url and proves key's id (client.Dial).
func Dial(ctx context.Context, url string, key *identity.Key) (*Client, error) {
	return client.Dial(ctx, url, key)
}
