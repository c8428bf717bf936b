package devtools

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/room"
)

func TestTree(t *testing.T) {
	leaves := make([]tlog.Hash, 37)
	for i := range leaves {
		leaves[i] = tlog.RecordHash(fmt.Appendf(nil, "page %d", i))
	}
	// The reference: every stored hash, computed by tlog.
	var ref tree
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), l, &ref)
		if err != nil {
			t.Fatal(err)
		}
		ref.hashes = append(ref.hashes, hs...)
		ref.n++
	}
	var tr tree
	if _, err := tr.extend(1, leaves[1:3]); err == nil {
		t.Fatal("extended past a gap")
	}
	for _, end := range []int{5, 6, 20, 37} {
		root, err := tr.extend(uint64(tr.n)-uint64(min(tr.n, 2)), leaves[tr.n-min(tr.n, 2):end])
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ref.root(uint64(end))
		if root != want || tr.n != int64(end) {
			t.Fatalf("root at %d differs", end)
		}
	}
	wrong := append([]tlog.Hash(nil), leaves[30:]...)
	wrong[0][0] ^= 1
	if _, err := tr.extend(30, wrong); err == nil {
		t.Fatal("extended with a page that differs from the tree's")
	}
	tr.truncate(10)
	if r, ok := tr.root(10); !ok || tr.n != 10 || r != mustRoot(t, &ref, 10) {
		t.Fatal("truncate")
	}
	if _, ok := tr.root(11); ok {
		t.Fatal("root past the tree")
	}
}

func mustRoot(t *testing.T, tr *tree, n uint64) tlog.Hash {
	r, ok := tr.root(n)
	if !ok {
		t.Fatalf("no root at %d", n)
	}
	return r
}

func TestNameParts(t *testing.T) {
	var sa, sb identity.Seed
	sa[0], sb[0] = 1, 2
	a, b := identity.New(sa).ID().String(), identity.New(sb).ID().String()
	task := room.TaskID{9}.String()
	tests := []struct {
		name, reader, task string
	}{
		{a + "-" + b + "-" + task, b, task},
		{a + "-" + task, "", task},
		{a + "-" + b, b, ""},
		{a + "-" + b + "-notatask", b, ""},
		{"notes", "", ""},
		{a + "-x", "", ""},
	}
	for _, tc := range tests {
		r, tk := nameParts(tc.name)
		got := ""
		if !r.IsZero() {
			got = r.String()
		}
		if got != tc.reader || tk != tc.task {
			t.Errorf("%.20s…: reader %q task %q", tc.name, got, tk)
		}
	}
}
