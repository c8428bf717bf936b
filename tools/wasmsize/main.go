// Command wasmsize says where the bytes of a Go WebAssembly module go: the
// code of each Go package (from the module's name section), the data
// segments, and the size of the module stripped of its custom sections
// (what `make wasm` ships, built with -ldflags='-s -w') raw, gzip -9 and
// brotli 11.
//
//	go run ./tools/wasmsize [-n 30] [-f 0] [-o module.wasm] ./wasm/cmd/taskmessenger
//
// It builds the package as `make wasm` does (internal/wasmbuild) but with
// its function names (kept in -o if given) and lists its dependencies to
// read the linker's mangled names.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/task-messenger/task-messenger/internal/wasmbuild"
)

func main() {
	top := flag.Int("n", 30, "how many packages and modules to list")
	out := flag.String("o", "", "keep the unstripped module in this file")
	funcs := flag.Int("f", 0, "also list the largest functions")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: wasmsize [-n N] [-f N] [-o FILE] PACKAGE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), *out, *top, *funcs); err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
}

// run builds pkg and reports on it.
func run(w io.Writer, pkg, out string, top, funcs int) error {
	if out == "" {
		dir, err := os.MkdirTemp("", "wasmsize")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		out = filepath.Join(dir, "module.wasm")
	}
	if err := wasmbuild.Build(".", out, wasmbuild.Options{Names: true, Package: pkg}); err != nil {
		return err
	}
	deps, err := goCmd("list", "-deps", pkg)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	return report(w, raw, strings.Fields(deps), top, funcs)
}

// goCmd runs the go command for js/wasm and returns its output.
func goCmd(args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(b), nil
}

// report prints the breakdown of the module raw, linked from pkgs.
func report(w io.Writer, raw []byte, pkgs []string, top, funcs int) error {
	m, err := parse(raw)
	if err != nil {
		return err
	}
	if len(m.names) == 0 {
		return fmt.Errorf("no function names: a module built with -ldflags=-s")
	}
	stripped := m.stripped(raw)
	gz, br := compressed(stripped)
	fmt.Fprintf(w, "module %d bytes; stripped %d bytes, gzip -9 %d, brotli 11 %d\n", len(raw), len(stripped), gz, br)
	fmt.Fprintf(w, "code %d bytes in %d functions, data %d bytes\n\n", m.codeBytes(), len(m.bodies), m.data)
	byPkg, byMod := m.byPackage(pkgs)
	list(w, "module", byMod, m.codeBytes(), top)
	fmt.Fprintln(w)
	list(w, "package", byPkg, m.codeBytes(), top)
	if funcs > 0 {
		fmt.Fprintln(w)
		list(w, "function", m.byFunction(), m.codeBytes(), funcs)
	}
	return nil
}

// list prints the top entries of sizes, largest first.
func list(w io.Writer, what string, sizes map[string]int, total, top int) {
	type entry struct {
		name string
		size int
	}
	var es []entry
	for n, s := range sizes {
		es = append(es, entry{n, s})
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].size != es[j].size {
			return es[i].size > es[j].size
		}
		return es[i].name < es[j].name
	})
	fmt.Fprintf(w, "%10s %6s  code by %s (%d)\n", "bytes", "%", what, len(es))
	for i, e := range es {
		if i == top {
			rest := 0
			for _, e := range es[i:] {
				rest += e.size
			}
			fmt.Fprintf(w, "%10d %5.1f%%  (%d more)\n", rest, pct(rest, total), len(es)-i)
			break
		}
		fmt.Fprintf(w, "%10d %5.1f%%  %s\n", e.size, pct(e.size, total), e.name)
	}
}

func pct(n, total int) float64 { return 100 * float64(n) / float64(total) }
