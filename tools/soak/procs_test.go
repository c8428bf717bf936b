//go:build !js

package soak

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// every Linux the soak runs on).
const clockTicks = 100

// A usage is what a group of processes used at one moment.
type usage struct {
	RSS int64   // their proportional set size (pss), bytes, read every pssEvery samples
	CPU float64 // CPU seconds, summed since the sampler first saw each
}

// A sample is the usage of each group (this process as "soak", its
// Chromium descendants as "chromium") and this process's Go heap.
type sample struct {
	At     time.Duration // from the sampler's start
	Groups map[string]usage
	Heap   int64 // live heap objects' bytes, at the last GC
}

// A sampler reads /proc every interval: this process and its descendants
// (the soak's burners left out: they are the load, not the system).
type sampler struct {
	start time.Time // immutable
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples []sample             // guarded by mu
	marks   map[string]time.Time // guarded by mu: named moments, for the plot
	cpu     map[int]float64      // guarded by mu: each process's CPU seconds when last sampled
}

func startSampler(every time.Duration) *sampler {
	s := &sampler{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{}), marks: make(map[string]time.Time), cpu: make(map[int]float64)}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take(false)
			select {
			case <-t.C:
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// close stops the sampler and waits for it.
func (s *sampler) close() {
	close(s.stop)
	<-s.done
}

// mark names the moment now on the plot.
func (s *sampler) mark(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks[name] = time.Now()
}

// pssEvery is how often, in samples, take reads the processes' PSS
// (smaps_rollup walks a process's page tables: read for forty Chromium
// processes every sample, it made the soak's own process look busy); the
// samples between repeat the last.
const pssEvery = 10

// take records one sample (PSS read if it is the first, every pssEvery-th
// or withPSS). A group's CPU is the sum of its processes' CPU since each
// was first seen, so it never falls when one exits (a renderer crashed).
func (s *sampler) take(withPSS bool) {
	groups := groupProcs(os.Getpid())
	smp := sample{At: time.Since(s.start), Groups: make(map[string]usage)}
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() == metrics.KindUint64 {
		smp.Heap = int64(m[0].Value.Uint64())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev map[string]usage
	if len(s.samples) > 0 {
		prev = s.samples[len(s.samples)-1].Groups
	}
	withPSS = withPSS || len(s.samples)%pssEvery == 0
	for name, ps := range groups {
		u := usage{CPU: prev[name].CPU, RSS: prev[name].RSS}
		if withPSS {
			u.RSS = 0
		}
		for _, p := range ps {
			if withPSS {
				u.RSS += pss(p)
			}
			u.CPU += max(0, p.cpu-s.cpu[p.pid])
			s.cpu[p.pid] = p.cpu
		}
		smp.Groups[name] = u
	}
	s.samples = append(s.samples, smp)
}

// last returns the newest sample.
func (s *sampler) last() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples[len(s.samples)-1]
}

// A proc is one process's line of /proc/PID/stat, what the soak needs.
type proc struct {
	pid, ppid int
	comm      string
	cpu       float64 // seconds, user + system
	rss       int64   // bytes
}

// readProc reads /proc/PID/stat; false if the process is gone.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, false
	}
	line := string(b)
	open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || close < open {
		return proc{}, false
	}
	f := strings.Fields(line[close+1:]) // f[0] is field 3, the state
	if len(f) < 22 {
		return proc{}, false
	}
	num := func(i int) int64 { n, _ := strconv.ParseInt(f[i-3], 10, 64); return n }
	return proc{pid: pid, ppid: int(num(4)), comm: line[open+1 : close],
		cpu: float64(num(14)+num(15)) / clockTicks, rss: num(24) * int64(os.Getpagesize())}, true
}

// groupProcs returns root and its descendants by group: "soak" for root,
// "chromium" for Chromium's processes; spinning burners ("sh") and other
// helpers are left out.
func groupProcs(root int) map[string][]proc {
	ents, _ := os.ReadDir("/proc")
	children := make(map[int][]proc)
	out := make(map[string][]proc)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if !ok {
			continue
		}
		if pid == root {
			out["soak"] = []proc{p}
		}
		children[p.ppid] = append(children[p.ppid], p)
	}
	queue := slices.Clone(children[root])
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p.pid]...)
		if strings.HasPrefix(p.comm, "chrom") {
			out["chromium"] = append(out["chromium"], p)
		}
	}
	return out
}

// pss is a process's proportional set size (its share of the pages it
// shares with others, such as Chromium's processes' libraries and shared
// memory), from /proc/PID/smaps_rollup; its RSS if that cannot be read.
func pss(p proc) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.pid), "smaps_rollup"))
	if err != nil {
		return p.rss
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return p.rss
}

// cpuBetween is the CPU a group used from a to b (durations since the
// start) as a share of one core; the samples nearest inside are used.
func (s *sampler) cpuBetween(group string, a, b time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.samples, func(x sample) bool { return x.At >= a })
	j := slices.IndexFunc(s.samples, func(x sample) bool { return x.At > b }) - 1
	if j == -2 {
		j = len(s.samples) - 1
	}
	if i < 0 || j <= i {
		return 0
	}
	x, y := s.samples[i], s.samples[j]
	return (y.Groups[group].CPU - x.Groups[group].CPU) / (y.At - x.At).Seconds()
}

// svg draws memory (RSS of each group, this process's live heap) and CPU
// (share of one core, per group) over time, the marks as vertical lines.
func (s *sampler) svg() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	const w, h, left, top, gap = 900, 200, 60, 30, 60
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w+left+20, 2*h+2*top+gap)
	if len(s.samples) < 2 {
		return b.String() + "</svg>\n"
	}
	end := s.samples[len(s.samples)-1].At.Seconds()
	groups := []string{"soak", "chromium"}
	type series struct {
		name, color string
		v           []float64
	}
	mem := []series{{"soak PSS", "#1f77b4", nil}, {"chromium PSS", "#d62728", nil}, {"soak live heap", "#2ca02c", nil}}
	cpu := []series{{"soak CPU", "#1f77b4", nil}, {"chromium CPU", "#d62728", nil}}
	for i, x := range s.samples {
		mem[0].v = append(mem[0].v, float64(x.Groups["soak"].RSS)/1e6)
		mem[1].v = append(mem[1].v, float64(x.Groups["chromium"].RSS)/1e6)
		mem[2].v = append(mem[2].v, float64(x.Heap)/1e6)
		for g, name := range groups {
			c := 0.0
			if i > 0 {
				p := s.samples[i-1]
				c = 100 * (x.Groups[name].CPU - p.Groups[name].CPU) / (x.At - p.At).Seconds()
			}
			cpu[g].v = append(cpu[g].v, c)
		}
	}
	panel := func(y0 int, title, unit string, ss []series) {
		hi := 1.0
		for _, sr := range ss {
			hi = max(hi, slices.Max(sr.v))
		}
		hi *= 1.1
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, y0-10, title)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, w, h)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%.0f %s</text><text x="%d" y="%d" text-anchor="end">0</text>`+"\n", left-4, y0+10, hi, unit, left-4, y0+h)
		names := slices.Collect(maps.Keys(s.marks))
		slices.SortFunc(names, func(a, b string) int { return s.marks[a].Compare(s.marks[b]) })
		for k, name := range names {
			x := left + int(float64(w)*s.marks[name].Sub(s.start).Seconds()/end)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#bbb" stroke-dasharray="3,3"/><text x="%d" y="%d" fill="#777">%s</text>`+"\n", x, y0, x, y0+h, x+2, y0+h-4-12*k, name)
		}
		for k, sr := range ss {
			var pts []string
			for i, v := range sr.v {
				x := float64(left) + float64(w)*s.samples[i].At.Seconds()/end
				y := float64(y0+h) - float64(h)*v/hi
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"/>`+"\n", sr.color, strings.Join(pts, " "))
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", left+w-200, y0+14+14*k, sr.color, sr.name)
		}
	}
	panel(top, "Memory (MB)", "MB", mem)
	panel(top+h+gap, "CPU (% of one core)", "%", cpu)
	fmt.Fprintf(&b, `<text x="%d" y="%d">seconds from the start: 0 … %.0f</text>`+"\n", left, 2*h+top+gap+20, end)
	b.WriteString("</svg>\n")
	return b.String()
}
