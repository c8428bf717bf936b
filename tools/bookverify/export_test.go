package bookverify_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/tools/bookverify"
)

// TestVerifyExport: a profile's export verifies whole; a tampered page, a
// forged head or a false author does not.
func TestVerifyExport(t *testing.T) {
	ana, bob := openDB(t, 1), openDB(t, 2)
	grownBook(t, ana, "notes", 9, nil)
	bobs, _ := grownBook(t, bob, bob.ID().String()+"-x", 4, []byte("m"))
	rep, _ := ana.ReaderFrom(ctx, bobs.Key(), bob.ID())
	up, _ := bobs.MakeUpgrade(ctx, 0)
	if _, err := rep.AcceptHead(ctx, up); err != nil {
		t.Fatal(err)
	}
	ex, err := ana.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(ex)
	books, err := bookverify.VerifyExport(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != 3 {
		t.Fatalf("%d books verified, want the audit book, notes and Bob's head", len(books))
	}

	for name, tc := range map[string]struct {
		tamper func(e map[string]any)
		want   error
	}{
		"page":   {func(e map[string]any) { flipLast(e, "pages") }, bookverify.ErrProof},
		"head":   {func(e map[string]any) { flipLast(e, "head") }, bookverify.ErrSignature},
		"author": {func(e map[string]any) { book(e)["author"] = bob.ID().String() }, bookverify.ErrGenesis},
	} {
		var e map[string]any
		json.Unmarshal(js, &e)
		tc.tamper(e)
		bad, _ := json.Marshal(e)
		if _, err := bookverify.VerifyExport(bad); !errors.Is(err, tc.want) {
			t.Errorf("%s tampered: %v, want %v", name, err, tc.want)
		}
	}
}

// book returns the export's book with the most pages.
func book(e map[string]any) map[string]any {
	var best map[string]any
	for _, b := range e["books"].([]any) {
		b := b.(map[string]any)
		if best == nil || len(b["pages"].([]any)) > len(best["pages"].([]any)) {
			best = b
		}
	}
	return best
}

// flipLast flips a bit of the last byte of the book's head, or of its
// last page.
func flipLast(e map[string]any, field string) {
	b := book(e)
	var s *string
	if field == "head" {
		v := b["head"].(string)
		s = &v
		defer func() { b["head"] = *s }()
	} else {
		ps := b["pages"].([]any)
		v := ps[len(ps)-1].(string)
		s = &v
		defer func() { ps[len(ps)-1] = *s }()
	}
	raw := decode64(*s)
	raw[len(raw)-1] ^= 1
	*s = encode64(raw)
}

func decode64(s string) []byte {
	var b []byte
	json.Unmarshal([]byte(`"`+s+`"`), &b)
	return b
}

func encode64(b []byte) string {
	j, _ := json.Marshal(b)
	return string(j[1 : len(j)-1])
}
