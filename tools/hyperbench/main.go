// Command hyperbench measures hypercore 10 and our journal side by side, in
// one run on one machine: bench.js (node, hypercore with RAM storage, 1 KiB
// pages) and the Go benchmarks that measure the same four figures, in
// alternating rounds. It prints, under "pkg: hypercore", one benchmark line
// per figure for tools/benchtable: our median, hypercore's median, and
// their ratio "×hypercore" (ours / hypercore for rates, hypercore / ours
// for latencies: above 1 means we are ahead).
//
// Run it from the repository root, after `npm ci --prefix tools/hyperbench`
// (`make bench` does both):
//
//	go run ./tools/hyperbench [-rounds 3] [-benchtime 1s]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A figure is one measurement taken on both sides.
type figure struct {
	bench  string // our Go benchmark, without "Benchmark"
	metric string // the unit of its metric compared
	node   string // bench.js's field with hypercore's value
	lower  bool   // lower is better (a latency)
}

var figures = []figure{
	{"AppendSingle", "pages/s", "appendSingle", false},
	{"AppendBatch100", "pages/s", "appendBatch100", false},
	{"Replicate", "pages/s", "replicate", false},
	{"AppendToReader", "p50-ms", "appendToReaderP50", true},
}

// goPackages hold the benchmarks of figures.
var goPackages = []string{"./wasm/journal/", "./wasm/replication/"}

func main() {
	rounds := flag.Int("rounds", 3, "alternating rounds of hypercore and ours; medians are reported")
	benchtime := flag.String("benchtime", "1s", "go test's -benchtime for our side; bench.js runs each figure as long (1s when it is a count, e.g. 100x)")
	dir := flag.String("dir", "tools/hyperbench", "the directory of bench.js and its node_modules")
	flag.Parse()
	if err := run(os.Stdout, *rounds, *benchtime, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "hyperbench:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, rounds int, benchtime string, dir string) error {
	secs := time.Second
	if d, err := time.ParseDuration(benchtime); err == nil {
		secs = d
	}
	ours := make(map[string][]float64)
	theirs := make(map[string][]float64)
	for range rounds {
		h, err := runNode(dir, secs)
		if err != nil {
			return err
		}
		o, err := runGo(benchtime)
		if err != nil {
			return err
		}
		for _, f := range figures {
			if _, ok := h[f.node]; !ok {
				return fmt.Errorf("bench.js did not report %s", f.node)
			}
			if _, ok := o[f.bench]; !ok {
				return fmt.Errorf("Benchmark%s did not report %s", f.bench, f.metric)
			}
			theirs[f.bench] = append(theirs[f.bench], h[f.node])
			ours[f.bench] = append(ours[f.bench], o[f.bench])
		}
	}
	printFigures(w, rounds, ours, theirs)
	return nil
}

// printFigures prints each figure's medians and ratio as a benchmark line.
func printFigures(w io.Writer, rounds int, ours, theirs map[string][]float64) {
	fmt.Fprintln(w, "pkg: hypercore")
	for _, f := range figures {
		us, them := median(ours[f.bench]), median(theirs[f.bench])
		ratio := us / them
		if f.lower {
			ratio = them / us
		}
		fmt.Fprintf(w, "Benchmark%s\t%d\t%s %s\t%s hypercore-%s\t%.3g ×hypercore\n", f.bench, rounds, num(us), f.metric, num(them), f.metric, ratio)
	}
}

// runNode runs bench.js once and returns the figures it prints as JSON.
func runNode(dir string, benchtime time.Duration) (map[string]float64, error) {
	cmd := exec.Command("node", "bench.js", strconv.FormatFloat(benchtime.Seconds(), 'f', -1, 64))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node bench.js: %w", err)
	}
	var m map[string]float64
	if err := json.Unmarshal(bytes.TrimSpace(out), &m); err != nil {
		return nil, fmt.Errorf("node bench.js printed %q: %w", out, err)
	}
	return m, nil
}

// runGo runs our benchmarks of figures once and returns each one's metric.
func runGo(benchtime string) (map[string]float64, error) {
	names := make([]string, len(figures))
	for i, f := range figures {
		names[i] = f.bench
	}
	args := []string{"test", "-run", "^$", "-bench", "^Benchmark(" + strings.Join(names, "|") + ")$", "-benchtime", benchtime}
	cmd := exec.Command("go", append(args, goPackages...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	return parseBench(out), nil
}

// parseBench reads benchmark lines and returns, per figure, its metric.
func parseBench(out []byte) map[string]float64 {
	m := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		i := slices.IndexFunc(figures, func(fg figure) bool { return fg.bench == name })
		if i < 0 {
			continue
		}
		for j := 2; j+1 < len(f); j += 2 {
			if f[j+1] == figures[i].metric {
				if v, err := strconv.ParseFloat(f[j], 64); err == nil {
					m[name] = v
				}
			}
		}
	}
	return m
}

// num formats a figure: whole numbers from 100 up, 3 digits below.
func num(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
