// Package wasmbuild builds the browser module (./wasm/cmd/taskmessenger
// for js/wasm) the one way `make wasm`, the end-to-end tests and
// tools/wasmsize all use: the Go flags (inlining only where it pays,
// Inlined), then PackData.
package wasmbuild

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Package is the module's main package.
const Package = "./wasm/cmd/taskmessenger"

// PackGap is PackData's gap for the module: zero runs shorter than this
// are written out (under gzip, gaps from 64 bytes to 4 KiB were the same
// within 0.1 %).
const PackGap = 1024

// Inlined are the packages (go build patterns) compiled with inlining;
// every other package of the module is compiled without it (-l). In a
// wasm module an inlined call costs more than its code: each inlined body
// adds to the PC-value tables the runtime keeps for stacks and the garbage
// collector (277 KB of the module's 2.79 MB gzip with inlining everywhere,
// 104 KB with none). Without inlining elsewhere the module is 10 % smaller
// under gzip (2.79 → 2.51 MB) and its code 4 % smaller, with catch-up no
// slower (docs/benchmarks.md, "Module size"). Kept inlined: what runs per
// byte or per page — the runtime and its internals, sync, the hashes and
// signatures, the journal (its trees and proofs) and its B-tree.
var Inlined = []string{
	"runtime/...",
	"internal/...",
	"sync/...",
	"math/bits",
	"encoding/binary",
	"hash/...",
	"crypto/...",
	"golang.org/x/crypto/...",
	"filippo.io/edwards25519/...",
	"github.com/gtank/ristretto255/...",
	"github.com/tidwall/btree",
	"github.com/task-messenger/task-messenger/wasm/journal/...",
}

// gcflags are the compiler's flags for the module: no inlining but in
// Inlined (for a package, the last pattern that matches it wins).
func gcflags() []string {
	f := []string{"-gcflags=all=-l"}
	for _, p := range Inlined {
		f = append(f, "-gcflags="+p+"=")
	}
	return f
}

// Options says how to build.
type Options struct {
	// Names keeps the function names (the name section), for CPU
	// profiles and tools/wasmsize; the module served has none.
	Names bool
	// Package is the main package to build; Package if empty.
	Package string
}

// Build builds the module of the repository at root into out.
func Build(root, out string, o Options) error {
	ldflags := "-s -w"
	if o.Names {
		ldflags = "-w"
	}
	pkg := o.Package
	if pkg == "" {
		pkg = Package
	}
	args := append([]string{"build", "-trimpath", "-ldflags=" + ldflags}, gcflags()...)
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOOS=js GOARCH=wasm go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	packed, err := PackData(raw, PackGap)
	if err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	return os.WriteFile(out, packed, 0o644)
}
