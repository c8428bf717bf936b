package held_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

// TestRelease: a release of many books goes in messages of at most
// MaxReleaseBooks books that each fit a client message and decode back.
func TestRelease(t *testing.T) {
	var books []identity.ID
	for i := range 100 {
		books = append(books, identity.New(identity.Seed{byte(i), 7}).ID())
	}
	msgs := held.EncodeRelease(books)
	if len(msgs) != 3 {
		t.Fatalf("%d messages for 100 books, want 3", len(msgs))
	}
	var got []identity.ID
	for _, b := range msgs {
		if len(b) > held.MaxClientMessage {
			t.Fatalf("a release of %d bytes, at most %d", len(b), held.MaxClientMessage)
		}
		msg, err := held.DecodeClient(b)
		if err != nil || msg.Type != held.TypeRelease || msg.Verify(books[0]) != nil {
			t.Fatalf("DecodeClient: %+v, %v", msg, err)
		}
		got = append(got, msg.Books...)
	}
	if !slices.Equal(got, books) {
		t.Fatal("the books released are not the books given")
	}
	if held.EncodeRelease(nil) != nil {
		t.Fatal("a release of no book makes a message")
	}
	for _, bad := range []string{`{"v":1,"type":"release"}`, `{"v":1,"type":"release","books":[]}`, `{"v":1,"type":"release","books":["x"]}`} {
		if _, err := held.DecodeClient([]byte(bad)); !errors.Is(err, held.ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", bad, err)
		}
	}
}
