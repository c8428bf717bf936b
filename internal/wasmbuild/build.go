// Package wasmbuild builds the browser module (./wasm/cmd/taskmessenger
// for js/wasm) the one way `make wasm`, the end-to-end tests and
// tools/wasmsize all use: the Go flags, then PackData.
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
	args := []string{"build", "-trimpath", "-ldflags=" + ldflags, "-o", out, pkg}
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
