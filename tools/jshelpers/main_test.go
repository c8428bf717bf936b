package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedBundle fails while static/taskmessenger-helpers.js is not
// what the helpers' sources make: run `go run ./tools/jshelpers`.
func TestCommittedBundle(t *testing.T) {
	root := filepath.Join("..", "..")
	want, err := Bundle(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, Output))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the helpers' sources make: run `go run ./tools/jshelpers`", Output)
	}
}

// TestBundleRefusesStrayFiles: a helper file must hold one function named
// after it.
func TestBundleRefusesStrayFiles(t *testing.T) {
	root := t.TempDir()
	for _, d := range Sources {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "ok"+filepath.Base(filepath.Dir(d))+".js"), []byte("function ok"+filepath.Base(filepath.Dir(d))+" (a) {\n  return a\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Bundle(root); err != nil {
		t.Fatalf("a good tree: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, Sources[0], "bad.js"), []byte("alert(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Bundle(root); err == nil {
		t.Fatal("a helper file that is not a function named after it was bundled")
	}
}
