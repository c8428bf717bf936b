// Command bookverify checks an export of task-messenger books (the JSON of
// app.export() or devtools' export) with the verifier of docs/format.md:
// every head's signature, every page against its head, every genesis.
//
//	bookverify export.json
//
// It prints one line per book and exits with status 1 if anything fails.
package main

import (
	"fmt"
	"os"

	"github.com/task-messenger/task-messenger/tools/bookverify"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bookverify export.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bookverify:", err)
		os.Exit(1)
	}
	books, err := bookverify.VerifyExport(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bookverify:", err)
		os.Exit(1)
	}
	for _, b := range books {
		switch {
		case b.Genesis != nil:
			fmt.Printf("%s  %d pages, verified, by %s, %q\n", bookverify.IDText(b.Head.Key), b.Head.Length, bookverify.IDText(b.Genesis.Author), b.Genesis.Name)
		default:
			fmt.Printf("%s  head of %d pages verified, pages not exported\n", bookverify.IDText(b.Head.Key), b.Head.Length)
		}
	}
}
