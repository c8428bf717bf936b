package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `goos: linux
pkg: github.com/x/y/wasm/journal
BenchmarkAppendSingle-2   	   38390	     31257 ns/op	  32.76 MB/s	     31993 pages/s	    4478 B/op	      36 allocs/op
BenchmarkProof1M-2        	   47758	     25221 ns/op	        20.00 hashes	    6117 B/op	      44 allocs/op
PASS
`
	rows, units, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	write(&out, rows, units)
	want := `| package | benchmark | ns/op | MB/s | pages/s | B/op | allocs/op | hashes |
|---|---|---:|---:|---:|---:|---:|---:|
| journal | AppendSingle | 31257 | 32.76 | 31993 | 4478 | 36 |  |
| journal | Proof1M | 25221 |  |  | 6117 | 44 | 20.00 |
`
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}
