package vault_test

import (
	"context"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// stores is an Opener over memory stores that outlive a Close, like
// IndexedDB databases outlive a page.
type stores map[string]*store.Memory

func (s stores) open(_ context.Context, name string) (store.Store, error) {
	if _, ok := s[name]; !ok {
		s[name] = store.NewMemory()
	}
	return keepOpen{s[name]}, nil
}

type keepOpen struct{ *store.Memory }

func (keepOpen) Close() error { return nil }

func TestProfiles(t *testing.T) {
	ctx := context.Background()
	all := stores{}
	ana, err := vault.Open(ctx, "ana", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ana.DB.Author(ctx, "notes", nil)
	b.Append(ctx, []byte(`"hi"`))
	bob, err := vault.Open(ctx, "bob", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bob.ID == ana.ID {
		t.Fatal("two profiles got the same id")
	}
	again, err := vault.Open(ctx, "ana", all.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != ana.ID {
		t.Fatal("reopened profile has another id")
	}
	b2, err := again.DB.Author(ctx, "notes", nil)
	if err != nil || b2.Len() != 2 || b2.Key() != b.Key() {
		t.Fatalf("reopened profile lost its book: %v", err)
	}
	if infos, _ := bob.DB.Books(ctx); len(infos) != 1 {
		t.Fatalf("bob sees %d books, want only his audit book", len(infos))
	}
	for _, bad := range []string{"", "Ana", "a b", "../x", string(make([]byte, 65))} {
		if _, err := vault.Open(ctx, bad, all.open, nil); !errors.Is(err, vault.ErrBadName) {
			t.Errorf("Open(%q): %v, want ErrBadName", bad, err)
		}
	}
}
