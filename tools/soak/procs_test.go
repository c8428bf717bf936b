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
	RSS int64   // resident bytes
	CPU float64 // CPU seconds since each process started
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
}

func startSampler(every time.Duration) *sampler {
	s := &sampler{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{}), marks: make(map[string]time.Time)}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take()
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

// take records one sample.
func (s *sampler) take() {
	smp := sample{At: time.Since(s.start), Groups: groupUsage(os.Getpid())}
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() == metrics.KindUint64 {
		smp.Heap = int64(m[0].Value.Uint64())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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

// groupUsage sums the usage of root and its descendants by group:
// "soak" for root, "chromium" for Chromium's processes; spinning burners
// ("sh") and other helpers are left out.
func groupUsage(root int) map[string]usage {
	ents, _ := os.ReadDir("/proc")
	children := make(map[int][]proc)
	var self proc
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
			self = p
		}
		children[p.ppid] = append(children[p.ppid], p)
	}
	out := map[string]usage{"soak": {RSS: self.rss, CPU: self.cpu}}
	queue := slices.Clone(children[root])
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p.pid]...)
		if strings.HasPrefix(p.comm, "chrom") {
			u := out["chromium"]
			u.RSS += p.rss
			u.CPU += p.cpu
			out["chromium"] = u
		}
	}
	return out
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

// peak is the largest RSS of a group over all samples.
func (s *sampler) peak(group string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for _, x := range s.samples {
		m = max(m, x.Groups[group].RSS)
	}
	return m
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
	mem := []series{{"soak RSS", "#1f77b4", nil}, {"chromium RSS", "#d62728", nil}, {"soak live heap", "#2ca02c", nil}}
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
