package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestParseBench reads each figure's metric from go test output.
func TestParseBench(t *testing.T) {
	out := []byte(`pkg: github.com/task-messenger/task-messenger/wasm/journal
BenchmarkAppendSingle-2     	   10000	    220592 ns/op	   4.64 MB/s	      4533 pages/s	   10805 B/op	      35 allocs/op
BenchmarkAppendSingleParallel-2 	   10000	    2205 ns/op	      9999 pages/s
BenchmarkAppendBatch100-2   	    1026	   1174238 ns/op	     85162 pages/s
BenchmarkAppendToReader-2   	    3691	    413022 ns/op	         0.1820 p50-ms	         5.207 p99-ms
`)
	got := parseBench(out)
	want := map[string]float64{"AppendSingle": 4533, "AppendBatch100": 85162, "AppendToReader": 0.182}
	if len(got) != len(want) {
		t.Fatalf("parseBench = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestLinesForBenchtable: every line printed has a name, a count and
// value-unit pairs, the shape tools/benchtable reads.
func TestLinesForBenchtable(t *testing.T) {
	var buf bytes.Buffer
	printFigures(&buf, 3, map[string][]float64{"AppendSingle": {2, 1, 3}, "AppendBatch100": {4}, "Replicate": {9}, "AppendToReader": {0.1}},
		map[string][]float64{"AppendSingle": {1}, "AppendBatch100": {2}, "Replicate": {1}, "AppendToReader": {0.4}})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != "pkg: hypercore" || len(lines) != 1+len(figures) {
		t.Fatalf("output:\n%s", buf.String())
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
			t.Errorf("line %q is not a benchmark line", l)
		}
	}
	if !strings.Contains(lines[1], "2 pages/s\t1 hypercore-pages/s\t2 ×hypercore") {
		t.Errorf("AppendSingle: %q, want our median 2, theirs 1, ratio 2", lines[1])
	}
	if !strings.Contains(lines[4], "0.1 p50-ms\t0.4 hypercore-p50-ms\t4 ×hypercore") {
		t.Errorf("AppendToReader: %q, want a latency ratio of 4 (hypercore / ours)", lines[4])
	}
}
