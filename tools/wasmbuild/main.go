// Command wasmbuild builds the browser module as `make wasm` ships it
// (internal/wasmbuild): the Go build, then its data segments packed.
//
//	go run ./tools/wasmbuild [-names] -o static/taskmessenger.wasm
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/task-messenger/task-messenger/internal/wasmbuild"
)

func main() {
	out := flag.String("o", "", "the module's file (required)")
	names := flag.Bool("names", false, "keep the function names (for profiles)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: wasmbuild [-names] -o FILE")
		os.Exit(2)
	}
	if err := wasmbuild.Build(".", *out, wasmbuild.Options{Names: *names}); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbuild:", err)
		os.Exit(1)
	}
}
