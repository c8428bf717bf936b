// Command benchtable reads `go test -bench` output on stdin, echoes it to
// stderr, and prints the results as a Markdown table: one row per
// benchmark, one column per metric (ns/op, B/op, allocs/op and every
// b.ReportMetric unit).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

type row struct {
	pkg, name string
	metrics   map[string]string
}

func main() {
	rows, units, err := parse(io.TeeReader(os.Stdin, os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results in the input")
		os.Exit(1)
	}
	write(os.Stdout, rows, units)
}

// parse reads benchmark lines ("BenchmarkX-2  N  v unit  v unit ...") and
// the "pkg:" lines that say which package they belong to.
func parse(r io.Reader) ([]row, []string, error) {
	var rows []row
	var units []string
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		rw := row{pkg: pkg, name: name, metrics: map[string]string{}}
		for i := 2; i+1 < len(f); i += 2 {
			unit := f[i+1]
			rw.metrics[unit] = f[i]
			if !slices.Contains(units, unit) {
				units = append(units, unit)
			}
		}
		rows = append(rows, rw)
	}
	return rows, units, sc.Err()
}

func write(w io.Writer, rows []row, units []string) {
	fmt.Fprintf(w, "| package | benchmark | %s |\n", strings.Join(units, " | "))
	fmt.Fprintf(w, "|---|---|%s\n", strings.Repeat("---:|", len(units)))
	for _, r := range rows {
		cells := make([]string, len(units))
		for i, u := range units {
			cells[i] = r.metrics[u]
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.pkg, r.name, strings.Join(cells, " | "))
	}
}
