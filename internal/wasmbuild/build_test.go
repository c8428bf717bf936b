package wasmbuild

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInlinedPatternsMatch checks that every pattern of Inlined names at
// least one package the module links, so that a package renamed or
// moved does not silently lose its inlining.
func TestInlinedPatternsMatch(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", Package)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, p := range Inlined {
		if !matchesAny(p, deps) {
			t.Errorf("Inlined pattern %q matches no package of the module", p)
		}
	}
}

// matchesAny reports whether the go build pattern p (a path, or a path
// ending in /... for it and everything below) names one of pkgs.
func matchesAny(p string, pkgs []string) bool {
	base, tree := strings.CutSuffix(p, "/...")
	for _, q := range pkgs {
		if q == base || tree && strings.HasPrefix(q, base+"/") {
			return true
		}
	}
	return false
}

func TestMatchesAny(t *testing.T) {
	pkgs := []string{"runtime", "crypto/sha256", "example.com/a/b"}
	for p, want := range map[string]bool{
		"runtime/...": true, "runtime": true, "crypto/...": true, "crypto": false,
		"example.com/a/...": true, "example.com/a": false, "example.com/ab/...": false,
	} {
		if got := matchesAny(p, pkgs); got != want {
			t.Errorf("matchesAny(%q) = %v, want %v", p, got, want)
		}
	}
}
